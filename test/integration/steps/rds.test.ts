import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWriterStep } from '../../../src/steps/rds/create-writer.ts';
import { restorePitrStep } from '../../../src/steps/rds/restore-pitr.ts';
import { restoreSnapshotStep } from '../../../src/steps/rds/restore-snapshot.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;

describe('RDS steps against a fake RDS (query protocol, real SDK)', () => {
  let rds: FakeRds;
  let pitr: ReturnType<typeof restorePitrStep>;
  let writer: ReturnType<typeof createWriterStep>;
  let snapshot: ReturnType<typeof restoreSnapshotStep>;
  let earliest: Date;
  let latest: Date;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    const clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: {} });
    pitr = withClients(restorePitrStep(), clients);
    writer = withClients(createWriterStep(), clients);
    snapshot = withClients(restoreSnapshotStep(), clients);
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.neverReady.clear();
    rds.creatingMs = 300;
    earliest = new Date(Date.now() - 7 * 24 * HOUR);
    latest = new Date(Date.now() - 5 * 60_000);
    rds.addCluster('prod-aurora', { earliest, latest, writerClass: 'db.r6g.2xlarge' });
  });

  describe('rds.restore-pitr', () => {
    const params = (to: string, restoreType: 'full-copy' | 'copy-on-write' = 'full-copy') => pitr.params.parse({ source: 'prod-aurora', to, restoreType });

    it('plans a restore into a new cluster named after the run, in the source network', async () => {
      const to = new Date(Date.now() - 2 * HOUR).toISOString();
      const lines = await pitr.plan(planContext('rabc1234'), params(to));
      expect(lines).toEqual([
        {
          action: 'create',
          resource: 'rds cluster prod-aurora-dr-rabc1234',
          detail: `restore prod-aurora to ${to} as new cluster prod-aurora-dr-rabc1234 (full-copy, subnet group prod-db-subnets, security groups sg-0db00000000000001); prod-aurora is not changed; copied from prod-aurora: cluster parameter group default.aurora-postgresql15, port 5432, IAM authentication off, deletion protection off, copy tags to snapshots off`,
        },
      ]);
      expect(rds.calls.map((c) => c.action)).toEqual(['DescribeDBClusters']);
    });

    it('refuses a time outside the restorable window, saying what the window is', async () => {
      const tooOld = new Date(earliest.getTime() - HOUR).toISOString();
      expect((await failureOf(pitr.plan(planContext(), params(tooOld)))).message).toBe(
        `${tooOld} is outside the restorable window of prod-aurora: ${earliest.toISOString()} to ${latest.toISOString()}`,
      );
      const tooNew = new Date(Date.now() - 60_000).toISOString();
      expect((await failureOf(pitr.plan(planContext(), params(tooNew)))).message).toMatch(
        /is outside the restorable window of prod-aurora: .* \(the latest restorable time is \d+m( \d+s)? ago\)$/,
      );
    });

    it('refuses a future time, a malformed time, a copy-on-write restore to a time, and an unknown source', async () => {
      const future = new Date(Date.now() + HOUR).toISOString();
      expect((await failureOf(pitr.plan(planContext(), params(future)))).message).toContain(`${future} is in the future; the restorable window of prod-aurora is`);
      expect((await failureOf(pitr.plan(planContext(), params('yesterday')))).message).toContain('"yesterday" is not a time');
      expect((await failureOf(pitr.plan(planContext(), params(latest.toISOString(), 'copy-on-write')))).message).toContain(
        'a copy-on-write clone restores only to the latest restorable time',
      );
      const unknown = await failureOf(pitr.plan(planContext(), pitr.params.parse({ source: 'prod-auroa', to: 'latest' })));
      expect(unknown).toEqual({ message: 'there is no DB cluster "prod-auroa" in this account and region', permanent: true });
    });

    it('restores to a time with RestoreToTime only, copying subnet group and security groups, tagged with the run', async () => {
      const to = new Date(Date.now() - 3 * HOUR).toISOString();
      const out = await pitr.run(stepContext({ runId: 'rabc1234' }), params(to));

      expect(out).toEqual({ clusterId: 'prod-aurora-dr-rabc1234', restorePoint: to, source: 'prod-aurora' });
      const [call] = rds.callsTo('RestoreDBClusterToPointInTime');
      expect(call?.params).toMatchObject({
        SourceDBClusterIdentifier: 'prod-aurora',
        DBClusterIdentifier: 'prod-aurora-dr-rabc1234',
        RestoreType: 'full-copy',
        RestoreToTime: to,
        DBSubnetGroupName: 'prod-db-subnets',
        'VpcSecurityGroupIds.VpcSecurityGroupId.1': 'sg-0db00000000000001',
        'Tags.Tag.1.Key': 'dr-chatops:run',
        'Tags.Tag.1.Value': 'rabc1234',
      });
      expect(call?.params).not.toHaveProperty('UseLatestRestorableTime');
    });

    it('restores to the latest time with UseLatestRestorableTime only, and reports which time that was', async () => {
      const out = await pitr.run(stepContext({ runId: 'rlatest1' }), params('latest', 'copy-on-write'));
      const [call] = rds.callsTo('RestoreDBClusterToPointInTime');
      expect(call?.params).toMatchObject({ UseLatestRestorableTime: 'true', RestoreType: 'copy-on-write' });
      expect(call?.params).not.toHaveProperty('RestoreToTime');
      expect(out.restorePoint).toBe(latest.toISOString());
    });

    it('re-entered after a crash, adopts the cluster it created instead of restoring twice', async () => {
      const first = await pitr.run(stepContext({ runId: 'rcrash01' }), params('latest'));
      const again = await pitr.run(stepContext({ runId: 'rcrash01', attempt: 2 }), params('latest'));
      expect(again).toEqual(first);
      expect(rds.callsTo('RestoreDBClusterToPointInTime')).toHaveLength(1);
    });

    it('refuses to adopt a cluster with its name that another run or a person created', async () => {
      rds.addCluster('prod-aurora-dr-rother01', { earliest, latest });
      const failure = await failureOf(pitr.run(stepContext({ runId: 'rother01' }), params('latest')));
      expect(failure).toEqual({
        message: 'a DB cluster named prod-aurora-dr-rother01 already exists and was not created by this run; choose another target name or delete it',
        permanent: true,
      });
      expect(rds.callsTo('RestoreDBClusterToPointInTime')).toHaveLength(0);
    });

    it('rides out throttling (the SDK retries it)', async () => {
      rds.failNext('DescribeDBClusters', { code: 'Throttling', message: 'Rate exceeded' }, 2);
      const lines = await pitr.plan(planContext(), params('latest'));
      expect(lines).toHaveLength(1);
      expect(rds.callsTo('DescribeDBClusters')).toHaveLength(3);
    });
  });

  describe('rds.create-writer', () => {
    it('waits for the cluster, creates a writer with the source writer\'s class, waits, outputs the endpoint', async () => {
      await pitr.run(stepContext({ runId: 'rwriter1' }), pitr.params.parse({ source: 'prod-aurora', to: 'latest' }));
      const ctx = stepContext({ runId: 'rwriter1' });
      const out = await writer.run(ctx, writer.params.parse({ cluster: 'prod-aurora-dr-rwriter1', copyClassFrom: 'prod-aurora' }));

      expect(out).toEqual({
        writerEndpoint: 'prod-aurora-dr-rwriter1.cluster-abc123.us-east-1.rds.amazonaws.com',
        readerEndpoint: 'prod-aurora-dr-rwriter1.cluster-ro-abc123.us-east-1.rds.amazonaws.com',
        port: 5432,
        instanceId: 'prod-aurora-dr-rwriter1-writer',
      });
      const creates = rds.callsTo('CreateDBInstance');
      expect(creates).toHaveLength(1);
      expect(creates[0]?.params).toMatchObject({
        DBInstanceIdentifier: 'prod-aurora-dr-rwriter1-writer',
        DBClusterIdentifier: 'prod-aurora-dr-rwriter1',
        DBInstanceClass: 'db.r6g.2xlarge',
        Engine: 'aurora-postgresql',
      });
      expect(ctx.progressMessages.some((m) => m.startsWith('waiting for cluster prod-aurora-dr-rwriter1 to be available: creating'))).toBe(true);
    });

    it('re-entered, adopts the writer it created', async () => {
      await pitr.run(stepContext({ runId: 'rwriter2' }), pitr.params.parse({ source: 'prod-aurora', to: 'latest' }));
      const p = writer.params.parse({ cluster: 'prod-aurora-dr-rwriter2', instanceClass: 'db.r6g.large' });
      await writer.run(stepContext({ runId: 'rwriter2' }), p);
      await writer.run(stepContext({ runId: 'rwriter2', attempt: 2 }), p);
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(1);
    });

    it('fails cleanly when the cluster never becomes available before the deadline', async () => {
      await pitr.run(stepContext({ runId: 'rstuck01' }), pitr.params.parse({ source: 'prod-aurora', to: 'latest' }));
      rds.neverReady.add('prod-aurora-dr-rstuck01');
      const failure = await failureOf(
        writer.run(stepContext({ runId: 'rstuck01', timeoutMs: 1_500 }), writer.params.parse({ cluster: 'prod-aurora-dr-rstuck01', instanceClass: 'db.r6g.large' })),
      );
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^gave up waiting for cluster prod-aurora-dr-rstuck01 to be available: still creating after [\d.]+m?s$/);
      expect(rds.callsTo('CreateDBInstance')).toHaveLength(0);
    });

    it('needs a class or a cluster to copy it from', async () => {
      expect((await failureOf(writer.plan(planContext(), writer.params.parse({ cluster: 'x' })))).message).toBe(
        "give instanceClass, or copyClassFrom to use the source writer's class",
      );
    });
  });

  describe('rds.restore-snapshot', () => {
    beforeEach(() => {
      const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR);
      rds.addSnapshot({ id: 'rds:prod-aurora-2026-11-24-03-00', clusterId: 'prod-aurora', createdAt: at(30), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
      rds.addSnapshot({ id: 'pre-upgrade-snapshot', clusterId: 'prod-aurora', createdAt: at(6), engine: 'aurora-postgresql', engineVersion: '15.5', type: 'manual' });
      rds.addSnapshot({ id: 'other-cluster-snap', clusterId: 'other', createdAt: at(1), engine: 'aurora-postgresql', engineVersion: '15.5', type: 'manual' });
    });

    it('plans the newest snapshot of the source, with its age', async () => {
      const [line] = await snapshot.plan(planContext('rsnap001'), snapshot.params.parse({ source: 'prod-aurora' }));
      expect(line?.detail).toMatch(/^restore snapshot pre-upgrade-snapshot \(manual, taken .*, 6h old\) as new cluster prod-aurora-dr-rsnap001/);
    });

    it('refuses an unknown snapshot, listing the newest ones', async () => {
      const failure = await failureOf(snapshot.plan(planContext(), snapshot.params.parse({ source: 'prod-aurora', snapshot: 'nope' })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^there is no available snapshot "nope" of prod-aurora; the newest are: pre-upgrade-snapshot \(manual.*; rds:prod-aurora-2026-11-24-03-00 \(automated/);
    });

    it('restores with the snapshot\'s engine and version, once, and reports the restore point', async () => {
      const p = snapshot.params.parse({ source: 'prod-aurora', snapshot: 'latest' });
      const out = await snapshot.run(stepContext({ runId: 'rsnap002' }), p);
      const again = await snapshot.run(stepContext({ runId: 'rsnap002', attempt: 2 }), p);
      expect(again).toEqual(out);
      expect(out.snapshotId).toBe('pre-upgrade-snapshot');
      const calls = rds.callsTo('RestoreDBClusterFromSnapshot');
      expect(calls).toHaveLength(1);
      expect(calls[0]?.params).toMatchObject({ SnapshotIdentifier: 'pre-upgrade-snapshot', Engine: 'aurora-postgresql', EngineVersion: '15.5', DBSubnetGroupName: 'prod-db-subnets' });
    });
  });
});
