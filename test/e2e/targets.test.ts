import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/runs/model.ts';
import type { Targets } from '../../src/targets/targets.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSts } from '../support/fake-sts.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);
const DR_ROLE = 'arn:aws:iam::222222222222:role/dr-chatops-target';
const EXTERNAL_ID = 'dr-chatops-7f3a9c';
const DR_LABEL = 'DR (us-west-2, account 222222222222)';
/** The bot's own identity: static keys, as from its environment or instance profile. */
const BOT_KEY = 'AKIAFAKEFAKEFAKE0001';
const botCredentials = () => Promise.resolve({ accessKeyId: BOT_KEY, secretAccessKey: 'x'.repeat(40) });
const CAROL = { id: 'U0CAROL001', name: 'carol', via: 'slack' as const };

/** A region whose APIs are down: it accepts every TCP connection and destroys it at once. */
class DeadRegion {
  connections = 0;
  private readonly server: Server = createServer((socket) => {
    this.connections++;
    socket.destroy();
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => { resolve(); }));
  }
}

/** Resolves once `check` holds, looking every 20 ms. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Each step's place as its plan shows it (what decided where it acts, `resolved`, is compared by the engine). */
const places = (run: Run) => run.plan.map((p) => [p.stepId, p.place && Object.fromEntries(Object.entries(p.place).filter(([key]) => key !== 'resolved'))]);
const lines = (run: Run) => run.plan.map((p) => [p.stepId, p.lines.map((l) => `${l.action} ${l.resource}: ${l.detail}`)]);

/**
 * Targets end to end: shipped runbooks on the real engine and worker (real
 * Redis), reaching two regions and accounts through their own endpoints and
 * credentials: the primary with the bot's static keys, the DR account through
 * an assumed role whose session names the run, its EKS clusters with tokens
 * signed by that session.
 */
