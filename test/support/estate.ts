/**
 * A whole DR estate on loopback fakes, for the readiness checklist: production
 * (`prod`, us-east-1, the bot's own keys) and the DR region (`dr`, us-west-2,
 * through an assumed role), each with its AWS APIs, Kubernetes and Velero.
 * `healthy()` sets everything as the DR plan wants it; a test then breaks one
 * thing and sees exactly that item fail.
 */
import type { Targets } from '../../src/targets/targets.ts';
import { testTargets } from './engine.ts';
import { FakeCloudWatch } from './fake-cloudwatch.ts';
import { FakeEcr } from './fake-ecr.ts';
import { FakeEks } from './fake-eks.ts';
import { FakeKube } from './fake-kube.ts';
import { FakeRds } from './fake-rds.ts';
import { FakeRoute53 } from './fake-route53.ts';
import { FakeS3 } from './fake-s3.ts';
import { FakeSecretsManager } from './fake-secrets-manager.ts';
import { FakeSts } from './fake-sts.ts';
import { VeleroTestCluster } from './velero-cluster.ts';

const HOUR = 3_600_000;
export const ago = (hours: number): Date => new Date(Date.now() - hours * HOUR);

export const DR_ROLE = 'arn:aws:iam::222222222222:role/dr-chatops-target';
export const EXTERNAL_ID = 'dr-chatops-7f3a9c';
export const BOT_KEY = 'AKIAFAKEFAKEFAKE0001';
const BOT_SECRET = 'x'.repeat(40);
export const PROD_CLUSTER = 'prod-aurora-cluster';
export const DR_CLUSTER = 'prod-aurora-dr';
export const STATE_BUCKET = 'dr-terraform-state';
export const RECORD = 'api.dr-test.localhost';
export const IMAGE = { repository: 'api-gateway', registry: '111111111111', digest: `sha256:${'a1'.repeat(32)}` };
export const IMAGE_REF = `${IMAGE.registry}.dkr.ecr.us-east-1.amazonaws.com/${IMAGE.repository}:1.4.2`;
export const SECRET = 'prod/database/credentials';

export class Estate {
  sts!: FakeSts;
  eks!: FakeEks;
  rds!: FakeRds;
  rdsDr!: FakeRds;
  kube!: FakeKube;
  drCluster!: VeleroTestCluster;
  cloudwatch!: FakeCloudWatch;
  ecr!: FakeEcr;
  secrets!: FakeSecretsManager;
  route53!: FakeRoute53;
  s3!: FakeS3;
  /** The health check the PRIMARY record carries. */
  healthCheckId = '';

  async start(): Promise<this> {
    [this.sts, this.eks, this.rds, this.rdsDr, this.kube, this.drCluster, this.cloudwatch, this.ecr, this.secrets, this.route53, this.s3] = await Promise.all([
      new FakeSts().start(),
      new FakeEks().start(),
      new FakeRds().start(),
      new FakeRds().start(),
      new FakeKube().start(),
      new VeleroTestCluster().start(),
      new FakeCloudWatch().start(),
      new FakeEcr().start(),
      new FakeSecretsManager().start(),
      new FakeRoute53().start(),
      new FakeS3().start(),
    ]);
    this.sts.addRole(DR_ROLE, { trustedAccessKeys: [BOT_KEY], externalId: EXTERNAL_ID });
    for (const fake of [this.eks, this.rds, this.rdsDr, this.drCluster, this.cloudwatch, this.ecr, this.secrets, this.route53, this.s3]) fake.trustSessionsFrom(this.sts);
    for (const fake of [this.cloudwatch, this.ecr, this.secrets, this.route53]) fake.knownSecrets.set(BOT_KEY, BOT_SECRET);
    this.drCluster.requireEksToken = true;
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all([this.sts, this.eks, this.rds, this.rdsDr, this.kube, this.drCluster, this.cloudwatch, this.ecr, this.secrets, this.route53, this.s3].map((f) => f.stop()));
  }

  /** `prod` (default, the bot's own keys) and `dr` (assumed role), every service on its fake. */
  targets(): Targets {
    const common = { ecr: this.ecr.url, secretsmanager: this.secrets.url, cloudwatch: this.cloudwatch.url, route53: this.route53.url, s3: this.s3.url, sts: this.sts.url, eks: this.eks.url };
    return testTargets(
      {
        defaultTarget: 'prod',
        targets: {
          prod: { label: 'production (us-east-1)', region: 'us-east-1', endpoints: { ...common, rds: this.rds.url }, kubernetes: { kubeconfig: this.kube.writeKubeconfig() } },
          dr: { label: 'DR (us-west-2)', region: 'us-west-2', roleArn: DR_ROLE, externalId: EXTERNAL_ID, endpoints: { ...common, rds: this.rdsDr.url }, kubernetes: { eksCluster: 'eks-dr' } },
        },
      },
      { credentials: () => Promise.resolve({ accessKeyId: BOT_KEY, secretAccessKey: BOT_SECRET }) },
    );
  }

