import { describe, expect, it } from 'vitest';
import { digestRuns, restorePointOf } from '../../../src/incidents/actions.ts';
import type { Run, RunState, StepRecord } from '../../../src/runs/model.ts';

const T0 = Date.parse('2026-11-25T08:00:00Z');

function run(id: string, state: RunState, steps: Record<string, StepRecord> = {}, extra: Partial<Run> = {}): Run {
  return {
    id,
    runbookId: 'restore-database-pitr',
    runbookTitle: 'Restore <the> database',
    params: {},
    requester: { id: 'U0ALICE001', name: 'alice', via: 'slack' },
    origin: { channelId: 'C1', incidentId: 'inc-1' },
    dryRun: false,
    plan: [
      { stepId: 'restore', name: 'Restore the cluster', use: 'rds.restore-pitr', with: {}, timeoutMs: 1, retries: 0, lines: [] },
      { stepId: 'health', name: 'Check health', use: 'http.check', with: {}, timeoutMs: 1, retries: 0, lines: [] },
    ],
    policy: { required: 1, users: [], groups: [], allowSelfApproval: false, expiresInMs: 1 },
    createdAt: T0,
    expiresAt: T0 + 1,
    timeoutMs: 1,
    state,
    approvals: [],
    steps,
    ...extra,
  };
}

describe('actions taken and next steps from an incident\'s runs', () => {
  it('says what each run did, escaping its text, and what to do next', () => {
    const done = run('r0000001', 'succeeded', { restore: { state: 'succeeded', attempts: 1, outputs: { restorePoint: '2026-11-25T07:30:00Z' } }, health: { state: 'succeeded', attempts: 1 } }, { startedAt: T0, finishedAt: T0 + 12 * 60_000 });
    const failed = run('r0000002', 'failed', { restore: { state: 'succeeded', attempts: 1 }, health: { state: 'failed', attempts: 3, error: 'HTTP 500 <!channel>' } }, { startedAt: T0, finishedAt: T0 + 60_000, failure: { stepId: 'health', message: 'HTTP 500 <!channel>' } });
    const waiting = run('r0000003', 'awaiting_approval');
    const { actionsTaken, nextSteps } = digestRuns([done, failed, waiting], 'identified', T0 + HOUR);
    expect(actionsTaken).toEqual([
      ':white_check_mark: *Restore &lt;the&gt; database* (`r0000001`) succeeded in 12m — restored to 2026-11-25T07:30:00Z',
      ':x: *Restore &lt;the&gt; database* (`r0000002`) failed at _Check health_: HTTP 500 &lt;!channel&gt;',
    ]);
    expect(nextSteps).toEqual([
      'Decide on the failed *Restore &lt;the&gt; database* (`r0000002`): fix the cause and run it again, or choose another runbook.',
      'Approve or reject *Restore &lt;the&gt; database* (`r0000003`), requested by <@U0ALICE001>.',
    ]);
  });

  it('shows a running run\'s current step, and leaves out dry runs, rejections and expired requests', () => {
    const running = run('r0000004', 'running', { restore: { state: 'running', attempts: 1, startedAt: T0 } }, { startedAt: T0 });
    const dry = run('r0000005', 'succeeded', {}, { dryRun: true, startedAt: T0, finishedAt: T0 });
    const rejected = run('r0000006', 'rejected');
    const expired = run('r0000007', 'expired');
    const { actionsTaken, nextSteps } = digestRuns([running, dry, rejected, expired], 'identified', T0 + 90_000);
    expect(actionsTaken).toEqual([':arrows_counterclockwise: *Restore &lt;the&gt; database* (`r0000004`) running for 1m 30s, step 1/2 (Restore the cluster)']);
    expect(nextSteps).toEqual(['Follow *Restore &lt;the&gt; database* (`r0000004`) to its end.']);
  });

  it('without runs, the next step follows the incident\'s state', () => {
    expect(digestRuns([], 'investigating', T0).nextSteps[0]).toContain('Find the cause');
    expect(digestRuns([], 'identified', T0).nextSteps[0]).toContain('Start the recovery');
    expect(digestRuns([run('r1', 'succeeded', {}, { startedAt: T0, finishedAt: T0 })], 'identified', T0).nextSteps[0]).toContain('Verify the service');
    expect(digestRuns([], 'monitoring', T0).nextSteps[0]).toContain('once stable');
    expect(digestRuns([], 'resolved', T0).nextSteps[0]).toContain('post-mortem');
  });

  it('takes the restore point from the last step that reports one', () => {
    expect(restorePointOf(run('r1', 'succeeded', { restore: { state: 'succeeded', attempts: 1, outputs: { restorePoint: '2026-11-25T07:00:00Z' } } }))).toBe('2026-11-25T07:00:00Z');
    expect(restorePointOf(run('r2', 'succeeded', { restore: { state: 'succeeded', attempts: 1, outputs: { clusterId: 'x' } } }))).toBeUndefined();
  });
});

const HOUR = 3_600_000;