describe('targets, end to end', () => {
  let sts: FakeSts;
  let eks: FakeEks;
  let rdsDr: FakeRds;
  let api: FakeService;

  /** Session keys STS issued, in order (one per run: the run id names the session). */
  const issuedKeys = () => [...sts.sessions.keys()];
  const drTarget = (extra: Record<string, unknown> = {}) => ({
    label: DR_LABEL,
    region: 'us-west-2',
    roleArn: DR_ROLE,
    externalId: EXTERNAL_ID,
    endpoints: { rds: rdsDr.url, eks: eks.url, sts: sts.url },
    kubernetes: { eksCluster: 'eks-dr' },
    ...extra,
  });
  /** Every AWS request and EKS token of the DR account was signed by `key` (and there was at least one). */
  const expectAllSignedBy = (signers: (string | undefined)[], key: string | undefined) => {
    expect(key).toMatch(/^ASIA/);
    expect(signers.length).toBeGreaterThan(0);
    expect(new Set(signers)).toEqual(new Set([key]));
  };

  beforeAll(async () => {
    [sts, eks, rdsDr, api] = await Promise.all([new FakeSts().start(), new FakeEks().start(), new FakeRds().start(), new FakeService().start()]);
    eks.trustSessionsFrom(sts);
    rdsDr.trustSessionsFrom(sts);
    eks.updatingMs = 200;
    rdsDr.creatingMs = 200;
    rdsDr.globalFailoverMs = 200;
  });
  afterAll(async () => {
    await Promise.all([sts.stop(), eks.stop(), rdsDr.stop(), api.stop()]);
  });
  beforeEach(() => {
    sts.roles.clear();
    sts.sessions.clear();
    sts.calls.length = 0;
    sts.addRole(DR_ROLE, { trustedAccessKeys: [BOT_KEY], externalId: EXTERNAL_ID });
    eks.clusters.clear();
    eks.nodegroups.clear();
    eks.calls.length = 0;
    eks.callers.length = 0;
    rdsDr.clusters.clear();
    rdsDr.instances.clear();
    rdsDr.globalClusters.clear();
    rdsDr.snapshots.length = 0;
    rdsDr.calls.length = 0;
    rdsDr.callers.length = 0;
    api.requests.length = 0;
  });

  describe('with the primary region down', () => {
    let primary: DeadRegion;
    let targets: Targets;
    let kube: FakeKube;
    let engine: TestEngine | undefined;

    beforeAll(async () => {
      primary = await new DeadRegion().start();
      targets = testTargets(
        {
          // The primary region: every API it has refuses every connection.
          aws: { region: 'us-east-1', rdsEndpointUrl: primary.url, eksEndpointUrl: primary.url, stsEndpointUrl: primary.url, endpointUrl: primary.url },
          kubernetes: { eksCluster: 'eks-prod' },
          targets: { dr: drTarget() },
        },
        { credentials: botCredentials },
      );
    });
    afterAll(async () => {
      await primary.stop();
    });
    beforeEach(async () => {
      kube = await new FakeKube().start();
      kube.requireEksToken = true;
      kube.trustSessionsFrom(sts);
      kube.rolloutMs = 200;
      kube.restoreMs = 200;
    });
    afterEach(async () => {
      await engine?.stop();
      engine = undefined;
      await kube.stop();
      // Nothing ever reached the primary region.
      expect(primary.connections).toBe(0);
    });

    it('restore-cluster into a cluster that appears after the run started: waits for it, then restores the named backup there', async () => {
      // The DR target names no Velero backup storage, so the backup is named in the request (restore-new-cluster.test.ts: found in the bucket).
      const backup = 'daily-full-backup-20261201020000';
      engine = await startTestEngine({ commandsDir: SHIPPED_COMMANDS, targets });
      // A dry run first says what each step would wait for, without waiting and without changing anything.
      const dry = await engine.service.create({ runbookId: 'restore-cluster', params: { target: 'dr', cluster: 'eks-prod-2', backup, healthUrl: `${api.url}/health` }, requester: ALICE, dryRun: true });
      const rehearsed = await engine.waitForState(dry.id, ['succeeded', 'failed'], 20_000);
      expect(rehearsed.state).toBe('succeeded');
      expect(rehearsed.steps.restore?.wouldDo?.map((l) => l.detail)).toEqual(['once EKS cluster eks-prod-2 is ACTIVE (it does not exist yet)']);
      expect(kube.callsMatching('POST', '/apis/velero.io/v1/namespaces/velero/restores')).toEqual([]);
      // What follows counts the real run's calls only (the dry run had a session of its own).
      sts.calls.length = 0;
      sts.sessions.clear();
      eks.calls.length = 0;
      eks.callers.length = 0;
      kube.eksCallers.length = 0;

      // Looking every second instead of every 15 s: three looks (not created, CREATING, ACTIVE) take 3 s, not 30.
      const run = await engine.service.create({ runbookId: 'restore-cluster', params: { target: 'dr', cluster: 'eks-prod-2', clusterPollSeconds: 1, backup, healthUrl: `${api.url}/health` }, requester: ALICE });
      const newCluster = { target: 'dr', cluster: 'eks-prod-2', label: DR_LABEL, region: 'us-west-2', account: '222222222222', clusterLabel: 'EKS eks-prod-2' };
      expect(places(run)).toEqual(['cluster', 'velero', 'restore', 'pods', 'health'].map((id) => [id, newCluster]));
      expect(lines(run)).toEqual([
        ['cluster', ['wait eks cluster eks-prod-2: wait for EKS cluster eks-prod-2 to be created in us-west-2 (account 222222222222) and become ACTIVE, looking every 1s; then checks that the bot can read its Kubernetes API']],
        ['velero', ['wait velero in EKS eks-prod-2: checks once EKS cluster eks-prod-2 is up (it does not exist yet): Velero namespace velero, its default backup storage location Available, a completed backup of daily-full-backup synced, waiting up to 20m']],
        ['restore', [expect.stringMatching(/^create velero restore from daily-full-backup-20261201020000: restore \* from backup daily-full-backup-20261201020000, as named in the request; not verified now: EKS cluster eks-prod-2 does not exist yet/)]],
        ['pods', [expect.stringMatching(/^check namespace production: wait until every deployment, statefulset and daemonset in production has its replicas available/)]],
        ['health', [`check ${api.url}/health: GET until HTTP 200, for up to 600s`]],
      ]);
      expect(eks.calls.filter((c) => c.method !== 'GET')).toEqual([]);

      await engine.service.approve(run.id, BOB);
      const cluster = async () => (await engine?.store.get(run.id))?.steps.cluster?.progress?.message ?? '';
      await until('the run to look for the cluster', async () => (await cluster()).startsWith('waiting for EKS cluster eks-prod-2: not created yet in us-west-2 (account 222222222222)'));
      // Terraform creates it; its API server comes up with Velero installed, which syncs the bucket's backups.
      eks.addCluster('eks-prod-2', kube.url, 'CREATING');
      await until('the run to see it CREATING', async () => (await cluster()).startsWith('waiting for EKS cluster eks-prod-2: CREATING'));
      kube.velero.clear();
      kube.namespaces.delete('production');
      const backedUp = [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api-gateway', namespace: 'production' }, spec: { replicas: 2, selector: { matchLabels: { app: 'api-gateway' } }, template: { metadata: { labels: { app: 'api-gateway' } }, spec: { containers: [{ name: 'api-gateway', image: 'api-gateway:1.6.0' }] } } } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api-gateway', namespace: 'production' }, spec: { selector: { app: 'api-gateway' }, ports: [{ port: 80 }] } },
      ];
      kube.addBackup('daily-full-backup-20261130020000', { schedule: 'daily-full-backup', completedAt: ago(27), contents: backedUp });
      kube.addBackup('daily-full-backup-20261201020000', { schedule: 'daily-full-backup', completedAt: ago(3), contents: backedUp });
      const created = eks.clusters.get('eks-prod-2');
      if (created) created.status = 'ACTIVE';
      const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);

      expect(done.failure).toBeUndefined();
      expect(done.state).toBe('succeeded');
      expect(done.steps.cluster?.outputs).toEqual({ cluster: 'eks-prod-2', endpoint: kube.url });
      expect(done.steps.velero?.outputs).toEqual({ storageLocation: 'default', newestBackup: 'daily-full-backup-20261201020000' });
      expect(done.steps.restore?.outputs).toMatchObject({ restoreName: `dr-${run.id}-restore`, backupName: 'daily-full-backup-20261201020000', partial: false });
      // The restore was made in the new cluster, from that backup, and brought the workloads back there.
      expect(kube.callsMatching('POST', '/apis/velero.io/v1/namespaces/velero/restores').map((c) => (c.body as { spec?: unknown }).spec)).toEqual([
        expect.objectContaining({ backupName: 'daily-full-backup-20261201020000', includedNamespaces: ['*'] }),
      ]);
      expect(kube.deployments.get('production/api-gateway')?.template).toMatchObject({ spec: { containers: [{ image: 'api-gateway:1.6.0' }] } });
      expect(done.steps.pods?.outputs).toEqual({ pods: 2 });
      expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThanOrEqual(1);

      // Everything went to the DR account with the run's session: AWS calls and the new cluster's tokens alike.
      expect(sts.calls).toEqual([expect.objectContaining({ action: 'AssumeRole', roleArn: DR_ROLE, sessionName: `dr-chatops-${run.id}`, externalId: EXTERNAL_ID, callerAccessKey: BOT_KEY })]);
      const [assumed] = issuedKeys();
      expectAllSignedBy(eks.callers.map((c) => c.accessKeyId), assumed);
      expectAllSignedBy(kube.eksCallers, assumed);
      expect(new Set(eks.calls.map((c) => `${c.method} ${c.path}`))).toEqual(new Set(['GET /clusters/eks-prod-2']));
    }, 90_000);

    it('failover-region on the DR target: every call goes to the DR region’s endpoints with the assumed role', async () => {
      engine = await startTestEngine({ commandsDir: SHIPPED_COMMANDS, targets });
      // An Aurora PostgreSQL global database: the primary member is in the dead region, its secondary in DR.
      rdsDr.addCluster('prod-aurora-replica', { earliest: ago(24), latest: ago(0.1) });
      rdsDr.globalClusters.set('prod-aurora-global', ['prod-aurora', 'prod-aurora-replica']);
      eks.addCluster('eks-dr', kube.url);
      eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 1, desired: 1 });
      eks.onScaled = (ng, desired) => kube.nodes.set(ng, desired);
      kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password: 'not-shown' });
      kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });

      const run = await engine.service.create({ runbookId: 'failover-region', params: { target: 'dr', healthUrl: `${api.url}/health`, nodes: 4 }, requester: ALICE });
      const dr = { target: 'dr', label: DR_LABEL, region: 'us-west-2', account: '222222222222', clusterLabel: 'EKS eks-dr' };
      expect(places(run)).toEqual(['promote', 'scale', 'point-apps', 'restart', 'rollout', 'health', 'route-traffic', 'verify-dns'].map((id) => [id, dr]));
      expect(run.plan.flatMap((p) => p.lines.filter((l) => l.irreversible).map((l) => l.detail))).toEqual([
        expect.stringMatching(/^fail global cluster prod-aurora-global over to prod-aurora-replica in us-west-2, allowing the loss of writes not yet replicated/),
      ]);
      expect((await engine.service.approve(run.id, BOB)).outcome).toBe('recorded');
      expect((await engine.service.approve(run.id, CAROL)).outcome).toBe('approved');
      // The primary region has no endpoint here, so no switchover: the run asks two approvers to accept the data loss first.
      const running = engine;
      await until('the data-loss question', async () => (await running.store.get(run.id))?.gate?.state === 'open');
      const asked = (await running.store.get(run.id))?.gate;
      if (!asked) throw new Error('no gate');
      expect(asked.question).toBe('Fail global cluster prod-aurora-global over to prod-aurora-replica in us-west-2, accepting the loss of the writes not yet replicated?');
      expect(asked.required).toBe(2);
      expect(rdsDr.calls.filter((c) => !c.action.startsWith('Describe'))).toEqual([]);
      await engine.service.decideGate(run.id, asked.id, BOB, 'accept');
      await engine.service.decideGate(run.id, asked.id, CAROL, 'accept');
      const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);

      expect(done.failure).toBeUndefined();
      expect(done.state).toBe('succeeded');
      expect(rdsDr.calls.filter((c) => !c.action.startsWith('Describe')).map((c) => `${c.action} ${c.params.GlobalClusterIdentifier ?? ''}`)).toEqual(['FailoverGlobalCluster prod-aurora-global']);
      expect(rdsDr.globalClusters.get('prod-aurora-global')?.[0]).toBe('prod-aurora-replica');
      expect(eks.calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual(['/clusters/eks-dr/node-groups/workers/update-config']);
      expect(done.steps.scale?.outputs).toEqual({ desired: 4, readyNodes: 4 });
      expect(kube.calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path.split('?')[0] ?? ''}`)).toEqual([
        'PATCH /api/v1/namespaces/production/secrets/database-credentials',
        'PATCH /apis/apps/v1/namespaces/production/deployments/api-gateway',
      ]);
      expect(kube.secretValue('production', 'database-credentials', 'host')).toBe(done.steps.promote?.outputs?.writerEndpoint);
      expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThanOrEqual(1);

      expect(sts.calls).toEqual([expect.objectContaining({ action: 'AssumeRole', roleArn: DR_ROLE, sessionName: `dr-chatops-${run.id}`, externalId: EXTERNAL_ID, callerAccessKey: BOT_KEY })]);
      const [assumed] = issuedKeys();
      expectAllSignedBy(rdsDr.callers.map((c) => c.accessKeyId), assumed);
      expectAllSignedBy(eks.callers.map((c) => c.accessKeyId), assumed);
      expectAllSignedBy(kube.eksCallers, assumed);
    });
  });
});
