import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/runs/model.ts';
import type { Targets } from '../../src/targets/targets.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeS3 } from '../support/fake-s3.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSts } from '../support/fake-sts.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);
const DR_ROLE = 'arn:aws:iam::222222222222:role/dr-chatops-target';
const EXTERNAL_ID = 'dr-chatops-7f3a9c';
const BOT_KEY = 'AKIAFAKEFAKEFAKE0001';
const botCredentials = () => Promise.resolve({ accessKeyId: BOT_KEY, secretAccessKey: 'x'.repeat(40) });
/** Production's Velero location: the bucket the replacement cluster's Velero is installed against. */
const STORAGE = { bucket: 'prod-velero-backups', prefix: 'eks-prod', region: 'us-west-2' };
const PINNED = 'daily-full-backup-20261201020000';
const backedUp = [
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api-gateway', namespace: 'production' }, spec: { replicas: 2, selector: { matchLabels: { app: 'api-gateway' } }, template: { metadata: { labels: { app: 'api-gateway' } }, spec: { containers: [{ name: 'api-gateway', image: 'api-gateway:1.6.0' }] } } } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api-gateway', namespace: 'production' }, spec: { selector: { app: 'api-gateway' }, ports: [{ port: 80 }] } },
];

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const restoreLine = (run: Run) => run.plan.find((p) => p.stepId === 'restore')?.lines.map((l) => l.detail) ?? [];

/**
 * restore-cluster into a replacement cluster that is still being created: the
 * plan cannot ask its Velero which backup it will restore, so it reads the
 * backup storage that survives (the target's Velero bucket) and names the
 * exact backup; the run restores that one once the new cluster has synced it.
 */
