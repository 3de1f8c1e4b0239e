import { describe, expect, it } from 'vitest';
import { scenarioTargets } from '../../../src/incidents/scenarios.ts';
import { renderRecoveryMarkdown } from '../../../src/reports/markdown.ts';
import { buildRecoveryReport, isReportable } from '../../../src/reports/recovery.ts';
import type { Run, StepRecord } from '../../../src/runs/model.ts';

const T0 = Date.parse('2026-11-25T08:00:00Z');
const MIN = 60_000;
const objectives = scenarioTargets();

function run(steps: Record<string, StepRecord>, extra: Partial<Run> = {}): Run {
  return {
    id: 'r0000001',
    runbookId: 'restore-database-pitr',
    runbookTitle: 'Restore <the> database',
    scenario: 'data-corruption',
    params: { cluster: 'prod-aurora', note: '`x` | <!channel>' },
    requester: { id: 'U0ALICE001', name: 'alice', via: 'slack' },
    origin: { channelId: 'C1' },
    dryRun: false,
    plan: [
      { stepId: 'restore', name: 'Restore the cluster', use: 'rds.restore-pitr', with: {}, timeoutMs: 1, retries: 0, lines: [{ action: 'create', resource: 'cluster prod-aurora-restored', detail: 'restore from https://user:hunter2@example.com/x' }] },
      { stepId: 'repoint', name: 'Point the app at it', use: 'kube.set-env', with: {}, timeoutMs: 1, retries: 0, lines: [] },
    ],
    policy: { required: 1, users: [], groups: [], allowSelfApproval: false, expiresInMs: 1 },
    createdAt: T0,
    expiresAt: T0 + 1,
    timeoutMs: 1,
    state: 'succeeded',
    approvals: [{ by: { id: 'U0BOB00001', name: 'bob', via: 'slack' }, at: T0 + 2 * MIN }],
    steps,
    startedAt: T0 + 2 * MIN,
    finishedAt: T0 + 20 * MIN,
    ...extra,
  };
}

const restored = (point: string): Record<string, StepRecord> => ({
  restore: { state: 'succeeded', attempts: 1, startedAt: T0 + 2 * MIN, finishedAt: T0 + 15 * MIN, outputs: { restorePoint: point } },
  repoint: { state: 'succeeded', attempts: 1, startedAt: T0 + 15 * MIN, finishedAt: T0 + 20 * MIN },
});

describe('the recovery report (pure)', () => {
  it('without a health check, the recovery time runs to the end of the last main step, and says so', () => {
    const report = buildRecoveryReport(run(restored('2026-11-25T07:30:00Z')), [], { objectives, now: T0 + 21 * MIN });
    expect(report.recoveryTime).toEqual({ fromAt: T0, until: 'last-main-step', untilAt: T0 + 20 * MIN, stepId: 'repoint', achievedMs: 20 * MIN, objectiveMs: 2 * 3_600_000, withinObjective: true });
    expect(renderRecoveryMarkdown(report)).toContain('until the last main step ended (step `repoint`; the run has no health check');
  });

  it('the RPO from the restore point a restore step reported: to the request, or to the incident\'s start when the run is an incident\'s', () => {
    const alone = buildRecoveryReport(run(restored('2026-11-25T07:30:00Z')), [], { objectives, now: T0 });
    expect(alone.rpo).toEqual({ achievedMs: 30 * MIN, source: 'restore-point', restorePoint: '2026-11-25T07:30:00Z', lossAt: T0, stepId: 'restore', objectiveMs: 3_600_000, withinObjective: true });
    const ofIncident = buildRecoveryReport(run(restored('2026-11-25T06:30:00Z'), { origin: { channelId: 'C1', incidentId: 'inc-1' } }), [], { objectives, incident: { id: 'inc-1', startedAt: T0 - 10 * MIN }, now: T0 });
    expect(ofIncident.rpo).toMatchObject({ achievedMs: 80 * MIN, source: 'restore-point', lossAt: T0 - 10 * MIN, withinObjective: false });
    const md = renderRecoveryMarkdown(ofIncident);
    expect(md).toContain('| Data loss (RPO) | 1h 20m | 1h | missed |');
    expect(md).toContain("to the incident's start (2026-11-25 07:50:00 UTC)");
  });

  it('a measured RPO wins over a restore point; none known says so', () => {
    const steps = restored('2026-11-25T07:30:00Z');
    steps.repoint = { ...steps.repoint, state: 'succeeded', attempts: 1, outputs: { measuredRpoSeconds: 90 } };
    expect(buildRecoveryReport(run(steps), [], { objectives, now: T0 }).rpo).toMatchObject({ achievedMs: 90_000, source: 'measured', stepId: 'repoint' });
    const none = buildRecoveryReport(run({ restore: { state: 'succeeded', attempts: 1 }, repoint: { state: 'succeeded', attempts: 1 } }), [], { objectives, now: T0 });
    expect(none.rpo).toEqual({ objectiveMs: 3_600_000 });
    expect(renderRecoveryMarkdown(none)).toContain('| Data loss (RPO) | not known | 1h | — |');
  });

  it('escapes everything from the run and hides credentials in URLs', () => {
    const md = renderRecoveryMarkdown(buildRecoveryReport(run(restored('2026-11-25T07:30:00Z')), [{ at: T0, actor: { id: 'U0ALICE001', name: 'alice', via: 'slack' }, action: 'requested', detail: '<script>' }], { objectives, now: T0 }));
    expect(md).toContain('# Recovery report: Restore \\<the\\> database');
    expect(md).toContain('note=\\`x\\` \\| \\<\\!channel\\>');
    expect(md).not.toContain('hunter2');
    expect(md).not.toContain('<script>');
    expect(md).not.toContain('<!channel>');
  });

  it('only changing runs that started get one', () => {
    const r = run(restored('2026-11-25T07:30:00Z'));
    expect(isReportable(r)).toBe(true);
    expect(isReportable({ ...r, dryRun: true })).toBe(false);
    expect(isReportable({ ...r, policy: { ...r.policy, required: 0 } })).toBe(false);
    expect(isReportable({ ...r, state: 'cancelled', startedAt: undefined })).toBe(false);
    expect(isReportable({ ...r, state: 'running' })).toBe(false);
  });
});
