import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const HOUR = 3_600_000;
const DB_PASSWORD = 'S3cr3t-db-pass-do-not-leak';

/**
 * The runbooks shipped in commands/, end to end through the engine: real AWS
 * and Kubernetes clients against the fakes, a real worker on real Redis.
 */
describe('shipped runbooks, end to end', () => {
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let engine: TestEngine;
  const logLines: string[] = [];

  const mutatingRds = () => rds.calls.filter((c) => !c.action.startsWith('Describe'));
  // Without the query: writes carry ?fieldManager=dr-chatops (test/integration/steps/kube-conformance.test.ts checks it).
  const kubeWrites = () => kube.calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path.split('?')[0] ?? ''}`);

  const approveAndFinish = async (runId: string) => {
    await engine.service.approve(runId, BOB);
    return engine.waitForState(runId, ['succeeded', 'failed', 'cancelled'], 60_000);
  };

  const assertNoSecretLeaked = async (runId: string) => {
    const events = await engine.redis.xrange(engine.store.eventsKey, '-', '+');
    const audit = await engine.store.audit(runId);
    const run = await engine.store.get(runId);
    const everything = [logLines.join(''), JSON.stringify(events), JSON.stringify(audit), JSON.stringify(run)].join('\n');
    expect(everything).not.toContain(DB_PASSWORD);
    expect(everything).not.toContain(Buffer.from(DB_PASSWORD).toString('base64'));
  };

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    api = await new FakeService().start();
    rds.creatingMs = 200;
    kube.rolloutMs = 200;
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 35 * 24 * HOUR), latest: new Date(Date.now() - 5 * 60_000), writerClass: 'db.r6g.xlarge' });
    rds.addSnapshot({ id: 'rds:prod-aurora-2026-11-25-03-00', clusterId: 'prod-aurora', createdAt: new Date(Date.now() - 3 * HOUR), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }),
      logLines,
    });
  });
  afterAll(async () => {
    await engine.stop();
    await Promise.all([rds.stop(), kube.stop(), api.stop()]);
  });

  const resetKube = () => {
    kube.calls.length = 0;
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.objects.clear();
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', port: '5432', password: DB_PASSWORD });
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.5.0', 'api-gateway:1.6.0'], { changeCauses: ['release 1.5.0', 'release 1.6.0'] });
    kube.addDeployment('production', 'billing', ['billing:3.1.0']);
  };

  it('restore-database-pitr: restore → writer → secret → restart → rollout → health', async () => {
    resetKube();
    rds.calls.length = 0;
    const to = new Date(Date.now() - 2 * HOUR).toISOString();
    const run = await engine.service.create({
      runbookId: 'restore-database-pitr',
      params: { cluster: 'prod-aurora', to, healthUrl: `${api.url}/health` },
      requester: ALICE,
    });
    const target = `prod-aurora-dr-${run.id}`;
    expect(run.plan.map((p) => p.lines.map((l) => `${l.action} ${l.resource}`))).toEqual([
      [`create rds cluster ${target}`],
      ['create rds instance <restored cluster>-writer', 'wait rds cluster the restored cluster'],
      ['change secret production/database-credentials'],
      ['restart deployment production/api-gateway', 'restart deployment production/billing'],
      ['wait namespace production'],
      [`check ${api.url}/health`],
    ]);
    expect(mutatingRds()).toEqual([]);
    expect(kubeWrites()).toEqual([]);

    const done = await approveAndFinish(run.id);
    expect(done.state).toBe('succeeded');
    expect(mutatingRds().map((c) => c.action)).toEqual(['RestoreDBClusterToPointInTime', 'CreateDBInstance']);
    expect(mutatingRds()[0]?.params).toMatchObject({ SourceDBClusterIdentifier: 'prod-aurora', DBClusterIdentifier: target, RestoreToTime: to, RestoreType: 'full-copy' });
    expect(mutatingRds()[1]?.params).toMatchObject({ DBInstanceIdentifier: `${target}-writer`, DBClusterIdentifier: target, DBInstanceClass: 'db.r6g.xlarge', Engine: 'aurora-postgresql' });
    expect(kubeWrites()).toEqual([
      'PATCH /api/v1/namespaces/production/secrets/database-credentials',
      'PATCH /apis/apps/v1/namespaces/production/deployments/api-gateway',
      'PATCH /apis/apps/v1/namespaces/production/deployments/billing',
    ]);
    const endpoint = `${target}.cluster-abc123.us-east-1.rds.amazonaws.com`;
    expect(done.steps.restore?.outputs).toEqual({ clusterId: target, restorePoint: to, source: 'prod-aurora' });
    expect(done.steps.writer?.outputs).toMatchObject({ writerEndpoint: endpoint, instanceId: `${target}-writer` });
    expect(done.steps['point-apps']?.outputs).toEqual({ changedKeys: 'host' });
    expect(done.steps.restart?.outputs).toEqual({ restarted: 'api-gateway,billing' });
    expect(kube.secretValue('production', 'database-credentials', 'host')).toBe(endpoint);
    expect(kube.secretValue('production', 'database-credentials', 'password')).toBe(DB_PASSWORD);
    expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThanOrEqual(1);
    await assertNoSecretLeaked(run.id);
  });

  it('restore-database-snapshot: restores the newest snapshot and repoints the application', async () => {
    resetKube();
    rds.calls.length = 0;
    const run = await engine.service.create({
      runbookId: 'restore-database-snapshot',
      params: { cluster: 'prod-aurora', healthUrl: `${api.url}/health`, deployments: 'billing' },
      requester: ALICE,
    });
    expect(run.plan[0]?.lines[0]?.detail).toMatch(/^restore snapshot rds:prod-aurora-2026-11-25-03-00 \(automated, taken .*, 3h old\)/);
    const done = await approveAndFinish(run.id);

    expect(done.state).toBe('succeeded');
    expect(mutatingRds().map((c) => `${c.action} ${c.params.SnapshotIdentifier ?? c.params.DBInstanceIdentifier ?? ''}`)).toEqual([
      'RestoreDBClusterFromSnapshot rds:prod-aurora-2026-11-25-03-00',
      `CreateDBInstance prod-aurora-dr-${run.id}-writer`,
    ]);
    expect(kubeWrites()).toEqual([
      'PATCH /api/v1/namespaces/production/secrets/database-credentials',
      'PATCH /apis/apps/v1/namespaces/production/deployments/billing',
    ]);
    expect(done.steps.restore?.outputs).toMatchObject({ clusterId: `prod-aurora-dr-${run.id}`, snapshotId: 'rds:prod-aurora-2026-11-25-03-00' });
    await assertNoSecretLeaked(run.id);
  });

  it('restore-database-snapshot restores the snapshot the plan showed, even when a newer one appears before approval', async () => {
    resetKube();
    const run = await engine.service.create({
      runbookId: 'restore-database-snapshot',
      params: { cluster: 'prod-aurora', healthUrl: `${api.url}/health`, deployments: 'billing' },
      requester: ALICE,
    });
    expect(run.plan[0]?.lines[0]?.detail).toContain('pinned: the run restores exactly rds:prod-aurora-2026-11-25-03-00');
    rds.addSnapshot({ id: 'rds:prod-aurora-2026-11-25-06-00', clusterId: 'prod-aurora', createdAt: new Date(Date.now() - 60_000), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    rds.calls.length = 0;
    const done = await approveAndFinish(run.id);
    expect(done.state).toBe('succeeded');
    expect(rds.callsTo('RestoreDBClusterFromSnapshot').map((c) => c.params.SnapshotIdentifier)).toEqual(['rds:prod-aurora-2026-11-25-03-00']);
    rds.snapshots.splice(rds.snapshots.findIndex((s) => s.id === 'rds:prod-aurora-2026-11-25-06-00'), 1);
  });

  it('restore-database-snapshot after accidental deletion: restores the final snapshot into the given network, with a writer of the given class', async () => {
    resetKube();
    rds.addCluster('orders-aurora', { earliest: new Date(Date.now() - 24 * HOUR), latest: new Date(Date.now() - 60_000), engineVersion: '16.2', settings: { port: 6432, iamAuth: true } });
    rds.deleteCluster('orders-aurora', { finalSnapshotId: 'orders-aurora-final', vpcId: 'vpc-0abc1234', availabilityZones: ['us-east-1a', 'us-east-1b'] });
    rds.calls.length = 0;
    rds.clusterParameterGroups.add('orders-pg16');
    const params = { cluster: 'orders-aurora', healthUrl: `${api.url}/health`, deployments: 'billing', subnetGroup: 'dr-db-subnets', securityGroups: 'sg-0123456789abcdef0', parameterGroup: 'orders-pg16', writerClass: 'db.r6g.large' };
    const run = await engine.service.create({ runbookId: 'restore-database-snapshot', params, requester: ALICE });
    expect(run.plan[0]?.lines[0]?.detail).toMatch(/^the source cluster orders-aurora no longer exists \(deleted\); restore its manual snapshot .*orders-aurora-final/);
    // What a snapshot does not record is given (the parameter group) or safe (deletion protection, tags copied), and the plan says which.
    expect(run.plan[0]?.lines[0]?.detail).toContain('given: cluster parameter group orders-pg16; copied from snapshot orders-aurora-final: port 6432, IAM authentication on; safe default: deletion protection on, copy tags to snapshots on');
    const done = await approveAndFinish(run.id);

    expect(done.state).toBe('succeeded');
    expect(mutatingRds().map((c) => `${c.action} ${c.params.SnapshotIdentifier ?? c.params.DBInstanceIdentifier ?? ''}`)).toEqual([
      'RestoreDBClusterFromSnapshot orders-aurora-final',
      `CreateDBInstance orders-aurora-dr-${run.id}-writer`,
    ]);
    const restored = rds.clusters.get(`orders-aurora-dr-${run.id}`);
    expect(restored).toMatchObject({ subnetGroup: 'dr-db-subnets', securityGroups: ['sg-0123456789abcdef0'] });
    expect(restored?.settings).toEqual({ parameterGroup: 'orders-pg16', port: 6432, iamAuth: true, deletionProtection: true, copyTagsToSnapshot: true });
    expect(rds.callsTo('CreateDBInstance')[0]?.params.DBInstanceClass).toBe('db.r6g.large');
    expect(kubeWrites()).toContain('PATCH /api/v1/namespaces/production/secrets/database-credentials');
    await assertNoSecretLeaked(run.id);
  });

  it('restore-database-pitr refuses a restore point outside the window at plan time; nothing is stored', async () => {
    const before = (await engine.store.list()).length;
    await expect(
      engine.service.create({ runbookId: 'restore-database-pitr', params: { cluster: 'prod-aurora', to: '2020-01-01T00:00:00Z', healthUrl: `${api.url}/health` }, requester: ALICE }),
    ).rejects.toThrow(/Step `restore` \(rds\.restore-pitr\) refused the plan: 2020-01-01T00:00:00\.000Z is outside the restorable window of prod-aurora: /);
    expect(await engine.store.list()).toHaveLength(before);
  });

  it('rollback-deployment: undoes to the previous revision and waits for the rollout', async () => {
    resetKube();
    const run = await engine.service.create({ runbookId: 'rollback-deployment', params: { deployment: 'api-gateway' }, requester: ALICE });
    expect(run.plan[0]?.lines[0]?.detail).toBe(
      'roll back production/api-gateway from revision 2 (api-gateway:1.6.0) to revision 1 (api-gateway:1.5.0, release 1.5.0) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
    );
    const done = await approveAndFinish(run.id);
    expect(done.state).toBe('succeeded');
    expect(kubeWrites()).toEqual(['PATCH /apis/apps/v1/namespaces/production/deployments/api-gateway']);
    expect(done.steps.undo?.outputs).toEqual({ revision: 1, images: 'api-gateway:1.5.0' });
    expect(JSON.stringify(kube.deployments.get('production/api-gateway')?.template)).toContain('api-gateway:1.5.0');
  });

  it('a dry run of restore-database-pitr calls nothing that changes anything', async () => {
    resetKube();
    rds.calls.length = 0;
    const run = await engine.service.create({ runbookId: 'restore-database-pitr', params: { cluster: 'prod-aurora', healthUrl: `${api.url}/health` }, requester: ALICE, dryRun: true });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed'], 30_000);
    expect(done.state).toBe('succeeded');
    expect(mutatingRds()).toEqual([]);
    expect(kubeWrites()).toEqual([]);
    expect(done.steps.restore?.wouldDo?.[0]?.detail).toContain(`as new cluster prod-aurora-dr-${run.id}`);
  });

  const resetVelero = () => {
    kube.velero.clear();
    kube.addBackup('daily-full-backup-20261124020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 27 * HOUR) });
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * HOUR) });
    kube.addBackup('hourly-backup-20261125050000', { schedule: 'hourly-backup', completedAt: new Date(Date.now() - 0.5 * HOUR) });
  };

  it('restore-cluster: Velero restore of the newest full backup (pinned) → workloads available → health', async () => {
    resetKube();
    resetVelero();
    const run = await engine.service.create({ runbookId: 'restore-cluster', params: { healthUrl: `${api.url}/health` }, requester: ALICE });
    // This bot's cluster (its kubeconfig) exists: nothing to wait for; Velero is checked, then the newest full backup restored.
    expect(run.plan.map((p) => p.stepId)).toEqual(['cluster', 'velero', 'restore', 'pods', 'health']);
    expect(run.plan[0]?.lines[0]?.detail).toBe('target default reaches its kubeconfig, not an EKS cluster by name: nothing to wait for');
    expect(run.plan.find((p) => p.stepId === 'restore')?.lines[0]?.detail).toMatch(/^restore \* from backup daily-full-backup-20261125020000 \(completed .*, 3h old\)/);
    // A backup that completes after the plan was approved is not the one restored.
    kube.addBackup('daily-full-backup-20261125060000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 60_000) });
    const done = await approveAndFinish(run.id);

    expect(done.state).toBe('succeeded');
    expect(kubeWrites()).toEqual(['POST /apis/velero.io/v1/namespaces/velero/restores']);
    expect(done.steps.restore?.outputs).toEqual({ restoreName: `dr-${run.id}-restore`, backupName: 'daily-full-backup-20261125020000', itemsRestored: 42, warnings: 0, errors: 0, partial: false });
    expect(done.steps.pods?.outputs).toEqual({ pods: 6 });
  });

  /** Production as real namespaces hold it: a public Service, an Ingress, a CronJob with finished pods, an autoscaler; a drill configuration beside it. */
  const productionWithEverything = () => {
    const meta = (name: string) => ({ name, namespace: 'production' });
    kube.addObject({ apiVersion: 'v1', kind: 'Service', metadata: meta('api-public'), spec: { type: 'LoadBalancer', selector: { app: 'api-gateway' }, ports: [{ port: 443, targetPort: 8443 }] } });
    kube.addObject({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta('api'), spec: { ingressClassName: 'alb', rules: [{ host: 'api.example.com' }] } });
    // The CronJob with its finished and failed Job pods (addCronJobPods makes both).
    kube.addObject({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: meta('api-gateway'), spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api-gateway' }, minReplicas: 3, maxReplicas: 10 } });
    kube.addCronJobPods('production', 'nightly-billing', { succeeded: 3, failed: 1 });
    kube.addSecret('dr-drill-config', 'database-credentials', { host: 'drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com', port: '5432', password: 'drill-only' });
  };
  const drillObjects = (drillNs: string) => kube.objectsIn(drillNs).map((o) => `${String(o.kind)}/${String((o.metadata as { name?: string }).name)}`).sort();

  it('dr-drill on a namespace with CronJobs, Ingresses, LoadBalancer Services and HPAs: green, isolated and clean', async () => {
    resetKube();
    resetVelero();
    productionWithEverything();
    const lbsBefore = [...kube.loadBalancers];
    const run = await engine.service.create({ runbookId: 'dr-drill', params: {}, requester: ALICE });
    const drillNs = `dr-drill-${run.id}`;
    expect(run.plan.map((p) => [p.stepId, p.always ?? false])).toEqual([
      ['cluster', false],
      ['velero', false],
      ['restore', false],
      ['verify', false],
      ['report', false],
      ['cleanup', true],
    ]);
    const restorePlan = run.plan.find((p) => p.stepId === 'restore')?.lines.map((l) => l.detail).join('\n') ?? '';
    expect(restorePlan).toContain('daily-full-backup-20261125020000');
    expect(restorePlan).toContain('the run restores exactly this backup');
    expect(restorePlan).toMatch(/leaves out Ingresses, .*CronJobs, Jobs, HPAs, .*Secrets, ConfigMaps/);
    expect(restorePlan).toContain('LoadBalancer and NodePort Services become ClusterIP');
    expect(restorePlan).toContain(`copy Secrets database-credentials and ConfigMaps none from dr-drill-config into ${drillNs}`);

    let seenInDrill: string[] = [];
    let drillSecretHost: string | undefined;
    const watcher = setInterval(() => {
      const now = drillObjects(drillNs);
      if (now.length > seenInDrill.length) seenInDrill = now;
      drillSecretHost ??= kube.secretValue(drillNs, 'database-credentials', 'host');
    }, 10);
    const done = await approveAndFinish(run.id).finally(() => {
      clearInterval(watcher);
    });

    expect(done.state).toBe('succeeded');
    expect(done.steps.cleanup?.state).toBe('succeeded');
    // Isolated: the workloads came back, nothing that serves traffic, schedules work or scales on production's signals.
    expect(seenInDrill).toEqual(expect.arrayContaining(['Deployment/api-gateway', 'Deployment/billing', 'Service/api-public']));
    expect(seenInDrill.filter((k) => /^(Ingress|CronJob|HorizontalPodAutoscaler|Job)\//.test(k))).toEqual([]);
    expect(kube.loadBalancers).toEqual(lbsBefore);
    expect(drillSecretHost).toBe('drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com');
    // Clean: the drill namespace is gone with everything in it; production is untouched.
    expect(kube.namespaces.has(drillNs)).toBe(false);
    expect(drillObjects(drillNs)).toEqual([]);
    expect(kube.deployments.has('production/api-gateway')).toBe(true);
    expect(kube.secretValue('production', 'database-credentials', 'password')).toBe(DB_PASSWORD);
    expect(done.steps.report?.outputs).toMatchObject({ rto: '24h', withinRto: true });
  });

  it('dr-drill whose restore fails still deletes its namespace, and the run fails with the restore\'s error', async () => {
    resetKube();
    resetVelero();
    productionWithEverything();
    kube.restoreOutcome = { phase: 'Failed', failureReason: 'error restoring: object storage unreachable' };
    try {
      const run = await engine.service.create({ runbookId: 'dr-drill', params: {}, requester: ALICE });
      const done = await approveAndFinish(run.id);
      expect(done.state).toBe('failed');
      expect(done.failure).toMatchObject({ stepId: 'restore', message: expect.stringContaining('object storage unreachable') as unknown });
      expect(done.steps.cleanup?.state).toBe('succeeded');
      expect(kube.namespaces.has(`dr-drill-${run.id}`)).toBe(false);
    } finally {
      kube.restoreOutcome = { phase: 'Completed' };
    }
  });

  it('a cancelled dr-drill still deletes its namespace', async () => {
    resetKube();
    resetVelero();
    productionWithEverything();
    kube.restoreMs = 60_000;
    try {
      const run = await engine.service.create({ runbookId: 'dr-drill', params: {}, requester: ALICE });
      await engine.service.approve(run.id, BOB);
      const drillNs = `dr-drill-${run.id}`;
      const deadline = Date.now() + 15_000;
      while (!kube.namespaces.has(drillNs) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await engine.service.cancel(run.id, ALICE, 'drill window over');
      const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 60_000);
      expect(done.state).toBe('cancelled');
      expect(done.steps.restore?.state).toBe('cancelled');
      expect(done.steps.cleanup?.state).toBe('succeeded');
      expect(kube.namespaces.has(drillNs)).toBe(false);
    } finally {
      kube.restoreMs = 300;
    }
  });

  it('failover-region: two approvals → promote DR database → scale nodes → repoint → restart → health, over EKS tokens', async () => {
    const eks = await new FakeEks().start();
    const drKube = await new FakeKube().start();
    drKube.requireEksToken = true;
    drKube.rolloutMs = 200;
    drKube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password: DB_PASSWORD });
    drKube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });
    eks.addCluster('eks-dr', drKube.url);
    eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 1, desired: 1 });
    eks.onScaled = (ng, desired) => drKube.nodes.set(ng, desired);
    rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' });
    const replica = rds.clusters.get('prod-aurora-replica');
    if (replica) replica.replicationSource = 'prod-aurora';
    rds.calls.length = 0;
    const dr = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets({ aws: { region: 'us-west-2', rdsEndpointUrl: rds.url, eksEndpointUrl: eks.url }, kubernetes: { eksCluster: 'eks-dr' } }),
    });
    try {
      const run = await dr.service.create({ runbookId: 'failover-region', params: { healthUrl: `${api.url}/health`, nodes: 4 }, requester: ALICE });
      expect(run.plan.flatMap((p) => p.lines.filter((l) => l.irreversible).map((l) => l.detail))).toEqual([
        'promote read replica prod-aurora-replica in us-west-2 to a standalone writer; replication from the primary stops for good (auto: promote-replica for aurora-mysql)',
      ]);
      expect((await dr.service.approve(run.id, BOB)).outcome).toBe('recorded');
      expect((await dr.service.approve(run.id, { id: 'U0CAROL001', name: 'carol', via: 'slack' })).outcome).toBe('approved');
      const done = await dr.waitForState(run.id, ['succeeded', 'failed'], 60_000);

      expect(done.failure).toBeUndefined();
      expect(done.state).toBe('succeeded');
      expect(mutatingRds().map((c) => `${c.action} ${c.params.DBClusterIdentifier ?? ''}`)).toEqual(['PromoteReadReplicaDBCluster prod-aurora-replica']);
      expect(eks.calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual(['/clusters/eks-dr/node-groups/workers/update-config']);
      expect(drKube.calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path.split('?')[0] ?? ''}`)).toEqual([
        'PATCH /api/v1/namespaces/production/secrets/database-credentials',
        'PATCH /apis/apps/v1/namespaces/production/deployments/api-gateway',
      ]);
      expect(drKube.secretValue('production', 'database-credentials', 'host')).toBe('prod-aurora-replica.cluster-abc123.us-east-1.rds.amazonaws.com');
      expect(done.steps.scale?.outputs).toEqual({ desired: 4, readyNodes: 4 });
    } finally {
      await dr.stop();
      await Promise.all([eks.stop(), drKube.stop()]);
    }
  });
});
