import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failoverStep } from '../../../src/steps/rds/failover.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const DR_ARN = 'arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-dr';

describe('rds.failover as AWS really behaves: lost answers, global cluster states, method from the engine', () => {
  let rds: FakeRds;
  let failover: ReturnType<typeof failoverStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    failover = withClients(failoverStep(), createStepClients({ aws: { region: 'us-west-2', rdsEndpointUrl: rds.url }, kubernetes: {} }));
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.calls.length = 0;
    rds.globalClusters.clear();
    rds.globalFailovers.clear();
    rds.globalFailoverMs = 600;
  });

  /** An Aurora PostgreSQL global database: prod-aurora (us-east-1) the writer, prod-aurora-dr (us-west-2) the secondary. */
  function postgresGlobal(): void {
    rds.addCluster('prod-aurora', { earliest: new Date(0), latest: new Date() });
    rds.addCluster('prod-aurora-dr', { earliest: new Date(0), latest: new Date() });
    rds.globalClusters.set('prod-global', ['prod-aurora', 'prod-aurora-dr']);
  }

  it('a lost FailoverGlobalCluster answer: the retried step adopts the failover under way, FailoverGlobalCluster called once', async () => {
    postgresGlobal();
    // Applied, then the answer fails with an error the SDK does not retry: the step fails transiently and the engine retries it.
    rds.failNext('FailoverGlobalCluster', { code: 'RequestExpired', message: 'the answer was lost', afterApply: true });
    const p = failover.params.parse({ method: 'global-failover', cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });

    const first = await failureOf(failover.run(stepContext(), p));
    expect(first.permanent).toBe(false);
    const out = await failover.run(stepContext({ attempt: 2 }), p);

    expect(out).toEqual({ writerEndpoint: 'prod-aurora-dr.cluster-abc123.us-east-1.rds.amazonaws.com', clusterArn: DR_ARN, method: 'failover', dataLossAllowed: true });
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(1);
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });

  it('a lost answer the SDK retries: its repeat is refused (InvalidGlobalClusterStateFault while failing-over) and taken as progress', async () => {
    postgresGlobal();
    rds.failNext('FailoverGlobalCluster', { code: 'ServiceUnavailable', message: 'the answer was lost', status: 503, afterApply: true });
    const p = failover.params.parse({ method: 'global-failover', cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });

    await failover.run(stepContext(), p);
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(2); // the SDK's own retry, refused by the fake as by RDS
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
    rds.calls.length = 0;
    await failover.run(stepContext({ attempt: 2 }), p);
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(0);
  });

  it('a step re-entered while the global cluster is failing-over waits for it instead of calling FailoverGlobalCluster again', async () => {
    postgresGlobal();
    rds.globalFailovers.set('prod-global', { from: 'prod-aurora', to: 'prod-aurora-dr', until: Date.now() + 600 });
    const p = failover.params.parse({ cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });

    expect((await failover.plan(planContext(), p))[0]).toMatchObject({ action: 'check', detail: 'global cluster prod-global failing-over to prod-aurora-dr already: the step waits for it' });
    const ctx = stepContext({ attempt: 2 });
    await failover.run(ctx, p);
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(0);
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });

  it('a lost PromoteReadReplicaDBCluster answer: the re-entered step adopts the promotion (status promoting), called once', async () => {
    rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql', engineVersion: '8.0.mysql_aurora.3.05.2' });
    const replica = rds.clusters.get('prod-aurora-replica');
    if (replica) replica.replicationSource = 'prod-aurora';
    rds.failNext('PromoteReadReplicaDBCluster', { code: 'InvalidParameterValue', message: 'the answer was lost', afterApply: true });
    const p = failover.params.parse({ cluster: 'prod-aurora-replica', region: 'us-west-2' });

    const first = await failureOf(failover.run(stepContext(), p));
    expect(first.message).toMatch(/^promoting prod-aurora-replica failed: InvalidParameterValue/);
    expect(rds.clusters.get('prod-aurora-replica')?.promotingUntil).toBeDefined();

    await failover.run(stepContext({ attempt: 2 }), p);
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(1);
    expect(rds.clusters.get('prod-aurora-replica')?.replicationSource).toBeUndefined();
  });

  it('chooses a global failover for an Aurora PostgreSQL global database by itself (method auto)', async () => {
    postgresGlobal();
    const p = failover.params.parse({ cluster: 'prod-aurora-dr', region: 'us-west-2' });
    expect(p.method).toBe('auto');

    const [line] = await failover.plan(planContext(), p);
    expect(line).toMatchObject({
      action: 'change',
      irreversible: true,
      detail: 'fail global cluster prod-global over to prod-aurora-dr in us-west-2, allowing the loss of writes not yet replicated (auto: global-failover for aurora-postgresql)',
    });
    await failover.run(stepContext(), p);
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(0);
    expect(rds.callsTo('FailoverGlobalCluster').map((c) => c.params)).toEqual([
      expect.objectContaining({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: 'true' }),
    ]);
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });

  it('chooses promotion for an Aurora MySQL cross-region replica (method auto)', async () => {
    rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' });
    const replica = rds.clusters.get('prod-aurora-replica');
    if (replica) replica.replicationSource = 'prod-aurora';
    const p = failover.params.parse({ cluster: 'prod-aurora-replica', region: 'us-west-2', globalCluster: 'prod-aurora-global' });
    expect((await failover.plan(planContext(), p))[0]?.detail).toBe(
      'promote read replica prod-aurora-replica in us-west-2 to a standalone writer; replication from the primary stops for good (auto: promote-replica for aurora-mysql)',
    );
    await failover.run(stepContext(), p);
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(1);
    expect(rds.callsTo('FailoverGlobalCluster')).toHaveLength(0);
  });

  it('refuses promote-replica in the plan for Aurora PostgreSQL, pointing at global-failover', async () => {
    postgresGlobal();
    const p = failover.params.parse({ method: 'promote-replica', cluster: 'prod-aurora-dr', region: 'us-west-2' });
    const failure = await failureOf(failover.plan(planContext(), p));
    expect(failure.permanent).toBe(true);
    expect(failure.message).toBe(
      'method promote-replica is refused for prod-aurora-dr (us-west-2, aurora-postgresql): cross-Region read replica promotion exists for Aurora MySQL only; ' +
        "aurora-postgresql's cross-Region DR is a Global Database: use method global-failover (or auto)",
    );
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(0);
  });

  it('refuses auto for an Aurora PostgreSQL cluster in no global database', async () => {
    rds.addCluster('lonely-pg', { earliest: new Date(0), latest: new Date() });
    const failure = await failureOf(failover.plan(planContext(), failover.params.parse({ cluster: 'lonely-pg', region: 'us-west-2' })));
    expect(failure.message).toBe(
      'cannot choose a failover method for lonely-pg (us-west-2, aurora-postgresql): it is not a member of any global cluster, and cross-Region read replica promotion exists for Aurora MySQL only',
    );
  });

  it('a cancelled failover fails the step clearly, at once', async () => {
    postgresGlobal();
    rds.globalFailoverMs = 1_500;
    const p = failover.params.parse({ cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });
    const running = failureOf(failover.run(stepContext({ timeoutMs: 60_000 }), p));
    await new Promise((r) => setTimeout(r, 200));
    rds.cancelGlobalFailover('prod-global');
    const failure = await running;

    expect(failure.permanent).toBe(true);
    expect(failure.message).toMatch(/the failover to prod-aurora-dr did not happen: the failover of global cluster prod-global to .*prod-aurora-dr is being cancelled \(FailoverState cancelling\)/);
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora');
  });

  it('a failover that ended without the target as the writer fails the step', async () => {
    postgresGlobal();
    rds.globalFailoverMs = 400;
    const p = failover.params.parse({ cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });
    // Cancelled and over before the step looks again (it polls every few hundred ms at most).
    const running = failureOf(failover.run(stepContext({ timeoutMs: 60_000 }), p));
    await new Promise((r) => setTimeout(r, 50));
    const f = rds.globalFailovers.get('prod-global');
    if (f) {
      f.cancelling = true;
      f.until = Date.now();
    }
    const failure = await running;
    expect(failure.permanent).toBe(true);
    expect(failure.message).toContain(`ended without it as the writer (cancelled; the writer is arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora)`);
  });

  it('per-region RDS endpoints: the DR region does not reuse the primary region\'s override', async () => {
    const other = await new FakeRds().start();
    try {
      rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' });
      const { ConfigSchema: configSchema } = await import('../../../src/config/schema.ts');
      const parsed = configSchema.shape.aws.parse({ rdsEndpointUrl: other.url, rdsEndpointUrls: `us-west-2=${rds.url}, us-east-1=${other.url}` });
      expect(parsed.rdsEndpointUrls).toEqual({ 'us-west-2': rds.url, 'us-east-1': other.url });
      const step = withClients(failoverStep(), createStepClients({ aws: { ...parsed, region: 'us-east-1' }, kubernetes: {} }));
      await step.plan(planContext(), step.params.parse({ cluster: 'prod-aurora-replica', region: 'us-west-2' }));
      expect(rds.callsTo('DescribeDBClusters')).toHaveLength(1);
      expect(other.calls).toHaveLength(0);
      expect(() => configSchema.shape.aws.parse({ rdsEndpointUrls: 'us-west-2' })).toThrow(/must be region=http\(s\)-URL/);
    } finally {
      await other.stop();
    }
  });
});
