import { describe, expect, it } from 'vitest';
import { resultOf } from '../../../src/drills/model.ts';
import { type DrillChecks, DrillChecksSchema, drillItems } from '../../../src/steps/readiness/drills.ts';
import type { ItemResult } from '../../../src/steps/readiness/report.ts';
import type { DrillSummary } from '../../../src/steps/types.ts';
import { drillRecord } from '../../support/drills.ts';

const NOW = Date.UTC(2026, 12 - 1, 7, 10, 30);
const DAY = 24 * 3_600_000;
const checks = (over: Partial<DrillChecks> = {}): DrillChecks => DrillChecksSchema.parse({ scenarios: ['data-corruption', 'region-outage'], ...over });
const items = (history: DrillSummary[] | undefined, over: Partial<DrillChecks> = {}): Promise<ItemResult[]> =>
  drillItems(history ? { drillHistory: () => Promise.resolve(history) } : {}, checks(over), NOW, 1_000);
const byId = (list: ItemResult[]) => Object.fromEntries(list.map((i) => [i.id, i]));

describe("the readiness check's drill items", () => {
  it('a passing drill of each scenario within 90 days, and a restore test within its RTO: every item passes', async () => {
    const found = byId(await items([resultOf(drillRecord('data-corruption', NOW - 10 * DAY, { runId: 'rdc' })), resultOf(drillRecord('region-outage', NOW - 89 * DAY))]));
    expect(Object.keys(found)).toEqual(['drills.recent.data-corruption', 'drills.recent.region-outage', 'drills.restore-time']);
    expect(Object.values(found).map((i) => i.status)).toEqual(['pass', 'pass', 'pass']);
    expect(found['drills.recent.data-corruption']).toMatchObject({ area: 'drills', value: 'passed 2026-11-27 (10 days ago)', objective: 'a passing drill within 90 days', title: 'A successful drill of Data corruption within 90 days' });
    expect(found['drills.restore-time']).toMatchObject({ value: 'restored in 10m of 2h (2026-11-27)' });
    expect(found['drills.restore-time']?.reason).toContain('run rdc of dr-drill');
  });

  it('none within 90 days fails with the last drill\'s date and result; none at all says so; the 90 days are a parameter', async () => {
    const old = resultOf(drillRecord('data-corruption', NOW - 91 * DAY));
    const failedRecently = resultOf(drillRecord('region-outage', NOW - 3 * DAY, { passed: false, reasons: ['RTO missed: recovered in 5h, the objective is 4h'] }));
    const found = byId(await items([failedRecently, old]));
    expect(found['drills.recent.data-corruption']).toMatchObject({ status: 'fail', value: 'none passed within 90 days; the last 2026-09-07 passed' });
    expect(found['drills.recent.data-corruption']?.reason).toContain('passed, more than 90 days ago');
    expect(found['drills.recent.data-corruption']?.fix).toContain('`scenario: data-corruption`');
    expect(found['drills.recent.region-outage']).toMatchObject({ status: 'fail', value: 'none passed within 90 days; the last 2026-12-04 failed' });
    expect(found['drills.recent.region-outage']?.reason).toContain('failed: RTO missed: recovered in 5h, the objective is 4h');
    expect(byId(await items([old], { withinDays: 120 }))['drills.recent.data-corruption']?.status).toBe('pass');

    const empty = byId(await items([]));
    expect(empty['drills.recent.data-corruption']).toMatchObject({ status: 'fail', value: 'no drill recorded' });
    expect(empty['drills.restore-time']).toMatchObject({ status: 'fail', value: 'no restore test recorded' });
  });

  it('the last restore test over its RTO, or not restoring at all, fails; older good ones do not hide it', async () => {
    const slow = resultOf(drillRecord('accidental-deletion', NOW - DAY, { achievedRtoMs: 90 * 60_000, passed: false }));
    const fine = resultOf(drillRecord('data-corruption', NOW - 5 * DAY));
    expect(byId(await items([fine, slow]))['drills.restore-time']).toMatchObject({ status: 'fail', value: 'restored in 1h 30m of 1h (2026-12-06)' });
    const broken = resultOf(drillRecord('data-corruption', NOW - DAY, { achievedRtoMs: undefined, passed: false, reasons: ['the run failed at step restore: snapshot gone'] }));
    const item = byId(await items([broken, fine]))['drills.restore-time'];
    expect(item).toMatchObject({ status: 'fail', value: 'the last restore test did not restore (2026-12-06)' });
    expect(item?.reason).toContain('the run failed at step restore: snapshot gone');
  });

  it('without the drill record (the step alone) every item is unknown, never a pass; a record that fails to answer too', async () => {
    const alone = await items(undefined);
    expect(alone.map((i) => [i.id, i.status])).toEqual([
      ['drills.recent.data-corruption', 'unknown'],
      ['drills.recent.region-outage', 'unknown'],
      ['drills.restore-time', 'unknown'],
    ]);
    expect(alone[0]?.reason).toBe('This worker cannot read the drill record.');
    const broken = await drillItems({ drillHistory: () => Promise.reject(new Error('Connection is closed.')) }, checks(), NOW, 1_000);
    expect(broken.map((i) => i.status)).toEqual(['unknown', 'unknown', 'unknown']);
    expect(broken[0]?.reason).toBe('Could not be measured: Connection is closed..');
  });

  it('by default wants every scenario of the DR plan within 90 days', () => {
    expect(DrillChecksSchema.parse({})).toEqual({
      scenarios: ['single-az-failure', 'region-outage', 'data-corruption', 'security-breach', 'accidental-deletion', 'complete-infrastructure-loss'],
      withinDays: 90,
      restoreScenarios: ['data-corruption', 'accidental-deletion'],
    });
  });
});