  /** Everything as the DR plan wants it: every item of the checklist passes. */
  healthy(): void {
    // Velero on production: the plan's two schedules, fresh completed backups; the DR cluster's Velero sees them.
    this.kube.velero.setSchedule('hourly-backup', { schedule: '0 * * * *', includedNamespaces: ['production'], ttl: '168h0m0s' });
    this.kube.velero.setSchedule('daily-full-backup', { schedule: '0 2 * * *', includedNamespaces: ['*'], ttl: '720h0m0s' });
    this.kube.addBackup('hourly-backup-20261207050000', { schedule: 'hourly-backup', completedAt: ago(10 / 60) });
    this.kube.addBackup('daily-full-backup-20261207020000', { schedule: 'daily-full-backup', completedAt: ago(3) });
    this.drCluster.velero.addBackup('hourly-backup-20261207050000', { schedule: 'hourly-backup', completedAt: ago(10 / 60) });
    this.drCluster.velero.addBackup('daily-full-backup-20261207020000', { schedule: 'daily-full-backup', completedAt: ago(3) });
    this.kube.addPod('production', 'api-gateway-7d9f8-abcde', { image: { ref: IMAGE_REF, digest: IMAGE.digest } });
    // The drills' configuration (restore-test reads the database password from it): every shipped runbook plans.
    this.kube.namespaces.add('dr-drill-config');
    this.kube.addSecret('dr-drill-config', 'database-credentials', { password: 'drill-only' });

    // Aurora: 35 days of backups, restorable to a minute ago, protected, a writer and a reader, in a global database.
    const prod = this.rds.addCluster(PROD_CLUSTER, { earliest: ago(35 * 24), latest: ago(1 / 60), settings: { deletionProtection: true } });
    this.rds.instances.set(`${prod.id}-instance-2`, { id: `${prod.id}-instance-2`, clusterId: prod.id, instanceClass: 'db.r6g.large', engine: prod.engine, readyAt: 0, isWriter: false });
    this.rds.addSnapshot({ id: `rds:${PROD_CLUSTER}-2026-12-07-03-00`, clusterId: PROD_CLUSTER, createdAt: ago(3), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    this.rds.globalClusters.set('prod-global', [PROD_CLUSTER, DR_CLUSTER]);
    this.rdsDr.addCluster(DR_CLUSTER, { earliest: ago(35 * 24), latest: ago(1 / 60) });
    this.cloudwatch.putDatapoints('us-west-2', { namespace: 'AWS/RDS', metricName: 'AuroraGlobalDBRPOLag', dimensions: { DBClusterIdentifier: DR_CLUSTER } }, [{ at: Date.now() - 60_000, value: 900 }]);

    // Images replicated to us-west-2 (the rule before the push: only later pushes are replicated).
    this.ecr.setReplicationConfiguration('us-east-1', [{ destinations: [{ region: 'us-west-2' }] }]);
    this.ecr.addRepository('us-east-1', IMAGE.repository);
    this.ecr.pushImage('us-east-1', IMAGE.repository, { tag: '1.4.2', digest: IMAGE.digest });

    this.secrets.addSecret('us-east-1', SECRET, { replicas: [{ region: 'us-west-2' }] });

    this.s3.addBucket(STATE_BUCKET, 'us-east-1');
    this.s3.setVersioning(STATE_BUCKET, 'Enabled');

    const zone = this.route53.addHostedZone('dr-test.localhost');
    this.healthCheckId = this.route53.addHealthCheck({ Type: 'HTTPS', FullyQualifiedDomainName: 'primary-lb.dr-test.localhost', Port: 443, ResourcePath: '/health', RequestInterval: 30, FailureThreshold: 3 });
    this.route53.setHealth(this.healthCheckId, true);
    this.route53.addRecord(zone, { Name: `${RECORD}.`, Type: 'A', SetIdentifier: 'primary', Failover: 'PRIMARY', HealthCheckId: this.healthCheckId, TTL: 60, ResourceRecords: ['192.0.2.10'] });
    this.route53.addRecord(zone, { Name: `${RECORD}.`, Type: 'A', SetIdentifier: 'secondary', Failover: 'SECONDARY', TTL: 60, ResourceRecords: ['198.51.100.10'] });

    // The DR region's pilot-light EKS cluster.
    this.eks.addCluster('eks-dr', this.drCluster.url);
    this.eks.addNodegroup('eks-dr', 'pilot-light', { min: 1, max: 10, desired: 1 });
  }
}
