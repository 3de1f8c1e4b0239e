import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseParkMarker, waitField } from '../../src/engine/park.ts';
import { restoredClusterName } from '../../src/steps/rds/aws.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

/** Long enough that no restored cluster becomes available unless the test says so. */
const FOREVER_MS = 24 * 3_600_000;
const WEB = '/namespaces/production/deployments/web';

/**
 * What an SRE sees during an incident: two database restores
 * (restore-database-pitr, as shipped) approved and waiting for Aurora, then a
 * bad release rolled back (rollback-deployment, urgent, as shipped). With one
 * worker of concurrency 1, the rollback does not queue behind the restores'
 * waits: they hold no worker while they wait.
 */
describe('an urgent rollback beside two parked database restores, on one worker of concurrency 1', () => {
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let engine: TestEngine;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    api = await new FakeService().start();
  });
  afterAll(async () => {
    await Promise.all([rds.stop(), kube.stop(), api.stop()]);
  });
  beforeEach(async () => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.calls.length = 0;
    // Restored clusters stay `creating` until the test says.
    rds.creatingMs = FOREVER_MS;
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 86_400_000), latest: new Date(), writerClass: 'db.r6g.xlarge' });
    kube.calls.length = 0;
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.objects.clear();
    kube.rolloutMs = 200;
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', port: '5432' });
    kube.addDeployment('production', 'web', ['web:1.0', 'web:1.1'], { replicas: 3 });
    kube.addDeployment('production', 'billing', ['billing:3.1.0']);
    engine = await startTestEngine({
      workers: 0,
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }),
    });
    // WORKER_CONCURRENCY=1: one run at a time holds this worker.
    engine.startWorker(1);
  });
  afterEach(async () => {
    await engine.stop();
  });

  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 20_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  /** Parked in the writer step's wait for its restored cluster: marker and wait memo stored, job delayed (no worker holds it). */
  const parkedInWriter = async (runId: string) => {
    const marker = parseParkMarker(await engine.store.field(runId, 'parked'));
    const memo = await engine.store.field(runId, waitField('writer', 'cluster-available'));
    const job = await engine.queue.queue.getJob(`exec-${runId}`);
    return marker?.stepId === 'writer' && Boolean(memo) && job !== undefined && (await job.isDelayed());
  };
  const requestAndApprove = async (runbookId: string, params: Record<string, string>) => {
    const run = await engine.service.create({ runbookId, params, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    return run;
  };

  it('the rollback succeeds, patching web once, while both restores still wait; then the restores finish', async () => {
    const restoreParams = { cluster: 'prod-aurora', deployments: 'billing', healthUrl: `${api.url}/health` };
    const restores = [await requestAndApprove('restore-database-pitr', restoreParams), await requestAndApprove('restore-database-pitr', restoreParams)];
    for (const r of restores) await until(`restore ${r.id} to park waiting for its cluster`, () => parkedInWriter(r.id));

    const rollback = await requestAndApprove('rollback-deployment', { deployment: 'web' });
    const rolledBack = await engine.waitForState(rollback.id, ['succeeded', 'failed', 'cancelled']);
    expect(rolledBack.state).toBe('succeeded');
    expect(rolledBack.steps.undo?.outputs).toEqual({ revision: 1, images: 'web:1.0' });
    expect(kube.callsMatching('PATCH', WEB)).toHaveLength(1);
    expect(JSON.stringify(kube.deployments.get('production/web')?.template)).toContain('web:1.0');

    // Both restores are still where they were: running, parked in the writer's wait, nothing created yet.
    for (const r of restores) {
      const now = await engine.store.get(r.id);
      expect(now?.state).toBe('running');
      expect(now?.steps.writer?.state).toBe('running');
      expect(await parkedInWriter(r.id)).toBe(true);
    }
    expect(rds.callsTo('RestoreDBClusterToPointInTime')).toHaveLength(2);
    expect(rds.callsTo('CreateDBInstance')).toHaveLength(0);

    // Aurora is done: the restored clusters and their writers are available at once.
    rds.creatingMs = 0;
    for (const r of restores) {
      const cluster = rds.clusters.get(restoredClusterName('prod-aurora', r.id));
      if (!cluster) throw new Error(`restore ${r.id} made no cluster`);
      cluster.readyAt = 0;
    }
    for (const r of restores) {
      const done = await engine.waitForState(r.id, ['succeeded', 'failed', 'cancelled'], 60_000);
      expect(done.steps.writer?.error).toBeUndefined();
      expect(done.state).toBe('succeeded');
      expect(done.steps.writer).toMatchObject({ state: 'succeeded', attempts: 1 });
    }
    expect(rds.callsTo('RestoreDBClusterToPointInTime')).toHaveLength(2);
    expect(rds.callsTo('CreateDBInstance')).toHaveLength(2);
    // The restores restarted billing only: web was rolled back once, by the rollback.
    expect(kube.callsMatching('PATCH', WEB)).toHaveLength(1);
    expect(kube.callsMatching('PATCH', '/namespaces/production/deployments/billing')).toHaveLength(2);
  });
});
