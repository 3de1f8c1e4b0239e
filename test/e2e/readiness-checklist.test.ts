import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ItemResult, ReadinessReport } from '../../src/steps/readiness/report.ts';
import { parseReadinessReport } from '../../src/steps/readiness/report.ts';
import { ALICE, SHIPPED_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { recordPassingDrills } from '../support/drills.ts';
import { ago, BOT_KEY, DR_CLUSTER, DR_ROLE, Estate, IMAGE, PROD_CLUSTER, RECORD, SECRET, STATE_BUCKET } from '../support/estate.ts';

/**
 * The shipped readiness-check on the real engine (real Redis) against a
 * whole estate of strict loopback fakes: production with the bot's keys, the
 * DR region through its assumed role. A healthy estate passes every item on
 * both targets; each thing the DR plan depends on, broken one at a time, fails
 * exactly its item, with a reason and a fix; an API that does not answer
 * makes its items unknown, never a pass.
 */
describe('readiness checklist, end to end', () => {
  let estate: Estate;
  let engine: TestEngine;

  beforeEach(async () => {
    estate = await new Estate().start();
    estate.healthy();
    engine = await startTestEngine({ commandsDir: SHIPPED_COMMANDS, targets: estate.targets() });
    // A healthy estate's drill record: a recent passing drill of every scenario, restore tests within their RTO.
    await recordPassingDrills(engine.redis, engine.prefix);
  });
  afterEach(async () => {
    await engine.stop();
    await estate.stop();
  });

  const check = async (extra: Record<string, string | number> = {}): Promise<ReadinessReport> => {
    const run = await engine.service.create({
      runbookId: 'readiness-check',
      params: { drTarget: 'dr', cluster: PROD_CLUSTER, drCluster: DR_CLUSTER, stateBucket: STATE_BUCKET, dnsRecord: RECORD, ...extra },
      requester: ALICE,
    });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed'], 60_000);
    expect(done.failure).toBeUndefined();
    const report = parseReadinessReport(done.steps.summary?.outputs?.report);
    if (!report) throw new Error('the run has no readiness report');
    return report;
  };
  const items = (report: ReadinessReport) => report.targets.flatMap((t) => t.items.map((i) => ({ ...i, target: t.target })));
  const withStatus = (report: ReadinessReport, status: ItemResult['status']) =>
    items(report)
      .filter((i) => i.status === status)
      .map((i) => `${i.target} ${i.id}`);

  it('a healthy estate: every item passes on both targets, and every scenario is within its RPO', async () => {
    const report = await check();
    expect(report.targets.map((t) => [t.target, t.role])).toEqual([
      ['prod', 'primary'],
      ['dr', 'dr'],
    ]);
    // Every item that was not a pass, with its reason, so a failure here says what went wrong.
    expect(items(report).filter((i) => i.status !== 'pass').map((i) => `${i.target} ${i.id}: ${i.status}: ${i.reason}`)).toEqual([]);
    const ids = items(report).map((i) => `${i.target} ${i.id}`);
    expect(ids).toEqual(
      expect.arrayContaining([
        'prod bot.role',
        'prod bot.runbooks-plan',
        'prod drills.recent.complete-infrastructure-loss',
        'prod drills.restore-time',
        'prod velero.schedule.hourly-backup',
        'prod velero.schedule.daily-full-backup',
        'prod velero.backup.hourly-backup',
        'prod velero.backup.daily-full-backup',
        'prod velero.location.default',
        `prod aurora.retention.${PROD_CLUSTER}`,
        `prod aurora.restorable.${PROD_CLUSTER}`,
        `prod aurora.deletion-protection.${PROD_CLUSTER}`,
        `prod aurora.snapshot.${PROD_CLUSTER}`,
        `prod aurora.global.${PROD_CLUSTER}`,
        'prod images.replication',
        `prod secrets.replica.${SECRET}`,
        'prod terraform.versioning',
        'prod dns.failover-pair.api.dr-test.localhost.',
        'prod dns.health.api.dr-test.localhost.',
        'dr bot.role',
        'dr velero.location.default',
        'dr velero.dr-sees-backups',
        'dr images.in-dr-region',
        `dr aurora.dr-available.${DR_CLUSTER}`,
        `dr aurora.replication-lag.${DR_CLUSTER}`,
        'dr dr-region.eks-active',
        'dr dr-region.nodegroup.pilot-light',
        'dr dr-region.kubernetes',
      ]),
    );
    expect(report.exposures.map((e) => [e.scenario, e.status])).toEqual([
      ['single-az-failure', 'pass'],
      ['region-outage', 'pass'],
      ['data-corruption', 'pass'],
      ['accidental-deletion', 'pass'],
      ['complete-infrastructure-loss', 'pass'],
    ]);
    const exposure = Object.fromEntries(report.exposures.map((e) => [e.scenario, e.exposureSeconds]));
    // The replication lag CloudWatch reported (900 ms), the newest hourly backup (10 min), the restorable time (1 min).
    expect(exposure['region-outage']).toBe(1);
    expect(exposure['single-az-failure']).toBe(0);
    expect(exposure['accidental-deletion']).toBeGreaterThanOrEqual(600);
    expect(exposure['accidental-deletion']).toBeLessThan(700);
  });

  it('needs no approval, changes nothing, reads production with the bot\'s own keys and the DR region with one session named after the run', async () => {
    const run = await engine.service.create({ runbookId: 'readiness-check', params: { drTarget: 'dr', cluster: PROD_CLUSTER, drCluster: DR_CLUSTER, stateBucket: STATE_BUCKET, dnsRecord: RECORD }, requester: ALICE });
    expect(run.state).toBe('approved');
    expect((await engine.waitForState(run.id, ['succeeded', 'failed'], 60_000)).state).toBe('succeeded');

    expect(estate.sts.callsTo('AssumeRole').map((c) => c.sessionName)).toEqual([`dr-chatops-${run.id}`]);
    const [session] = [...estate.sts.sessions.keys()];
    expect(session).toMatch(/^ASIA/);
    const signers = (calls: { accessKeyId?: string | undefined; region?: string | undefined }[], region: string) => [...new Set(calls.filter((c) => c.region === region).map((c) => c.accessKeyId))];
    for (const fake of [estate.ecr, estate.secrets, estate.cloudwatch]) {
      expect(signers(fake.calls, 'us-east-1').every((k) => k === BOT_KEY)).toBe(true);
      expect(signers(fake.calls, 'us-west-2').every((k) => k === session)).toBe(true);
    }
    expect(new Set(estate.rds.callers.map((c) => c.accessKeyId))).toEqual(new Set([BOT_KEY]));
    expect(new Set(estate.rdsDr.callers.map((c) => c.accessKeyId))).toEqual(new Set([session]));
    // Reads only, everywhere.
    const operations = [...estate.rds.calls, ...estate.rdsDr.calls].map((c) => c.action);
    expect(operations.filter((op) => !/^Describe/.test(op))).toEqual([]);
    expect([...estate.ecr.calls, ...estate.secrets.calls, ...estate.cloudwatch.calls].map((c) => c.operation).filter((op) => !/^(Describe|Get|List)/.test(op))).toEqual([]);
    expect(estate.route53.calls.map((c) => c.operation).filter((op) => !/^(Get|List)/.test(op))).toEqual([]);
    expect(estate.kube.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });

  const breakages: { what: string; breaks: (e: Estate) => void; fails: string; reason: RegExp }[] = [
    { what: 'a Velero schedule removed', breaks: (e) => e.kube.velero.objects.delete('schedules/velero/hourly-backup'), fails: 'prod velero.schedule.hourly-backup', reason: /no schedule hourly-backup/ },
    {
      what: "a schedule's TTL changed",
      breaks: (e) => {
        e.kube.velero.setSchedule('hourly-backup', { schedule: '0 * * * *', includedNamespaces: ['production'], ttl: '72h0m0s' });
      },
      fails: 'prod velero.schedule.hourly-backup',
      reason: /backups live 72h0m0s, not 168h/,
    },
    {
      what: 'the newest backup Failed',
      breaks: (e) => {
        e.kube.addBackup('hourly-backup-20261207060000', { schedule: 'hourly-backup', phase: 'Failed', completedAt: ago(0.05) });
      },
      fails: 'prod velero.backup.hourly-backup',
      reason: /hourly-backup-20261207060000\) ended Failed/,
    },
    {
      what: 'backup retention cut to 7 days',
      breaks: (e) => {
        const cluster = e.rds.clusters.get(PROD_CLUSTER);
        if (cluster) cluster.backupRetentionPeriod = 7;
      },
      fails: `prod aurora.retention.${PROD_CLUSTER}`,
      reason: /reach back 7 days only; the plan keeps 35/,
    },
    {
      what: 'replication lag over the RPO',
      breaks: (e) => e.cloudwatch.putDatapoints('us-west-2', { namespace: 'AWS/RDS', metricName: 'AuroraGlobalDBRPOLag', dimensions: { DBClusterIdentifier: DR_CLUSTER } }, [{ at: Date.now() - 30_000, value: 20 * 60_000 }]),
      fails: `dr aurora.replication-lag.${DR_CLUSTER}`,
      reason: /would lose 20m of data; the plan allows 15 min/,
    },
    { what: 'ECR replication removed', breaks: (e) => e.ecr.setReplicationConfiguration('us-east-1', []), fails: 'prod images.replication', reason: /Not replicated to us-west-2: api-gateway/ },
    { what: 'an image absent in the DR region', breaks: (e) => e.ecr.deleteImage('us-west-2', IMAGE.repository, { digest: IMAGE.digest }), fails: 'dr images.in-dr-region', reason: /Missing in the DR region: api-gateway@sha256/ },
    { what: "a secret's replica Failed", breaks: (e) => e.secrets.setReplicaStatus('us-east-1', SECRET, 'us-west-2', 'Failed', 'Access denied to the KMS key'), fails: `prod secrets.replica.${SECRET}`, reason: /is Failed: Access denied to the KMS key/ },
    { what: "the state bucket's versioning suspended", breaks: (e) => e.s3.setVersioning(STATE_BUCKET, 'Suspended'), fails: 'prod terraform.versioning', reason: /does not keep old versions/ },
    { what: 'a health check unhealthy', breaks: (e) => e.route53.setHealth(e.healthCheckId, false), fails: 'prod dns.health.api.dr-test.localhost.', reason: /Unhealthy: / },
  ];

  for (const { what, breaks, fails, reason } of breakages) {
    it(`${what}: exactly that item fails, saying why and how to fix it`, async () => {
      breaks(estate);
      const report = await check();
      expect(withStatus(report, 'fail')).toEqual([fails]);
      const failed = items(report).find((i) => `${i.target} ${i.id}` === fails);
      expect(failed?.reason).toMatch(reason);
      expect(failed?.fix).toBeTruthy();
    });
  }

  it("the DR role not assumable: that item fails, and the DR region's other items are unknown, never a pass", async () => {
    estate.sts.addRole(DR_ROLE, { trustedAccessKeys: [BOT_KEY_OTHER], externalId: 'another-external-id' });
    const report = await check();
    expect(withStatus(report, 'fail')).toEqual(['dr bot.role']);
    expect(items(report).find((i) => i.target === 'dr' && i.id === 'bot.role')?.reason).toMatch(/STS refused the bot's credentials for dr/);
    const dr = items(report).filter((i) => i.target === 'dr' && i.id !== 'bot.role');
    expect(dr.length).toBeGreaterThan(3);
    expect(new Set(dr.map((i) => i.status))).toEqual(new Set(['unknown']));
    // What the DR region's data depends on is unknown too, not zero.
    expect(report.exposures.find((e) => e.scenario === 'region-outage')).toMatchObject({ status: 'unknown' });
  });

  it('an API that does not answer in time makes its items unknown, and the rest are still measured', async () => {
    estate.ecr.failNext('DescribeRegistry', { delayMs: 5_000 });
    const report = await check({ apiTimeoutSeconds: 1 });
    expect(withStatus(report, 'unknown')).toEqual(['prod images.replication']);
    expect(items(report).find((i) => i.id === 'images.replication')?.reason).toMatch(/no answer within 1 s/);
    expect(withStatus(report, 'fail')).toEqual([]);
  });
});

const BOT_KEY_OTHER = 'AKIAFAKEFAKEFAKE0999';
