import { describe, expect, it } from 'vitest';
import { renderAudit, renderPlan, stepLine, utc } from '../../../src/cli/render.ts';
import type { PlannedStep, Run } from '../../../src/runs/model.ts';
import { plural } from '../../../src/util/text.ts';
import { runFields } from '../../support/runs.ts';

const PLACE = { target: 'drill', label: 'drill', region: 'us-west-2', clusterLabel: 'its kubeconfig' };
const step = (stepId: string, use: string): PlannedStep => ({ stepId, name: stepId, use, with: {}, timeoutMs: 60_000, retries: 0, lines: [{ action: 'wait', resource: 'run', detail: 'wait 1s' }], place: PLACE });

describe('the CLI views', () => {
  it('shows where a step acts only for steps that act on a target', () => {
    const lines = renderPlan([step('cluster', 'eks.wait-cluster'), step('settle', 'wait')], (use) => use !== 'wait');
    expect(lines).toEqual([
      '  1. cluster (eks.wait-cluster): cluster',
      '       where   drill · us-west-2 · its kubeconfig',
      '       wait    wait 1s',
      '  2. settle (wait): settle',
      '       wait    wait 1s',
    ]);
  });

  it('leaves out outputs a step gave empty (eks.wait-cluster on a kubeconfig target), and keeps the others', () => {
    const done = { state: 'succeeded' as const, attempts: 1, startedAt: 1_000, finishedAt: 1_250 };
    expect(stepLine(step('cluster', 'eks.wait-cluster'), { ...done, outputs: { cluster: '', endpoint: '' } }, 2_000)).toBe('✔ cluster succeeded in 250ms');
    expect(stepLine(step('verify', 'k8s.verify-workloads'), { ...done, outputs: { pods: 1, note: '' } }, 2_000)).toBe('✔ verify succeeded in 250ms (pods=1)');
  });

  it('shows times in UTC to the second, and counts in the singular for one', () => {
    expect(utc(Date.UTC(2026, 10, 25, 2, 0, 0, 123))).toBe('2026-11-25T02:00:00Z');
    const run = { ...runFields(), plan: [], steps: {}, state: 'succeeded' } as unknown as Run;
    expect(renderAudit(run, [{ at: Date.UTC(2026, 10, 25, 2, 0, 0, 987), actor: { id: 'U0ALICE001', name: 'alice', via: 'slack' }, action: 'requested' }])).toEqual([
      'Audit of run rabc1234 (big), 1 entry:',
      '  2026-11-25T02:00:00Z  alice (slack)  requested',
    ]);
    expect([plural(0, 'pod'), plural(1, 'pod'), plural(2, 'pod'), plural(1, 'entry', 'entries'), plural(3, 'entry', 'entries')]).toEqual(['0 pods', '1 pod', '2 pods', '1 entry', '3 entries']);
  });
});
