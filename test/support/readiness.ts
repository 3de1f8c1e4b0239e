/**
 * Readiness reports written by hand, and readiness runs stored the way a
 * finished run has them: a `readiness.summary` step that succeeded with the
 * report as its `report` output, and the run's `run.succeeded` event on the
 * events stream, through the real RunStore.
 */
import { randomUUID } from 'node:crypto';
import type { RunDoc } from '../../src/runs/model.ts';
import type { RunStore } from '../../src/runs/store.ts';
import type { Exposure, ItemResult, ItemStatus, ReadinessReport, TargetReport } from '../../src/steps/readiness/report.ts';
import { ALICE } from './engine.ts';

export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

/** An item as a check reports it; `fail`, `warn` and `unknown` come with a reason and a fix. */
export function item(id: string, status: ItemStatus, overrides: Partial<ItemResult> = {}): ItemResult {
  return {
    id,
    area: 'aurora',
    title: `Item ${id}`,
    status,
    value: status === 'unknown' ? 'not measured' : `measured ${status}`,
    objective: '≥ 35 days',
    reason: status === 'pass' ? 'within the objective' : `the ${id} check says ${status}`,
    ...(status === 'pass' ? {} : { fix: `put ${id} right` }),
    ...overrides,
  };
}

export function target(name: string, items: ItemResult[], checkedAt: number, role: 'primary' | 'dr' = 'primary'): TargetReport {
  return { target: name, role, checkedAt, items, readings: {} };
}

export function exposure(scenario: string, exposureSeconds: number | undefined, objectiveSeconds: number, status: ItemStatus): Exposure {
  return {
    scenario,
    title: scenario.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase()),
    objectiveSeconds,
    status,
    basis: exposureSeconds === undefined ? 'the Aurora cluster could not be asked' : 'now − LatestRestorableTime of prod-aurora',
    ...(exposureSeconds === undefined ? {} : { exposureSeconds }),
  };
}

export function report(checkedAt: number, targets: TargetReport[], exposures: Exposure[] = []): ReadinessReport {
  return { checkedAt, targets, exposures };
}

/**
 * Stores a readiness run that succeeded with `report` (or with `raw` as its
 * report output), publishing its events as the engine does; returns its id.
 */
export async function storeReadinessRun(store: RunStore, content: ReadinessReport | { raw: string }, options: { dryRun?: boolean; at?: number } = {}): Promise<string> {
  const id = `r${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const at = options.at ?? Date.now();
  const doc: RunDoc = {
    id,
    runbookId: 'readiness-check',
    runbookTitle: 'DR readiness check',
    params: {},
    requester: ALICE,
    origin: { channelId: 'C0OPS00001' },
    dryRun: options.dryRun === true,
    priority: 'background',
    plan: [{ stepId: 'summary', name: 'Sum up the checklist and the live RPO', use: 'readiness.summary', with: {}, timeoutMs: 60_000, retries: 0, lines: [] }],
    policy: { required: 0, users: [], groups: [], allowSelfApproval: false, expiresInMs: 900_000 },
    createdAt: at,
    expiresAt: at + 900_000,
    timeoutMs: 600_000,
  };
  await store.create(doc, 'approved', [{ type: 'run.created' }, { type: 'run.approved' }], []);
  await store.transition(id, 'running', { event: { type: 'run.started' }, fields: { startedAt: String(at) }, at });
  const output = 'raw' in content ? content.raw : JSON.stringify(content);
  const step = options.dryRun
    ? { state: 'skipped' as const, attempts: 0, wouldDo: [] }
    : { state: 'succeeded' as const, attempts: 1, startedAt: at, finishedAt: at + 1_000, outputs: { report: output } };
  await store.setStep(id, 'summary', step, { event: { type: options.dryRun ? 'step.skipped' : 'step.succeeded', stepId: 'summary' }, at });
  await store.transition(id, 'succeeded', { event: { type: 'run.succeeded' }, fields: { finishedAt: String(at + 1_000) }, at: at + 1_000 });
  return id;
}
