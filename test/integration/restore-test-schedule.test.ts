import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillFollower } from '../../src/drills/follower.ts';
import { DrillStore } from '../../src/drills/store.ts';
import { scenarioTargets } from '../../src/incidents/scenarios.ts';
import type { Run } from '../../src/runs/model.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { LOCAL_PG, RestoredData } from '../support/restored-data.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { runsOf, type TestSchedules, testSchedules, until } from '../support/schedules.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const HOUR = 3_600_000;
const CAROL = { id: 'U0CAROL001', name: 'carol', via: 'slack' as const };
const APPROVERS = { users: [BOB.id, CAROL.id], groups: [] };

/**
 * The weekly restore test as a team runs it: a schedule of the shipped
 * restore-test on the drill target, approved once by two people; each fire
 * restores the point its plan chose into a copy, checks the data (the
 * machine's real PostgreSQL behind the fake RDS), is scored in the drill
 * record with its RTO and measured RPO, and deletes the copy, also when the
 * check fails and when it is cancelled.
 */
describe('restore-test on an approved schedule', () => {
  let rds: FakeRds;
  let kube: FakeKube;
  let data: RestoredData;
  let engine: TestEngine;
  let s: TestSchedules;
  let drills: DrillStore;
  let follower: DrillFollower;
  /** The drill follower's own connection: reading events blocks. */
  let events: Redis;
  let scheduleId = '';
  let fires = 0;

  beforeAll(async () => {
    fakeAwsCredentials();
    [rds, kube, data] = await Promise.all([new FakeRds().start(), new FakeKube().start(), new RestoredData().start()]);
    rds.creatingMs = 0;
    rds.deletions.deletingMs = 100;
    rds.restoredEndpoint = LOCAL_PG;
    rds.addCluster('prod-aurora-cluster', { earliest: new Date(Date.now() - 7 * 24 * HOUR), latest: new Date(Date.now() - 60_000), settings: { deletionProtection: true } });
    kube.namespaces.add('dr-drill-config');
    kube.addSecret('dr-drill-config', 'database-credentials', { password: 'drill-only' });
    const place = { region: 'us-east-1', endpoints: { rds: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } };
    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets({ targets: { prod: { ...place, label: 'Production' }, drill: { ...place, label: 'Drill', account: '222222222222', drill: true } }, defaultTarget: 'prod' }),
    });
    s = testSchedules(engine, { approvers: APPROVERS });
    drills = new DrillStore(engine.redis, engine.prefix);
    events = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    follower = new DrillFollower({ eventsRedis: events, runs: engine.store, store: drills, runbooks: engine.service.runbooks, objectives: scenarioTargets(), share: () => Promise.resolve(), consumerName: 'restore-test-schedule', logger: engine.logger });
    await follower.start();

    const added = await s.service.add({ runbookId: 'restore-test', cadence: 'every 1h', params: { target: 'drill', ...data.params }, requester: ALICE, source: 'slack' });
    scheduleId = added.id;
    await s.service.approve(scheduleId, BOB);
    expect((await s.service.approve(scheduleId, CAROL)).outcome).toBe('approved');
  });
  afterAll(async () => {
    follower.stop();
    events.disconnect();
    await s.stop();
    await engine.stop();
    await Promise.all([rds.stop(), kube.stop(), data.stop()]);
  });

  /** One fire of the schedule, as its job scheduler's next job: the run it made, without a new approval. */
  const fire = async (): Promise<Run> => {
    fires += 1;
    const before = new Set((await runsOf(engine, 'restore-test')).map((r) => r.id));
    expect(await s.service.fire(scheduleId, `repeat:${scheduleId}:${String(fires)}`)).toBe('created');
    return until(async () => (await runsOf(engine, 'restore-test')).find((r) => !before.has(r.id)), 'the fire to create a run');
  };
  const ended = (run: Run) => engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
  const recorded = (run: Run) => until(async () => drills.get(run.id), `drill ${run.id} to be recorded`);
  const copyOf = (run: Run) => `restore-test-${run.id}`.toLowerCase();

  it('fires without asking again, restores the point it chose, checks, records the RTO and RPO, and deletes the copy', async () => {
    const newest = new Date(Date.now() - 60_000 - 60_000 - 420_000);
    await data.fill(newest);
    const run = await fire();
    expect(run.state).not.toBe('awaiting_approval');
    expect(run.approvals.map((a) => a.by.id).sort()).toEqual([BOB.id, CAROL.id]);
    const chosen = run.plan.find((p) => p.stepId === 'pick')?.pinned?.chosen;
    const done = await ended(run);
    expect(done.state).toBe('succeeded');
    expect(rds.callsTo('RestoreDBClusterToPointInTime').at(-1)?.params.RestoreToTime).toBe(chosen);
    const record = await recorded(run);
    expect(record).toMatchObject({ runbookId: 'restore-test', scenario: 'data-corruption', passed: true, rpoStepId: 'check' });
    expect(record.measuredRpoMs).toBe(Date.parse(String(chosen)) - newest.getTime());
    expect(record.achievedRtoMs).toBeGreaterThan(0);
    expect(record.achievedRtoMs).toBeLessThanOrEqual(record.rtoObjectiveMs);
    expect(rds.clusters.has(copyOf(run))).toBe(false);
  });

  it('a failing check: the drill is recorded failed with the reason, and the copy is deleted', async () => {
    // The restored data holds no orders: the count and the newest row both fail.
    await data.empty();
    const run = await fire();
    const done = await ended(run);
    expect(done.state).toBe('failed');
    expect(done.failure?.stepId).toBe('check');
    const record = await recorded(run);
    expect(record.passed).toBe(false);
    expect(record.reasons.join(' ')).toContain('check');
    expect(rds.clusters.has(copyOf(run))).toBe(false);
  });

  it('cancelled while restoring: recorded as cancelled, and the copy is deleted', async () => {
    rds.creatingMs = 24 * HOUR;
    try {
      const run = await fire();
      await until(() => Promise.resolve(rds.clusters.has(copyOf(run)) || undefined), 'the copy to be restoring');
      await engine.service.cancel(run.id, BOB, 'not this week');
      const done = await ended(run);
      expect(done.state).toBe('cancelled');
      const record = await recorded(run);
      expect(record.passed).toBe(false);
      expect(rds.clusters.has(copyOf(run))).toBe(false);
    } finally {
      rds.creatingMs = 0;
    }
  });
});
