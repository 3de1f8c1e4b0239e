import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastReplicationLag } from '../../src/readiness/last-lag.ts';
import { ReadinessStore } from '../../src/readiness/store.ts';
import { lagToTell } from '../../src/steps/rds/data-loss.ts';
import { startTestEngine, type TestEngine } from '../support/engine.ts';
import { exposure, item, MINUTE, report, target } from '../support/readiness.ts';

/**
 * What a failover's data-loss question tells of the replication lag: the
 * newest readiness check that measured the DR cluster's lag, never a guess.
 */
describe('the last measured replication lag, as the data-loss question tells it', () => {
  let engine: TestEngine;
  let store: ReadinessStore;

  beforeAll(async () => {
    engine = await startTestEngine({ workers: 0 });
    store = new ReadinessStore(engine.redis, engine.prefix);
  });
  afterAll(async () => {
    await engine.stop();
  });

  const drCheck = (at: number, status: 'pass' | 'unknown', globalLagSeconds?: number, name = 'dr') => ({
    ...target(name, [item('aurora.replication-lag.prod-aurora-dr', status)], at, 'dr'),
    readings: globalLagSeconds === undefined ? {} : { globalLagSeconds },
  });

  it('unknown until a check measured it; then the newest measurement, with when and where', async () => {
    const ask = (cluster: string) => lastReplicationLag(store, cluster);
    expect(await lagToTell({ replicationLag: ask }, 'prod-aurora-dr', undefined)).toEqual({ text: 'unknown: no readiness check measured the replication lag to prod-aurora-dr in the last 7 days' });

    const t0 = Date.now() - 2 * 60 * MINUTE;
    await store.record('r-old', report(t0, [drCheck(t0, 'pass', 3)], [exposure('region-outage', 3, 900, 'pass')]));
    // A newer check that could not measure it (CloudWatch silent once the primary is gone) does not hide the earlier measurement.
    await store.record('r-unknown', report(t0 + 30 * MINUTE, [drCheck(t0 + 30 * MINUTE, 'unknown')], [exposure('region-outage', undefined, 900, 'unknown')]));
    expect(await ask('prod-aurora-dr')).toEqual({ seconds: 3, measuredAt: t0, source: "the region outage's live RPO" });
    await store.record('r-new', report(t0 + 60 * MINUTE, [drCheck(t0 + 60 * MINUTE, 'pass', 42, 'dr-west')]));
    expect(await ask('prod-aurora-dr')).toEqual({ seconds: 42, measuredAt: t0 + 60 * MINUTE, source: 'target dr-west' });
    // Another cluster's question is not answered with this one's lag.
    expect(await ask('other-dr')).toBeUndefined();

    const told = await lagToTell({ replicationLag: ask }, 'prod-aurora-dr', undefined);
    expect(told.seconds).toBe(42);
    expect(told.text).toMatch(/^up to 42s of writes: the replication lag the readiness check measured .+ ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, target dr-west\); it may have grown since$/);
    // A lag the runbook gives is told as given.
    expect(await lagToTell({ replicationLag: ask }, 'prod-aurora-dr', 7)).toEqual({ seconds: 7, text: 'up to 7s of writes (the replication lag given to the run)' });
  });
});
