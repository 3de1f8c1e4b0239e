import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseParkMarker } from '../../src/engine/park.ts';
import { startRunWorker } from '../../src/queue/run-worker.ts';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import { restoredClusterName } from '../../src/steps/rds/aws.ts';
import type { Run } from '../../src/runs/model.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { DEFAULT_LIMITS } from '../../src/steps/limits.ts';
import { ALICE, startTestEngine, TEST_OUTBOUND, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/parked-rds/', import.meta.url));
/** Long enough that nothing becomes available unless the test says so. */
const FOREVER_MS = 24 * 3_600_000;

/**
 * The RDS steps' long waits (a restore's 30 minutes, a global failover) hold
 * no worker: with one worker of concurrency 1, a short run finishes while an
 * RDS run waits; each changing call is made once, and a failover entered
 * again after its action never acts again (test/fixtures/parked-rds/).
 */
describe('parked RDS waits: an Aurora restore or failover holds no worker', () => {
  let rds: FakeRds;
  let engine: TestEngine;
  const workers: { handle: WorkerHandle; connection: Redis }[] = [];

  const startWorker = () => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    // WORKER_CONCURRENCY=1: one run at a time holds this worker.
    const handle = startRunWorker({
      connection,
      prefix: engine.prefix,
      concurrency: 1,
      lockDurationMs: 5_000,
      logger: engine.logger,
      store: engine.store,
      service: engine.service,
      queue: engine.queue,
      registry: buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: TEST_OUTBOUND }),
      engine: { retryBaseMs: 50, pollMs: 50, progressIntervalMs: 100 },
    });
    workers.push({ handle, connection });
    return handle;
  };

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(async () => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.globalClusters.clear();
    rds.globalFailovers.clear();
    // Restores, new instances, promotions and global failovers last until the test says.
    rds.creatingMs = FOREVER_MS;
    rds.globalFailoverMs = FOREVER_MS;
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 86_400_000), latest: new Date() });
    engine = await startTestEngine({ workers: 0, commandsDir: COMMANDS, targets: testTargets({ aws: { region: 'us-east-1', endpointUrl: rds.url } }) });
    startWorker();
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      await w.handle.close(1_000);
      w.connection.disconnect();
    }
    await engine.stop();
  });

  const start = (runbookId: string) => engine.service.create({ runbookId, params: {}, requester: ALICE });
  const until = async (what: string, ok: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + 20_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  /** Resolves once the run is parked in `stepId`: its marker stored and its job delayed (no worker holds it). */
  const parkedIn = (runId: string, stepId: string) =>
    until(`run ${runId} to park in ${stepId}`, async () => {
      const marker = parseParkMarker(await engine.store.field(runId, 'parked'));
      const job = await engine.queue.queue.getJob(`exec-${runId}`);
      return marker?.stepId === stepId && job !== undefined && (await job.isDelayed());
    });
  /** A short run finishes while `waiting` still waits: the only worker is free. */
  const shortRunFinishesWhileWaiting = async (waiting: string) => {
    const short = await start('quick');
    expect((await engine.waitForState(short.id, ['succeeded', 'failed', 'cancelled'])).state).toBe('succeeded');
    expect((await engine.store.get(waiting))?.state).toBe('running');
  };
  const finished = (runId: string) => engine.waitForState(runId, ['succeeded', 'failed', 'cancelled'], 60_000);
  const actionsOf = async (runId: string) => (await engine.store.audit(runId)).map((a) => a.action);

  for (const { runbookId, restoreCall } of [
    { runbookId: 'restore-pitr-writer', restoreCall: 'RestoreDBClusterToPointInTime' },
    { runbookId: 'restore-snapshot-writer', restoreCall: 'RestoreDBClusterFromSnapshot' },
  ]) {
    it(`${runbookId}: the writer step parks while the cluster and then its writer are creating, and each is created once`, async () => {
      rds.addSnapshot({ id: 'prod-aurora-snap-1', clusterId: 'prod-aurora', createdAt: new Date(Date.now() - 3_600_000), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
      const run = await start(runbookId);
      const clusterId = restoredClusterName('prod-aurora', run.id);

      // The restored cluster is `creating`: the writer step waits for it without holding the worker.
      await parkedIn(run.id, 'writer');
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(0);
      await shortRunFinishesWhileWaiting(run.id);

      // Available: the writer is created, and the step parks again while the writer is `creating`.
      const cluster = rds.clusters.get(clusterId);
      if (!cluster) throw new Error(`the restore made no cluster ${clusterId}`);
      cluster.readyAt = 0;
      await until('the writer to be created', () => rds.callsTo('CreateDBInstance').length > 0);
      await parkedIn(run.id, 'writer');
      await shortRunFinishesWhileWaiting(run.id);

      const writer = rds.instances.get(`${clusterId}-writer`);
      if (!writer) throw new Error('no writer instance');
      writer.readyAt = 0;
      const done = await finished(run.id);
      expect(done.state).toBe('succeeded');
      expect(done.steps.writer).toMatchObject({ state: 'succeeded', attempts: 1 });
      expect(done.steps.writer?.outputs?.writerEndpoint).toBe(`${clusterId}.cluster-abc123.us-east-1.rds.amazonaws.com`);
      expect(rds.callsTo(restoreCall)).toHaveLength(1);
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(1);
      // Taken up again after each park: neither a retry nor a takeover.
      expect(await actionsOf(run.id)).not.toContain('resumed');
    });
  }

  const addGlobalDatabase = () => {
    rds.addCluster('prod-aurora-dr', { earliest: new Date(0), latest: new Date() });
    rds.globalClusters.set('prod-global', ['prod-aurora', 'prod-aurora-dr']);
  };
  const failoverOf = (id: string) => {
    const failover = rds.globalFailovers.get(id);
    if (!failover) throw new Error(`no failover of ${id} under way`);
    return failover;
  };

  it('rds.failover (global): parks while the global cluster fails over, then finishes with one FailoverGlobalCluster', async () => {
    addGlobalDatabase();
    const run = await start('global-failover');
    await parkedIn(run.id, 'failover');
    await shortRunFinishesWhileWaiting(run.id);

    failoverOf('prod-global').until = 0;
    const done = await finished(run.id);
    expect(done.state).toBe('succeeded');
    expect(done.steps.failover).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(1);
  });

  it('rds.failover (promote-replica): parks while the replica is promoting, then finishes with one PromoteReadReplicaDBCluster', async () => {
    rds.addCluster('prod-mysql-dr', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' }).replicationSource = 'prod-mysql';
    const run = await start('promote-replica');
    await parkedIn(run.id, 'failover');
    await shortRunFinishesWhileWaiting(run.id);

    const replica = rds.clusters.get('prod-mysql-dr');
    if (replica) replica.promotingUntil = 0;
    const done = await finished(run.id);
    expect(done.state).toBe('succeeded');
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(1);
  });

  it('rds.failover entered again after its failover, with the writer moved back meanwhile: it does not fail over again, and says why', async () => {
    addGlobalDatabase();
    const run = await start('global-failover');
    const waiting = (r: Run | undefined) => r?.steps.failover?.progress?.message.startsWith('waiting for prod-aurora-dr') === true;
    await until('the failover to be under way', async () => waiting(await engine.store.get(run.id)));
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(1);

    // The worker goes (the run is parked, or handed back mid-look); meanwhile the failover is undone and prod-aurora stays the writer.
    const first = workers.shift();
    await first?.handle.close(1_000);
    first?.connection.disconnect();
    rds.globalFailovers.delete('prod-global');
    startWorker();

    const ended = async () => ['succeeded', 'failed', 'cancelled'].includes((await engine.store.get(run.id))?.state ?? '');
    await until('the run to end, or to fail over again', async () => rds.callsTo('FailoverGlobalCluster').length > 1 || (await ended()));
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(1);
    const done = await finished(run.id);
    expect(done.state).toBe('failed');
    expect(done.failure?.message).toContain('the failover of global cluster prod-global to prod-aurora-dr ended without it as the writer');
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora');
    expect(rds.globalFailovers.has('prod-global')).toBe(false);
  });
});
