import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyAwsError, isAwsError } from '../../../src/steps/rds/aws.ts';
import { createWriterStep } from '../../../src/steps/rds/create-writer.ts';
import { failoverStep } from '../../../src/steps/rds/failover.ts';
import { lookAtState, verdictOf } from '../../../src/steps/rds/states.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
/** A step deadline as long as the real writer wait's: a terminal state must end the wait long before it. */
const LONG = 3 * HOUR;
/** "At once": well under any poll backoff towards a 3 h deadline, loose enough for a loaded machine. */
const AT_ONCE_MS = 5_000;

function namedError(name: string): Error {
  const err = new Error('boom');
  err.name = name;
  return err;
}

describe('RDS as AWS really behaves: lowercase identifiers, terminal states, error names', () => {
  let rds: FakeRds;
  let writer: ReturnType<typeof createWriterStep>;
  let failover: ReturnType<typeof failoverStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    // The failover below names the DR region: it has an endpoint of its own (an override serves its target's region only).
    const clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url, rdsEndpointUrls: { 'us-west-2': rds.url } }, kubernetes: {} });
    writer = withClients(createWriterStep(), clients);
    failover = withClients(failoverStep(), clients);
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.calls.length = 0;
    rds.neverReady.clear();
    rds.forcedStatus.clear();
    rds.creatingMs = 300;
    const latest = new Date(Date.now() - 5 * 60_000);
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 24 * HOUR), latest, writerClass: 'db.r6g.2xlarge' });
  });

  /** A restored cluster (available, no instances yet), as a restore leaves it. */
  function restored(id: string): void {
    rds.addCluster(id, { earliest: new Date(), latest: new Date() });
    rds.instances.delete(`${id.toLowerCase()}-instance-1`);
  }

  describe('identifiers are lowercase in RDS', () => {
    it('the fake stores a mixed-case identifier lowercase, as RDS does', () => {
      restored('Prod-Aurora-dr-rMixed00');
      expect([...rds.clusters.keys()]).toContain('prod-aurora-dr-rmixed00');
    });

    it('re-entered with a mixed-case cluster name, adopts its own writer instead of refusing it', async () => {
      restored('prod-aurora-dr-rmixed01');
      const p = writer.params.parse({ cluster: 'Prod-Aurora-dr-rmixed01', instanceClass: 'db.r6g.large' });
      const first = await writer.run(stepContext({ runId: 'rmixed01' }), p);
      const again = await writer.run(stepContext({ runId: 'rmixed01', attempt: 2 }), p);

      expect(again).toEqual(first);
      expect(first.instanceId).toBe('prod-aurora-dr-rmixed01-writer');
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(1);
      expect(rds.callsTo('CreateDBInstance')[0]?.params).toMatchObject({
        DBInstanceIdentifier: 'prod-aurora-dr-rmixed01-writer',
        DBClusterIdentifier: 'prod-aurora-dr-rmixed01',
      });
    });
  });

  describe('terminal states end a wait at once', () => {
    it.each([
      ['incompatible-parameters', 'its parameter group has values the engine cannot start with'],
      ['deleted', 'it is gone or going'],
      ['inaccessible-encryption-credentials', 'RDS cannot use its KMS key'],
      ['incompatible-network', 'its subnet group or VPC cannot hold it'],
    ])('a writer instance that goes %s fails the writer wait with what to do', async (state, advice) => {
      restored('prod-aurora-dr-rterm01');
      rds.forceStatus('prod-aurora-dr-rterm01-writer', state);
      const started = Date.now();
      const failure = await failureOf(
        writer.run(stepContext({ runId: 'rterm01', timeoutMs: LONG }), writer.params.parse({ cluster: 'prod-aurora-dr-rterm01', instanceClass: 'db.r6g.large' })),
      );

      expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
      expect(failure.permanent).toBe(true);
      expect(failure.message.startsWith(`stopped waiting for DB instance prod-aurora-dr-rterm01-writer to be available: it is ${state}, which it does not leave by itself; ${advice}`)).toBe(true);
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(1);
    });

    it.each(['incompatible-restore', 'deleted', 'inaccessible-encryption-credentials'])(
      'a restored cluster that is %s fails the cluster wait before any instance is created',
      async (state) => {
        restored('prod-aurora-dr-rterm02');
        rds.forceStatus('prod-aurora-dr-rterm02', state);
        const started = Date.now();
        const failure = await failureOf(
          writer.run(stepContext({ runId: 'rterm02', timeoutMs: LONG }), writer.params.parse({ cluster: 'prod-aurora-dr-rterm02', instanceClass: 'db.r6g.large' })),
        );

        expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
        expect(failure.permanent).toBe(true);
        expect(failure.message).toMatch(new RegExp(`^stopped waiting for DB cluster prod-aurora-dr-rterm02 to be available: it is ${state}, which it does not leave by itself; .+`));
        expect(rds.callsTo('CreateDBInstance')).toHaveLength(0);
      },
    );

    it('a cluster still in progress keeps the wait going (unknown states too)', () => {
      expect(verdictOf('DB cluster', 'creating')).toBe('in-progress');
      expect(verdictOf('DB instance', 'configuring-enhanced-monitoring')).toBe('in-progress');
      expect(verdictOf('DB instance', 'some-new-state')).toBe('in-progress');
      expect(verdictOf('global cluster', 'failing-over')).toBe('in-progress');
      expect(lookAtState('DB instance', 'x', undefined)).toEqual({ done: false, state: 'not visible yet' });
      expect(lookAtState('DB instance', 'x', 'available')).toEqual({ done: true });
    });

    it('a failover whose cluster goes incompatible-parameters fails at once, not after an hour', async () => {
      rds.addCluster('dr-aurora', { earliest: new Date(), latest: new Date(), engine: 'aurora-mysql' });
      const replica = rds.clusters.get('dr-aurora');
      if (replica) replica.replicationSource = 'prod-aurora';
      rds.forceStatus('dr-aurora', 'incompatible-parameters');
      const started = Date.now();
      const failure = await failureOf(
        failover.run(stepContext({ timeoutMs: HOUR }), failover.params.parse({ method: 'promote-replica', cluster: 'dr-aurora', region: 'us-west-2' })),
      );

      expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^stopped waiting for DB cluster dr-aurora to be a writable, available cluster: it is incompatible-parameters, /);
    });
  });

  describe('error names: SDK shape name or wire code', () => {
    it('recognises both spellings of an error', () => {
      expect(isAwsError(namedError('DBInstanceAlreadyExistsFault'), 'DBInstanceAlreadyExists')).toBe(true);
      expect(isAwsError(namedError('DBInstanceAlreadyExists'), 'DBInstanceAlreadyExistsFault')).toBe(true);
      expect(isAwsError(namedError('ReservedDBInstanceAlreadyExistsFault'), 'DBInstanceAlreadyExists')).toBe(false);
      for (const name of [
        'DBInstanceAlreadyExistsFault',
        'DBInstanceAlreadyExists',
        'DBClusterAlreadyExistsFault',
        'DBClusterAlreadyExists',
        'InvalidVPCNetworkStateFault',
        'InvalidSubnet',
        'DBSubnetGroupDoesNotCoverEnoughAZs',
        'InvalidClientTokenId',
        'SignatureDoesNotMatch',
        'InvalidRestoreFault',
        'KMSKeyNotAccessibleFault',
        // EKS, e.g. UpdateNodegroupConfig with a size outside the group's limits.
        'InvalidRequestException',
      ]) {
        expect(classifyAwsError(namedError(name), 'x').name, name).toBe('PermanentStepError');
      }
      expect(classifyAwsError(namedError('ServiceUnavailable'), 'x').name).toBe('Error');
    });

    it('a lost CreateDBInstance answer (applied, then a 503) makes exactly one instance and the step succeeds', async () => {
      restored('prod-aurora-dr-rlost01');
      rds.failNext('CreateDBInstance', { code: 'ServiceUnavailable', message: 'the answer was lost', status: 503, afterApply: true });
      const out = await writer.run(stepContext({ runId: 'rlost01' }), writer.params.parse({ cluster: 'prod-aurora-dr-rlost01', instanceClass: 'db.r6g.large' }));

      expect(out.instanceId).toBe('prod-aurora-dr-rlost01-writer');
      expect([...rds.instances.values()].filter((i) => i.clusterId === 'prod-aurora-dr-rlost01')).toHaveLength(1);
      // The SDK retried the 503 and met DBInstanceAlreadyExists (SDK name DBInstanceAlreadyExistsFault): adopted, not a second create.
      expect(rds.callsTo('CreateDBInstance').length).toBeGreaterThanOrEqual(2);
    });

    it.each([
      ['InvalidVPCNetworkStateFault', 400],
      ['InvalidSubnet', 400],
      ['DBSubnetGroupDoesNotCoverEnoughAZs', 400],
      ['InvalidClientTokenId', 403],
    ])('a permanent %s is not retried', async (code, status) => {
      restored('prod-aurora-dr-rnet0001');
      rds.failNext('CreateDBInstance', { code, message: `injected ${code}`, status });
      const failure = await failureOf(
        writer.run(stepContext({ runId: 'rnet0001' }), writer.params.parse({ cluster: 'prod-aurora-dr-rnet0001', instanceClass: 'db.r6g.large' })),
      );

      expect(failure.permanent).toBe(true);
      expect(failure.message).toContain(`creating writer prod-aurora-dr-rnet0001-writer failed: ${code}`);
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(1);
      expect(rds.instances.has('prod-aurora-dr-rnet0001-writer')).toBe(false);
    });
  });

  describe('writer settings (create-writer)', () => {
    it('accepts db.serverless as an explicit class', () => {
      expect(writer.params.parse({ cluster: 'c1', instanceClass: 'db.serverless' }).instanceClass).toBe('db.serverless');
      expect(() => writer.params.parse({ cluster: 'c1', instanceClass: 'serverless' })).toThrow();
    });

    it("copies the source writer's DB parameter group, monitoring and Performance Insights, and the plan says so", async () => {
      const source = rds.instances.get('prod-aurora-instance-1');
      if (!source) throw new Error('no source writer');
      source.parameterGroup = 'prod-pg15-tuned';
      source.monitoringInterval = 60;
      source.monitoringRoleArn = 'arn:aws:iam::123456789012:role/rds-monitoring';
      source.performanceInsights = { kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/pi', retentionDays: 7 };
      restored('prod-aurora-dr-rcopy001');
      const p = writer.params.parse({ cluster: 'prod-aurora-dr-rcopy001', copyClassFrom: 'prod-aurora' });

      const [line] = await writer.plan(planContext('rcopy001'), p);
      expect(line?.detail).toBe(
        "create the writer of prod-aurora-dr-rcopy001 (db.r6g.2xlarge); copies from prod-aurora's writer: DB parameter group prod-pg15-tuned, enhanced monitoring every 60s, Performance Insights (7 days)",
      );
      await writer.run(stepContext({ runId: 'rcopy001' }), p);
      expect(rds.callsTo('CreateDBInstance')[0]?.params).toMatchObject({
        DBInstanceClass: 'db.r6g.2xlarge',
        DBParameterGroupName: 'prod-pg15-tuned',
        MonitoringInterval: '60',
        MonitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
        EnablePerformanceInsights: 'true',
        PerformanceInsightsKMSKeyId: 'arn:aws:kms:us-east-1:123456789012:key/pi',
        PerformanceInsightsRetentionPeriod: '7',
      });
      expect(rds.instances.get('prod-aurora-dr-rcopy001-writer')?.parameterGroup).toBe('prod-pg15-tuned');
    });

    it('copies nothing from a source writer with default settings, and says the defaults apply', async () => {
      restored('prod-aurora-dr-rcopy002');
      const [line] = await writer.plan(planContext('rcopy002'), writer.params.parse({ cluster: 'prod-aurora-dr-rcopy002', copyClassFrom: 'prod-aurora' }));
      expect(line?.detail).toBe(
        "create the writer of prod-aurora-dr-rcopy002 (db.r6g.2xlarge); copies no DB parameter group, monitoring or Performance Insights from prod-aurora's writer; RDS defaults apply",
      );
      await writer.run(stepContext({ runId: 'rcopy002' }), writer.params.parse({ cluster: 'prod-aurora-dr-rcopy002', copyClassFrom: 'prod-aurora' }));
      const params = rds.callsTo('CreateDBInstance')[0]?.params ?? {};
      expect(params).not.toHaveProperty('DBParameterGroupName');
      expect(params).not.toHaveProperty('MonitoringInterval');
      expect(params).not.toHaveProperty('EnablePerformanceInsights');
    });
  });
});
