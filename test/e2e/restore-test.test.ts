import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { LOCAL_PG, RestoredData } from '../support/restored-data.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const HOUR = 3_600_000;

/**
 * The shipped restore-test on the real engine: it picks a recovery point of
 * production's cluster, restores it as a throw-away cluster (the fake RDS;
 * its endpoint answers with the machine's real PostgreSQL, holding the data
 * as restored), checks the data read-only, measures the RPO from the newest
 * row, and deletes the copy however the test ends: passed, failed or cancelled.
 */
describe('restore-test, end to end', () => {
  let rds: FakeRds;
  let kube: FakeKube;
  let engine: TestEngine;
  let data: RestoredData;
  /** The production cluster's latest restorable time, and the newest row the restored data holds. */
  let latest: Date;
  let newestRow: Date;

  beforeAll(async () => {
    fakeAwsCredentials();
    data = await new RestoredData().start();
  });
  afterAll(async () => {
    await data.stop();
  });
  beforeEach(async () => {
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    rds.creatingMs = 0;
    rds.deletions.deletingMs = 100;
    rds.restoredEndpoint = LOCAL_PG;
    latest = new Date(Date.now() - 60_000);
    rds.addCluster('prod-aurora-cluster', { earliest: new Date(Date.now() - 7 * 24 * HOUR), latest, settings: { deletionProtection: true } });
    kube.namespaces.add('dr-drill-config');
    kube.addSecret('dr-drill-config', 'database-credentials', { password: 'not-checked-by-trust-auth' });
    // The latest pick restores to the latest restorable time less a minute; the newest row is 5 minutes before that.
    newestRow = new Date(latest.getTime() - 60_000 - 300_000);
    await data.fill(newestRow);
    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }),
    });
  });
  afterEach(async () => {
    await engine.stop();
    await Promise.all([rds.stop(), kube.stop()]);
  });

  const request = async (extra: Record<string, string | number> = {}) => {
    const run = await engine.service.create({
      runbookId: 'restore-test',
      params: { ...data.params, ...extra },
      requester: ALICE,
    });
    await engine.service.approve(run.id, BOB);
    return run;
  };
  const restoredName = (runId: string) => `restore-test-${runId}`.toLowerCase();

  it('restores the picked point into a copy, measures the RPO from the newest row, and deletes the copy; production is only read', async () => {
    const run = await request();
    const picked = run.plan.find((p) => p.stepId === 'pick')?.pinned?.chosen;
    expect(typeof picked).toBe('string');
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    // The restore went to the point the plan pinned.
    expect(rds.callsTo('RestoreDBClusterToPointInTime').map((c) => [c.params.DBClusterIdentifier, c.params.RestoreToTime])).toEqual([[restoredName(run.id), picked]]);
    expect(done.steps.check?.outputs?.measuredRpoSeconds).toBe(300);
    expect(done.steps.check?.outputs?.newestRowAt).toBe(newestRow.toISOString());
    expect(done.steps.writer?.outputs?.instanceId).toBe(`${restoredName(run.id)}-writer`);
    expect(rds.callsTo('CreateDBInstance').map((c) => c.params.DBInstanceClass)).toEqual(['db.t4g.medium']);
    // The copy is gone; production's cluster is untouched (no call that changes it names it).
    expect(done.steps.delete?.state).toBe('succeeded');
    expect(rds.clusters.has(restoredName(run.id))).toBe(false);
    expect(rds.clusters.has('prod-aurora-cluster')).toBe(true);
    const changing = rds.calls.filter((c) => !c.action.startsWith('Describe'));
    expect(changing.filter((c) => Object.values(c.params).includes('prod-aurora-cluster') && c.action !== 'RestoreDBClusterToPointInTime')).toEqual([]);
  });

  it('from a snapshot: restores the automated snapshot it chose, and measures the RPO from the snapshot\'s time', async () => {
    const takenAt = new Date(Date.now() - 2 * HOUR);
    rds.addSnapshot({ id: 'rds:prod-aurora-cluster-nightly', clusterId: 'prod-aurora-cluster', createdAt: takenAt, engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    rds.addSnapshot({ id: 'before-upgrade', clusterId: 'prod-aurora-cluster', createdAt: new Date(Date.now() - HOUR), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
    await data.fill(new Date(takenAt.getTime() - 200_000));
    const run = await engine.service.create({ runbookId: 'restore-test-snapshot', params: data.params, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    expect(run.plan.find((p) => p.stepId === 'pick')?.pinned?.chosen).toBe(`rds:prod-aurora-cluster-nightly@${takenAt.toISOString()}`);
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    expect(rds.callsTo('RestoreDBClusterFromSnapshot').map((c) => [c.params.DBClusterIdentifier, c.params.SnapshotIdentifier])).toEqual([[restoredName(run.id), 'rds:prod-aurora-cluster-nightly']]);
    expect(done.steps.check?.outputs?.measuredRpoSeconds).toBe(200);
    expect(rds.clusters.has(restoredName(run.id))).toBe(false);
  });

  it('a failing data check fails the test with its reason, and the copy is still deleted', async () => {
    const run = await request({ minRows: 1000 });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
    expect(done.state).toBe('failed');
    expect(done.failure?.stepId).toBe('check');
    expect(done.failure?.message).toMatch(/rows: .*2.*1000/);
    expect(done.steps.delete?.state).toBe('succeeded');
    expect(rds.clusters.has(restoredName(run.id))).toBe(false);
  });

  it('cancelled while the copy is being restored: the cancel stops it, and the copy is deleted', async () => {
    rds.creatingMs = 24 * HOUR;
    const run = await request();
    const deadline = Date.now() + 30_000;
    while (!rds.clusters.has(restoredName(run.id))) {
      if (Date.now() > deadline) throw new Error(`the copy of ${run.id} was never restored`);
      await new Promise((r) => setTimeout(r, 25));
    }
    await engine.service.cancel(run.id, ALICE, 'enough for today');
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
    expect(done.state).toBe('cancelled');
    expect(done.steps.delete?.state).toBe('succeeded');
    expect(rds.clusters.has(restoredName(run.id))).toBe(false);
  });
});
