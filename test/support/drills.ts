/**
 * Drills written into the drill record through the real DrillStore, for
 * tests that need a history (the readiness check's drill items on a healthy
 * estate, the views): records as the drill follower makes them.
 */
import { SCENARIO_IDS, SCENARIOS, type ScenarioId } from '../../src/incidents/scenarios.ts';
import type { DrillRecord } from '../../src/drills/model.ts';
import { DrillStore } from '../../src/drills/store.ts';
import type { RedisConnection } from '../../src/queue/connection.ts';

const HOUR = 3_600_000;
let next = 0;

/** A drill of `scenario` that passed with an RTO of 10 minutes and an RPO of 1 minute, started `startedAt`; `overrides` change any of it. */
export function drillRecord(scenario: ScenarioId, startedAt: number, overrides: Partial<DrillRecord> = {}): DrillRecord {
  const { title, rtoMs, rpoMs } = SCENARIOS[scenario];
  next += 1;
  const runId = `rdrill${String(next).padStart(4, '0')}${Math.random().toString(36).slice(2, 6)}`;
  return {
    runId,
    runbookId: 'dr-drill',
    runbookTitle: 'Quarterly DR drill',
    scenario,
    scenarioTitle: title,
    outcome: 'succeeded',
    channelId: 'C0DRILLS01',
    startedAt,
    finishedAt: startedAt + 12 * 60_000,
    durationMs: 12 * 60_000,
    achievedRtoMs: Math.min(10 * 60_000, rtoMs),
    rtoObjectiveMs: rtoMs,
    measuredRpoMs: Math.min(60_000, rpoMs),
    rpoStepId: 'measure',
    rpoObjectiveMs: rpoMs,
    passed: true,
    reasons: [],
    notes: [],
    recordedAt: startedAt + 12 * 60_000,
    steps: [{ stepId: 'restore', name: 'Restore', use: 'velero.restore', state: 'succeeded', startedAt, finishedAt: startedAt + 10 * 60_000, durationMs: 10 * 60_000 }],
    ...overrides,
  };
}

/** Records a passing drill of every scenario (a day ago): what a healthy estate's drill record holds. */
export async function recordPassingDrills(redis: RedisConnection, prefix: string, at = Date.now() - 24 * HOUR): Promise<DrillRecord[]> {
  const store = new DrillStore(redis, prefix);
  const records = SCENARIO_IDS.map((scenario) => drillRecord(scenario, at));
  for (const record of records) await store.record(record);
  return records;
}
