/**
 * What the RDS restores carry over to the new cluster, and the tags they put
 * on it, against the fake RDS (query protocol, real SDK), which refuses
 * invalid tags and a db.serverless instance in a cluster without Serverless v2
 * scaling as RDS does (API-FACTS 7.1).
 */
import { type DBCluster, DescribeDBClustersCommand, type RDSClient, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWriterStep } from '../../../src/steps/rds/create-writer.ts';
import { restorePitrStep } from '../../../src/steps/rds/restore-pitr.ts';
import { listSnapshots, restoreSnapshotStep } from '../../../src/steps/rds/restore-snapshot.ts';
import { buildTags } from '../../../src/steps/rds/tags.ts';
import { type FakeClusterSettings, FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
const PROD_SETTINGS: FakeClusterSettings = {
  parameterGroup: 'prod-aurora-pg15',
  port: 6432,
  iamAuth: true,
  deletionProtection: true,
  logExports: ['postgresql', 'upgrade'],
  copyTagsToSnapshot: true,
  serverlessV2: { min: 0.5, max: 16 },
};

/** The settings of a cluster as DescribeDBClusters reports them. */
function settingsOf(c: DBCluster | undefined) {
  return {
    DBClusterParameterGroup: c?.DBClusterParameterGroup,
    Port: c?.Port,
    IAMDatabaseAuthenticationEnabled: c?.IAMDatabaseAuthenticationEnabled,
    DeletionProtection: c?.DeletionProtection,
    EnabledCloudwatchLogsExports: c?.EnabledCloudwatchLogsExports ?? [],
    CopyTagsToSnapshot: c?.CopyTagsToSnapshot,
    ServerlessV2ScalingConfiguration: c?.ServerlessV2ScalingConfiguration,
  };
}

describe('RDS restores: tags and the settings a replacement cluster needs', () => {
  let rds: FakeRds;
  let client: RDSClient;
  let pitr: ReturnType<typeof restorePitrStep>;
  let snapshot: ReturnType<typeof restoreSnapshotStep>;
  let writer: ReturnType<typeof createWriterStep>;
  let earliest: Date;
  let latest: Date;

  const describeCluster = async (id: string) => (await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters?.[0];

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    const clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: {} });
    client = clients.aws.rds();
    pitr = withClients(restorePitrStep(), clients);
    snapshot = withClients(restoreSnapshotStep(), clients);
    writer = withClients(createWriterStep(), clients);
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.creatingMs = 200;
    earliest = new Date(Date.now() - 7 * 24 * HOUR);
    latest = new Date(Date.now() - 5 * 60_000);
    rds.addCluster('prod-aurora', { earliest, latest, writerClass: 'db.serverless', settings: PROD_SETTINGS });
    rds.addCluster('prov-aurora', { earliest, latest, writerClass: 'db.r6g.large' });
  });

  describe('tags', () => {
    it('the fake refuses tags RDS refuses: an rds: or aws: value, an aws: key, a value over 256 or a key over 128 characters', async () => {
      rds.addSnapshot({ id: 'manual-1', clusterId: 'prod-aurora', createdAt: new Date(), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
      const restore = (Key: string, Value: string) =>
        failureOf(client.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: 'x-tags', SnapshotIdentifier: 'manual-1', Engine: 'aurora-postgresql', Tags: [{ Key, Value }] })));
      for (const [key, value] of [
        ['dr-chatops:snapshot', 'rds:prod-aurora-2026-11-24-03-00@2026-11-24T03:00:00.000Z'],
        ['dr-chatops:snapshot', 'aws:x'],
        ['aws:owner', 'me'],
        ['dr-chatops:snapshot', 'x'.repeat(257)],
        ['k'.repeat(129), 'v'],
      ] as const) {
        const failure = await restore(key, value);
        expect(failure.message).toMatch(/^Tag (key|value|keys|values) /);
      }
      expect(rds.clusters.has('x-tags')).toBe(false);
      const names = (await Promise.allSettled([client.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: 'x-tags', SnapshotIdentifier: 'manual-1', Engine: 'aurora-postgresql', Tags: [{ Key: 'a', Value: 'rds:b' }] }))])).map(
        (r) => (r.status === 'rejected' ? (r.reason as Error).name : 'ok'),
      );
      expect(names).toEqual(['InvalidParameterValue']);
    });

    it('restores an automated (rds:) snapshot with valid tags, says so, and still reports the rds: id, on re-entry too', async () => {
      const takenAt = new Date(Date.now() - 3 * HOUR);
      rds.addSnapshot({ id: 'rds:prod-aurora-2026-11-24-03-00', clusterId: 'prod-aurora', createdAt: takenAt, engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
      const p = snapshot.params.parse({ source: 'prod-aurora', snapshot: 'latest' });
      const [line] = await snapshot.plan(planContext('rauto001'), p);
      expect(line?.detail).toContain('tag dr-chatops:snapshot drops the leading "rds:" of "rds:prod-aurora-2026-11-24-03-00" (RDS tag values may not begin with aws: or rds:)');

      const ctx = stepContext({ runId: 'rauto001' });
      const out = await snapshot.run(ctx, p);
      expect(out).toEqual({ clusterId: 'prod-aurora-dr-rauto001', snapshotId: 'rds:prod-aurora-2026-11-24-03-00', restorePoint: takenAt.toISOString() });
      expect(ctx.progressMessages.some((m) => m.startsWith('tag dr-chatops:snapshot drops the leading "rds:"'))).toBe(true);
      expect(rds.clusters.get('prod-aurora-dr-rauto001')?.tags).toEqual({
        'dr-chatops:run': 'rauto001',
        'dr-chatops:snapshot': `prod-aurora-2026-11-24-03-00@${takenAt.toISOString()}`,
        'dr-chatops:snapshot-type': 'automated',
      });
      expect(await snapshot.run(stepContext({ runId: 'rauto001', attempt: 2 }), p)).toEqual(out);
      expect(rds.callsTo('RestoreDBClusterFromSnapshot')).toHaveLength(1);
    });

    it('cuts a long snapshot id so the tag fits 256 characters and keeps the snapshot time whole', async () => {
      const takenAt = new Date(Date.now() - HOUR);
      const id = `s${'x'.repeat(250)}`;
      rds.addSnapshot({ id, clusterId: 'prod-aurora', createdAt: takenAt, engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
      const out = await snapshot.run(stepContext({ runId: 'rlong001' }), snapshot.params.parse({ source: 'prod-aurora', snapshot: id }));
      const value = rds.clusters.get('prod-aurora-dr-rlong001')?.tags['dr-chatops:snapshot'] ?? '';
      expect(value).toHaveLength(256);
      expect(value.endsWith(`@${takenAt.toISOString()}`)).toBe(true);
      expect(out.restorePoint).toBe(takenAt.toISOString());
      expect(id.startsWith(String(out.snapshotId))).toBe(true);
    });

    it('buildTags refuses a reserved key and strips every reserved value prefix', () => {
      expect(() => buildTags({ 'aws:x': 'v' })).toThrow('invalid RDS tag key "aws:x"');
      expect(buildTags({ k: 'AWS:rds:v' }).tags).toEqual([{ Key: 'k', Value: 'v' }]);
    });
  });

  describe('settings', () => {
    it('restore-pitr gives the new cluster the source\'s settings, and the plan lists them', async () => {
      const p = pitr.params.parse({ source: 'prod-aurora', to: 'latest' });
      const [line] = await pitr.plan(planContext('rset0001'), p);
      expect(line?.detail).toContain(
        'copied from prod-aurora: cluster parameter group prod-aurora-pg15, port 6432, IAM authentication on, deletion protection on, log exports postgresql+upgrade, copy tags to snapshots on, Serverless v2 0.5-16 ACU',
      );
      const out = await pitr.run(stepContext({ runId: 'rset0001' }), p);
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toEqual(settingsOf(await describeCluster('prod-aurora')));
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toMatchObject({ Port: 6432, ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 16 } });
    });

    it('restore-snapshot gives the new cluster the source\'s settings', async () => {
      rds.addSnapshot({ id: 'manual-2', clusterId: 'prod-aurora', createdAt: new Date(Date.now() - HOUR), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual', port: 5432 });
      const out = await snapshot.run(stepContext({ runId: 'rset0002' }), snapshot.params.parse({ source: 'prod-aurora' }));
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toEqual(settingsOf(await describeCluster('prod-aurora')));
    });

    it('a source without deletion protection is copied as it is: the safe defaults are for settings no source has', async () => {
      rds.addSnapshot({ id: 'prov-manual-1', clusterId: 'prov-aurora', createdAt: new Date(Date.now() - HOUR), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
      const p = snapshot.params.parse({ source: 'prov-aurora' });
      const [line] = await snapshot.plan(planContext('rset0004'), p);
      expect(line?.detail).toContain('deletion protection off, copy tags to snapshots off');
      expect(line?.detail).not.toContain('safe default');
      const out = await snapshot.run(stepContext({ runId: 'rset0004' }), p);
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toMatchObject({ DeletionProtection: false, CopyTagsToSnapshot: false });
    });

    it('parameters override what is copied, and the plan says which were given', async () => {
      const p = pitr.params.parse({ source: 'prod-aurora', to: 'latest', port: 5432, deletionProtection: false, logExports: [], serverlessV2: { minCapacity: 1, maxCapacity: 4 } });
      const [line] = await pitr.plan(planContext('rset0003'), p);
      expect(line?.detail).toContain('; given: port 5432, deletion protection off, log exports none, Serverless v2 1-4 ACU');
      const out = await pitr.run(stepContext({ runId: 'rset0003' }), p);
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toEqual({
        ...settingsOf(await describeCluster('prod-aurora')),
        Port: 5432,
        DeletionProtection: false,
        EnabledCloudwatchLogsExports: [],
        ServerlessV2ScalingConfiguration: { MinCapacity: 1, MaxCapacity: 4 },
      });
      const [call] = rds.callsTo('RestoreDBClusterToPointInTime');
      expect(Object.keys(call?.params ?? {}).some((k) => k.startsWith('EnableCloudwatchLogsExports'))).toBe(false);
    });

    it('refuses a Serverless v2 range whose minimum exceeds its maximum', () => {
      expect(() => pitr.params.parse({ source: 'prod-aurora', to: 'latest', serverlessV2: { minCapacity: 8, maxCapacity: 2 } })).toThrow('minCapacity must not exceed maxCapacity');
    });
  });

  describe('restore-snapshot after the source cluster was deleted', () => {
    const KMS = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    /** gone-aurora: a manual snapshot and an automated one, then deleted with a final snapshot, as AWS deletes a cluster. */
    function deleteSource(): { finalAt: Date } {
      rds.addCluster('gone-aurora', { earliest, latest, engineVersion: '16.2', settings: { port: 6432, iamAuth: true } });
      rds.addSnapshot({ id: 'gone-manual-1', clusterId: 'gone-aurora', createdAt: new Date(Date.now() - 5 * HOUR), engine: 'aurora-postgresql', engineVersion: '16.2', type: 'manual', port: 6432, iamAuth: true });
      rds.addSnapshot({ id: 'rds:gone-aurora-2026-11-24-03-00', clusterId: 'gone-aurora', createdAt: new Date(Date.now() - 2 * HOUR), engine: 'aurora-postgresql', engineVersion: '16.2', type: 'automated' });
      rds.deleteCluster('gone-aurora', { finalSnapshotId: 'gone-aurora-final', vpcId: 'vpc-0abc1234', kmsKeyId: KMS, availabilityZones: ['us-east-1a', 'us-east-1b'] });
      return { finalAt: rds.snapshots.find((s) => s.id === 'gone-aurora-final')?.createdAt ?? new Date(0) };
    }

    it('the fake deletes as AWS does: the cluster is not found, its final and manual snapshots stay listed by its id, the automated ones go', async () => {
      deleteSource();
      expect((await failureOf(describeCluster('gone-aurora'))).message).toContain('DBCluster gone-aurora not found');
      const listed = await listSnapshots(client, 'gone-aurora');
      expect(listed.map((s) => [s.DBClusterSnapshotIdentifier, s.SnapshotType])).toEqual([
        ['gone-aurora-final', 'manual'],
        ['gone-manual-1', 'manual'],
      ]);
      expect(listed[0]).toMatchObject({ Engine: 'aurora-postgresql', EngineVersion: '16.2', Port: 6432, IAMDatabaseAuthenticationEnabled: true, VpcId: 'vpc-0abc1234', StorageEncrypted: true, KmsKeyId: KMS });
    });

    it('restores the final snapshot with the snapshot\'s engine and the given network, says so in the plan, and adopts on re-entry', async () => {
      const { finalAt } = deleteSource();
      const p = snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'dr-db-subnets', securityGroups: 'sg-0123456789abcdef0, sg-0fedcba9876543210' });
      const [line] = await snapshot.plan(planContext('rgone001'), p);
      expect(line?.detail).toMatch(/^the source cluster gone-aurora no longer exists \(deleted\); restore its manual snapshot \(a final snapshot taken at deletion is one too\) gone-aurora-final \(manual, taken /);
      expect(line?.detail).toContain(
        `from the snapshot: engine aurora-postgresql 16.2, KMS key ${KMS}, VPC vpc-0abc1234, availability zones us-east-1a, us-east-1b; ` +
          'given: subnet group dr-db-subnets, security groups sg-0123456789abcdef0, sg-0fedcba9876543210; copied from snapshot gone-aurora-final: port 6432, IAM authentication on',
      );

      const out = await snapshot.run(stepContext({ runId: 'rgone001' }), p);
      expect(out).toEqual({ clusterId: 'gone-aurora-dr-rgone001', snapshotId: 'gone-aurora-final', restorePoint: finalAt.toISOString() });
      const restored = rds.clusters.get('gone-aurora-dr-rgone001');
      expect(restored).toMatchObject({ engine: 'aurora-postgresql', engineVersion: '16.2', subnetGroup: 'dr-db-subnets', securityGroups: ['sg-0123456789abcdef0', 'sg-0fedcba9876543210'] });
      expect(restored?.origin).toEqual({ snapshot: 'gone-aurora-final', kmsKeyId: KMS });
      expect(restored?.settings).toMatchObject({ port: 6432, iamAuth: true });

      expect(await snapshot.run(stepContext({ runId: 'rgone001', attempt: 2 }), p)).toEqual(out);
      expect(rds.callsTo('RestoreDBClusterFromSnapshot')).toHaveLength(1);
    });

    it('the replacement is protected from deletion and copies tags to snapshots by default, and the plan says where each setting came from', async () => {
      deleteSource();
      const p = snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'dr-db-subnets', securityGroups: 'sg-0123456789abcdef0', parameterGroup: 'source', deletionProtection: 'source', copyTagsToSnapshot: 'source' });
      const [line] = await snapshot.plan(planContext('rgone005'), p);
      expect(line?.detail).toContain(
        'copied from snapshot gone-aurora-final: port 6432, IAM authentication on; safe default: deletion protection on, copy tags to snapshots on; ' +
          "RDS's default: cluster parameter group (the engine's default.* group; give parameterGroup to use yours)",
      );
      const out = await snapshot.run(stepContext({ runId: 'rgone005' }), p);
      expect(rds.callsTo('RestoreDBClusterFromSnapshot')[0]?.params).toMatchObject({ DeletionProtection: 'true', CopyTagsToSnapshot: 'true' });
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toMatchObject({ DBClusterParameterGroup: 'default.aurora-postgresql16', DeletionProtection: true, CopyTagsToSnapshot: true });
    });

    it('a parameter group, and deletion protection off said explicitly, are used as given', async () => {
      deleteSource();
      rds.clusterParameterGroups.add('gone-pg16');
      const p = snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'dr-db-subnets', securityGroups: 'sg-0123456789abcdef0', parameterGroup: 'gone-pg16', deletionProtection: 'off' });
      const [line] = await snapshot.plan(planContext('rgone006'), p);
      expect(line?.detail).toContain('given: cluster parameter group gone-pg16, deletion protection off; copied from snapshot gone-aurora-final: port 6432, IAM authentication on; safe default: copy tags to snapshots on');
      const out = await snapshot.run(stepContext({ runId: 'rgone006' }), p);
      expect(settingsOf(await describeCluster(String(out.clusterId)))).toMatchObject({ DBClusterParameterGroup: 'gone-pg16', DeletionProtection: false, CopyTagsToSnapshot: true });
    });

    it('the fake refuses a parameter group that does not exist, as RDS does, and the step fails for good', async () => {
      deleteSource();
      const p = snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'dr-db-subnets', securityGroups: 'sg-0123456789abcdef0', parameterGroup: 'no-such-pg' });
      const failure = await failureOf(snapshot.run(stepContext({ runId: 'rgone007' }), p));
      expect(failure).toEqual({
        permanent: true,
        message: 'restoring snapshot gone-aurora-final failed: DBClusterParameterGroupNotFoundFault: DBClusterParameterGroup not found: no-such-pg',
      });
      expect(rds.clusters.has('gone-aurora-dr-rgone007')).toBe(false);
    });

    it('restores a named manual snapshot of the deleted cluster', async () => {
      deleteSource();
      const out = await snapshot.run(stepContext({ runId: 'rgone002' }), snapshot.params.parse({ source: 'gone-aurora', snapshot: 'gone-manual-1', subnetGroup: 'dr-db-subnets', securityGroups: ['sg-0123456789abcdef0'] }));
      expect(out.snapshotId).toBe('gone-manual-1');
      expect(rds.clusters.get('gone-aurora-dr-rgone002')?.subnetGroup).toBe('dr-db-subnets');
    });

    it('without the network parameters the plan refuses, saying what to pass, and run restores nothing', async () => {
      deleteSource();
      const refused = await failureOf(snapshot.plan(planContext('rgone003'), snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'source', securityGroups: 'source' })));
      expect(refused).toEqual({
        permanent: true,
        message: 'the source cluster gone-aurora no longer exists and its snapshot does not say which subnet group to use (it was in vpc-0abc1234): pass subnetGroup=… securityGroups=…',
      });
      const noGroups = await failureOf(snapshot.plan(planContext('rgone003'), snapshot.params.parse({ source: 'gone-aurora', subnetGroup: 'dr-db-subnets' })));
      expect(noGroups.message).toBe('the source cluster gone-aurora no longer exists and its snapshot does not say which security groups to use (it was in vpc-0abc1234): pass securityGroups=…');
      expect((await failureOf(snapshot.run(stepContext({ runId: 'rgone003' }), snapshot.params.parse({ source: 'gone-aurora' })))).permanent).toBe(true);
      expect(rds.callsTo('RestoreDBClusterFromSnapshot')).toHaveLength(0);
    });

    it('the writer of a cluster restored after deletion needs its class given: same-as-source is refused in the plan, a class is used', async () => {
      deleteSource();
      const copy = writer.params.parse({ cluster: 'gone-aurora-dr-rtest001', copyClassFrom: 'gone-aurora', instanceClass: 'same-as-source' });
      const refused = await failureOf(writer.plan(planContext(), copy));
      expect(refused.permanent).toBe(true);
      expect(refused.message).toContain('gone-aurora no longer exists, so its writer\'s class cannot be copied');
      const given = writer.params.parse({ cluster: 'gone-aurora-dr-rtest001', copyClassFrom: 'gone-aurora', instanceClass: 'db.r6g.large' });
      const [create] = await writer.plan(planContext(), given);
      expect(create?.detail).toContain('(db.r6g.large); copies no DB parameter group, monitoring or Performance Insights from nothing (gone-aurora no longer exists)');
    });

    it('refuses clearly when neither the cluster nor any snapshot of it exists', async () => {
      const refused = await failureOf(snapshot.plan(planContext('rgone004'), snapshot.params.parse({ source: 'never-aurora', subnetGroup: 'dr-db-subnets', securityGroups: ['sg-0123456789abcdef0'] })));
      expect(refused.message).toBe('there is no DB cluster "never-aurora" in this account and region, and no available snapshot of a cluster by that name');
    });
  });

  describe('Serverless v2 writer after a restore', () => {
    it('a db.serverless writer is accepted in a restore of a Serverless v2 source', async () => {
      const restored = await pitr.run(stepContext({ runId: 'rsv2ok01' }), pitr.params.parse({ source: 'prod-aurora', to: 'latest' }));
      const out = await writer.run(stepContext({ runId: 'rsv2ok01' }), writer.params.parse({ cluster: restored.clusterId, copyClassFrom: 'prod-aurora' }));
      expect(out.instanceId).toBe('prod-aurora-dr-rsv2ok01-writer');
      expect(rds.instances.get('prod-aurora-dr-rsv2ok01-writer')?.instanceClass).toBe('db.serverless');
    });

    it('the fake refuses a db.serverless writer in a cluster without a scaling configuration, as RDS does', async () => {
      const restored = await pitr.run(stepContext({ runId: 'rsv2no01' }), pitr.params.parse({ source: 'prov-aurora', to: 'latest' }));
      const failure = await failureOf(writer.run(stepContext({ runId: 'rsv2no01' }), writer.params.parse({ cluster: restored.clusterId, copyClassFrom: 'prod-aurora' })));
      expect(failure.message).toContain('InvalidDBClusterStateFault: Set the Serverless v2 scaling configuration on the parent DB cluster before creating a Serverless v2 DB instance.');
      expect(rds.instances.has('prov-aurora-dr-rsv2no01-writer')).toBe(false);
    });
  });
});