describe('restore-cluster into a cluster still being created', () => {
  let sts: FakeSts;
  let eks: FakeEks;
  let s3: FakeS3;
  let api: FakeService;
  let kube: FakeKube;
  let targets: Targets;
  let engine: TestEngine | undefined;

  const dr = (extra: Record<string, unknown> = {}) => ({
    label: 'DR',
    region: 'us-west-2',
    roleArn: DR_ROLE,
    externalId: EXTERNAL_ID,
    endpoints: { eks: eks.url, sts: sts.url, s3: s3.url },
    kubernetes: { eksCluster: 'eks-dr' },
    ...extra,
  });

  beforeAll(async () => {
    [sts, eks, s3, api] = await Promise.all([new FakeSts().start(), new FakeEks().start(), new FakeS3().start(), new FakeService().start()]);
    eks.trustSessionsFrom(sts);
    s3.trustSessionsFrom(sts);
    targets = testTargets(
      { aws: { region: 'us-east-1' }, kubernetes: { eksCluster: 'eks-prod' }, targets: { dr: dr({ veleroBackupStorage: STORAGE }), bare: dr() } },
      { credentials: botCredentials },
    );
  });
  afterAll(async () => {
    await Promise.all([sts.stop(), eks.stop(), s3.stop(), api.stop()]);
  });
  beforeEach(async () => {
    sts.roles.clear();
    sts.addRole(DR_ROLE, { trustedAccessKeys: [BOT_KEY], externalId: EXTERNAL_ID });
    eks.clusters.clear();
    s3.buckets.clear();
    s3.calls.length = 0;
    s3.addBucket(STORAGE.bucket, STORAGE.region);
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261130020000', { schedule: 'daily-full-backup', completedAt: ago(27), contents: backedUp });
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, PINNED, { schedule: 'daily-full-backup', completedAt: ago(3), contents: backedUp });
    // The newest of the schedule did not complete: it is not the one to restore.
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261201050000', { schedule: 'daily-full-backup', completedAt: ago(1), phase: 'PartiallyFailed' });
    kube = await new FakeKube().start();
    kube.requireEksToken = true;
    kube.trustSessionsFrom(sts);
    kube.rolloutMs = 200;
    kube.restoreMs = 200;
    kube.velero.clear();
    kube.namespaces.delete('production');
    engine = await startTestEngine({ commandsDir: SHIPPED_COMMANDS, targets });
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    await kube.stop();
  });

  /** Terraform finishes the cluster: it comes up ACTIVE with Velero installed, which syncs the bucket. */
  const clusterComesUp = () => {
    kube.velero.syncFrom(s3.veleroStore(STORAGE.bucket, STORAGE.prefix));
    const created = eks.clusters.get('eks-prod-2');
    if (created) created.status = 'ACTIVE';
  };

  it('the plan names the backup found in the bucket while the cluster is CREATING, and the run restores exactly that one', async () => {
    if (!engine) throw new Error('the engine did not start');
    eks.addCluster('eks-prod-2', kube.url, 'CREATING');
    const run = await engine.service.create({ runbookId: 'restore-cluster', params: { target: 'dr', cluster: 'eks-prod-2', clusterPollSeconds: 1, healthUrl: `${api.url}/health` }, requester: ALICE });

    const [line, ...more] = restoreLine(run);
    expect(more).toEqual([]);
    expect(line).toMatch(
      new RegExp(
        `^restore \\* from backup ${PINNED} \\(schedule daily-full-backup, Completed ${ago(3).toISOString().slice(0, 13)}.*, 3h old, expires .*\\), found in s3://prod-velero-backups/eks-prod/backups/ while EKS cluster eks-prod-2 is CREATING; pinned: .*the run restores exactly it`,
      ),
    );
    expect(run.plan.find((p) => p.stepId === 'restore')?.pinned).toEqual({ backup: PINNED, backupCompletedAt: expect.stringMatching(/^\d{4}-/) as unknown });
    // Read with the run's DR session, metadata only; nothing asked of the cluster, which is not there.
    const [session] = [...sts.sessions.keys()];
    expect(new Set(s3.calls.map((c) => c.accessKeyId))).toEqual(new Set([session]));
    expect(s3.calls.every((c) => c.operation === 'ListObjectsV2' || c.key?.endsWith('/velero-backup.json'))).toBe(true);
    expect(kube.calls).toEqual([]);

    await engine.service.approve(run.id, BOB);
    // A newer backup completes after the approval: the approved run still restores the pinned one.
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261201060000', { schedule: 'daily-full-backup', completedAt: ago(0.1), contents: backedUp });
    const cluster = async () => (await engine?.store.get(run.id))?.steps.cluster?.progress?.message ?? '';
    await until('the run to see the cluster CREATING', async () => (await cluster()).startsWith('waiting for EKS cluster eks-prod-2: CREATING'));
    clusterComesUp();
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);

    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    expect(done.steps.velero?.outputs?.newestBackup).toBe('daily-full-backup-20261201060000');
    expect(done.steps.restore?.outputs).toMatchObject({ backupName: PINNED, partial: false });
    expect(kube.callsMatching('POST', '/apis/velero.io/v1/namespaces/velero/restores').map((c) => (c.body as { spec?: unknown }).spec)).toEqual([expect.objectContaining({ backupName: PINNED, includedNamespaces: ['*'] })]);
    expect(kube.deployments.get('production/api-gateway')?.template).toMatchObject({ spec: { containers: [{ image: 'api-gateway:1.6.0' }] } });
  }, 90_000);

  it('refuses a backup of the pinned name that is not the one the plan found', async () => {
    if (!engine) throw new Error('the engine did not start');
    eks.addCluster('eks-prod-2', kube.url, 'CREATING');
    const run = await engine.service.create({ runbookId: 'restore-cluster', params: { target: 'dr', cluster: 'eks-prod-2', clusterPollSeconds: 1, healthUrl: `${api.url}/health` }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    // Before the cluster syncs, the bucket's backup of that name is replaced by another (made again under the same name).
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, PINNED, { schedule: 'daily-full-backup', completedAt: ago(0.5), contents: [] });
    clusterComesUp();
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);

    expect(done.state).toBe('failed');
    expect(done.steps.restore?.error).toContain(`backup ${PINNED} in the cluster completed at ${ago(0.5).toISOString().slice(0, 13)}`);
    expect(done.steps.restore?.error).toContain('it is not the approved backup, and nothing was restored');
    expect(kube.callsMatching('POST', '/restores')).toEqual([]);
  }, 90_000);

  it('without a backup storage to read, refuses to plan an unnamed backup, saying how to name one; a named backup is planned as named', async () => {
    if (!engine) throw new Error('the engine did not start');
    const refused = await engine.service
      .create({ runbookId: 'restore-cluster', params: { target: 'bare', cluster: 'eks-prod-2', healthUrl: `${api.url}/health` }, requester: ALICE })
      .then(() => '', (e: unknown) => String(e));
    expect(refused).toContain('Step `restore` (velero.restore) refused the plan: EKS cluster eks-prod-2 does not exist yet');
    expect(refused).toContain('Name the backup: backup=daily-full-backup-YYYYMMDDHHMMSS');
    expect(refused).toContain('or configure veleroBackupStorage {bucket, prefix, region} on target bare');

    const named = await engine.service.create({ runbookId: 'restore-cluster', params: { target: 'bare', cluster: 'eks-prod-2', backup: PINNED, healthUrl: `${api.url}/health` }, requester: ALICE });
    expect(restoreLine(named)).toEqual([expect.stringMatching(new RegExp(`^restore \\* from backup ${PINNED}, as named in the request; not verified now: EKS cluster eks-prod-2 does not exist yet and target bare has no veleroBackupStorage`))]);
    expect(s3.calls).toEqual([]);
  });
});
