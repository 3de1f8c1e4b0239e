import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { veleroRestoreStep } from '../../../src/steps/velero/restore.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';
import { VeleroTestCluster } from '../../support/velero-cluster.ts';

const HOUR = 3_600_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const meta = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({ name, namespace, ...extra });

/** production as a real one looks: traffic from outside, schedules, autoscaling, DNS, and configuration pointing at production data. */
function production(cluster: VeleroTestCluster): void {
  const ns = 'production';
  const podSpec = {
    serviceAccountName: 'api',
    containers: [
      {
        name: 'api',
        image: 'api:1.6.0',
        envFrom: [{ secretRef: { name: 'database-credentials' } }, { configMapRef: { name: 'app-config' } }],
        env: [{ name: 'PAYMENTS_KEY', valueFrom: { secretKeyRef: { name: 'payments-api-key', key: 'key' } } }],
      },
    ],
    volumes: [{ name: 'uploads', persistentVolumeClaim: { claimName: 'uploads' } }],
  };
  cluster.add({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('api', ns), spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: podSpec } } });
  cluster.add({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('api-public', ns, { annotations: { 'external-dns.alpha.kubernetes.io/hostname': 'api.example.com', 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' } }),
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'api' }, ports: [{ port: 443, targetPort: 8443 }] },
  });
  cluster.add({ apiVersion: 'v1', kind: 'Service', metadata: meta('api', ns), spec: { type: 'ClusterIP', selector: { app: 'api' }, ports: [{ port: 80 }] } });
  cluster.add({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('api', ns, { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/prod-api' } }) });
  cluster.add({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: meta('api', ns, { annotations: { 'alb.ingress.kubernetes.io/group.name': 'production' } }),
    spec: { ingressClassName: 'alb', rules: [{ host: 'api.example.com' }] },
  });
  cluster.add({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('nightly-billing', ns), spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: podSpec } } } } });
  cluster.add({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: meta('api', ns), spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }, minReplicas: 2, maxReplicas: 10 } });
  cluster.add({ apiVersion: 'v1', kind: 'Secret', metadata: meta('database-credentials', ns), type: 'Opaque', data: { host: b64('prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com'), password: b64('production-password') } });
  cluster.add({ apiVersion: 'v1', kind: 'Secret', metadata: meta('payments-api-key', ns), type: 'Opaque', data: { key: b64('live-key') } });
  cluster.add({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('app-config', ns), data: { MODE: 'production' } });
  cluster.add({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta('uploads', ns), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } });
  // The drill's own configuration: a drill database, no payments key.
  cluster.add({ apiVersion: 'v1', kind: 'Secret', metadata: meta('database-credentials', 'dr-drill-config'), type: 'Opaque', data: { host: b64('drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com'), password: b64('drill-password') } });
  cluster.add({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('app-config', 'dr-drill-config'), data: { MODE: 'drill' } });
}

describe('velero.restore: a drill isolated from production', () => {
  let cluster: VeleroTestCluster;
  let restore: ReturnType<typeof veleroRestoreStep>;

  beforeAll(async () => {
    cluster = await new VeleroTestCluster().start();
    restore = withClients(veleroRestoreStep(), createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: cluster.writeKubeconfig() } }));
  });
  afterAll(async () => {
    await cluster.stop();
  });
  beforeEach(() => {
    cluster.objects.clear();
    cluster.loadBalancers.length = 0;
    cluster.calls.length = 0;
    cluster.velero.clear();
    cluster.velero.restoreMs = 200;
    production(cluster);
    cluster.velero.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * HOUR) });
  });

  const drill = (runId: string, extra: Record<string, unknown> = {}) =>
    restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: `dr-drill-${runId}`, configFrom: 'dr-drill-config', ...extra });

  it('the plan says what the drill restores, leaves out and changes, where its configuration comes from and what it lacks', async () => {
    const [restoreLine, configLine] = await restore.plan(planContext('rdrl0001', 'restore'), drill('rdrl0001'));
    expect(restoreLine?.detail).toContain('into production → dr-drill-rdrl0001');
    expect(restoreLine?.detail).toContain(
      'isolated drill: restores the other objects of production (workloads, Services, ServiceAccounts, …); leaves out Ingresses, Gateway API routes, target group bindings, CronJobs, Jobs, HPAs, KEDA ScaledObjects/ScaledJobs, cert-manager Certificates/Issuers, external-dns DNSEndpoints, Secrets, ConfigMaps, PersistentVolumeClaims, PersistentVolumes',
    );
    expect(restoreLine?.detail).toContain('PVCs left out: uploads (deployment api): workloads that mount them stay Pending');
    expect(restoreLine?.detail).toContain('changes: LoadBalancer and NodePort Services become ClusterIP (no load balancer, no node port); external-dns annotations and EKS IAM role annotations (eks.amazonaws.com/role-arn) are removed');
    expect(configLine).toEqual({
      action: 'create',
      resource: 'drill configuration in dr-drill-rdrl0001',
      detail:
        "copy Secrets database-credentials and ConfigMaps app-config from dr-drill-config into dr-drill-rdrl0001 (production's are not restored); the restored workloads reference Secret payments-api-key (deployment api), which dr-drill-config lacks: their pods will not start",
    });
  });

  it('restores no load balancer, Ingress, CronJob or HPA, and the drill reads the drill database credentials', async () => {
    const out = await restore.run(stepContext({ runId: 'rdrl0002', stepId: 'restore' }), drill('rdrl0002'));
    expect(out).toMatchObject({ restoreName: 'dr-rdrl0002-restore', partial: false, errors: 0 });
    const ns = 'dr-drill-rdrl0002';

    expect(cluster.kindsIn(ns)).toEqual(['ConfigMap/app-config', 'Deployment/api', 'Secret/database-credentials', 'Service/api', 'Service/api-public', 'ServiceAccount/api']);
    expect(cluster.loadBalancers).toEqual([]);
    const service = cluster.get('Service', ns, 'api-public') as { metadata: { annotations?: Record<string, string> }; spec: Record<string, unknown> };
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.externalTrafficPolicy).toBeUndefined();
    expect(service.metadata.annotations?.['external-dns.alpha.kubernetes.io/hostname']).toBeUndefined();
    const account = cluster.get('ServiceAccount', ns, 'api') as { metadata: { annotations?: Record<string, string> } };
    expect(account.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBeUndefined();
    const credentials = cluster.get('Secret', ns, 'database-credentials') as { data: Record<string, string> };
    expect(Buffer.from(credentials.data.host ?? '', 'base64').toString()).toBe('drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com');
    // Production is untouched.
    expect(cluster.get('Service', 'production', 'api-public')).toMatchObject({ spec: { type: 'LoadBalancer' } });

    // Velero's own means: resource filters and a resource modifier ConfigMap, removed once the restore ended.
    const body = cluster.calls.find((c) => c.method === 'POST' && c.path.startsWith('/apis/velero.io/v1/namespaces/velero/restores'))?.body as { spec: Record<string, unknown> };
    expect(body.spec.excludedResources).toEqual(expect.arrayContaining(['ingresses.networking.k8s.io', 'cronjobs.batch', 'horizontalpodautoscalers.autoscaling', 'secrets', 'configmaps', 'persistentvolumeclaims']));
    expect(body.spec.resourceModifier).toEqual({ kind: 'ConfigMap', name: 'dr-rdrl0002-restore-modifiers' });
    expect(cluster.get('ConfigMap', 'velero', 'dr-rdrl0002-restore-modifiers')).toBeUndefined();
    expect(cluster.velero.warnings).toEqual([]);
    // Every object the drill created is recorded under the bot's field manager, as its patches are.
    expect(cluster.calls.filter((c) => c.method === 'POST').map((c) => `${c.path.split('?')[0] ?? ''} by ${c.manager ?? ''}`)).toEqual([
      '/api/v1/namespaces by dr-chatops',
      '/api/v1/namespaces/dr-drill-rdrl0002/secrets by dr-chatops',
      '/api/v1/namespaces/dr-drill-rdrl0002/configmaps by dr-chatops',
      '/api/v1/namespaces/velero/configmaps by dr-chatops',
      '/apis/velero.io/v1/namespaces/velero/restores by dr-chatops',
    ]);

    // Re-entered (a worker died): the same restore is adopted, nothing is created twice.
    await restore.run(stepContext({ runId: 'rdrl0002', stepId: 'restore', attempt: 2 }), drill('rdrl0002'));
    expect(cluster.calls.filter((c) => c.method === 'POST' && c.path.includes('/restores'))).toHaveLength(1);
  });

  it('without configFrom the plan says no configuration is restored and which pods will not start', async () => {
    const [, configLine] = await restore.plan(planContext(), drill('rdrl0005', { configFrom: undefined }));
    expect(configLine?.detail).toBe(
      "no drill configuration (configFrom): production's are not restored into dr-drill-rdrl0005; the restored workloads reference Secret database-credentials (deployment api), Secret payments-api-key (deployment api), ConfigMap app-config (deployment api), which nothing provides: their pods will not start",
    );
  });

  it('isolate: false restores a copy that acts as production, and the plan says so', async () => {
    const p = drill('rdrl0003', { isolate: false, configFrom: undefined });
    const [line] = await restore.plan(planContext(), p);
    expect(line?.detail).toContain('NOT isolated (isolate: false): Secrets, ConfigMaps, Ingresses, CronJobs, autoscalers and LoadBalancer Services are restored as in production');
    await restore.run(stepContext({ runId: 'rdrl0003', stepId: 'restore' }), p);
    expect(cluster.loadBalancers).toEqual(['dr-drill-rdrl0003/api-public']);
    expect(cluster.kindsIn('dr-drill-rdrl0003')).toContain('Ingress/api');
  });

  it('refuses volumes from a backup without volume snapshots, naming the PVCs', async () => {
    const failure = await failureOf(restore.plan(planContext(), drill('rdrl0004', { includeVolumes: true })));
    expect(failure).toEqual({
      permanent: true,
      message:
        "backup daily-full-backup-20261125020000 holds no volume snapshots, so restoring the PVCs uploads (deployment api) would bind them to production's retained volumes or leave them unbound (their pods Pending); drill without includeVolumes, or from a backup with volume snapshots",
    });
    expect(restore.params.safeParse({ schedule: 'daily-full-backup', includedNamespaces: ['*'], isolate: true }).error?.issues[0]?.message).toBe(
      'an isolated restore needs the namespaces to restore listed in includedNamespaces (not *)',
    );
  });
});

/** The same drill against the shared fake API server (fake-kube.ts), whose writes are checked against Kubernetes' OpenAPI schemas. */
describe('velero.restore: a drill against FakeKube', () => {
  let kube: FakeKube;
  let restore: ReturnType<typeof veleroRestoreStep>;

  beforeAll(async () => {
    kube = await new FakeKube().start();
    restore = withClients(veleroRestoreStep(), createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }));
  });
  afterAll(async () => {
    await kube.stop();
  });

  it('restores the workloads without a load balancer, Ingress, CronJob or HPA, with the drill database credentials', async () => {
    kube.velero.clear();
    kube.calls.length = 0;
    kube.restoreMs = 200;
    const ns = 'production';
    kube.addDeployment(ns, 'api', ['api:1.6.0'], { replicas: 2 });
    kube.addObject({ apiVersion: 'v1', kind: 'Service', metadata: meta('api-public', ns), spec: { type: 'LoadBalancer', selector: { app: 'api' }, ports: [{ port: 443, targetPort: 8443 }] } });
    kube.addObject({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta('api', ns), spec: { ingressClassName: 'alb', rules: [{ host: 'api.example.com' }] } });
    kube.addObject({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('nightly-billing', ns), spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'billing', image: 'billing:1' }] } } } } } });
    kube.addObject({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: meta('api', ns), spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }, minReplicas: 2, maxReplicas: 10 } });
    kube.addSecret(ns, 'database-credentials', { host: 'prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com' });
    kube.addSecret('dr-drill-config', 'database-credentials', { host: 'drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com' });
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * HOUR) });
    const drillNs = 'dr-drill-rdrk0001';
    const lbsBefore = [...kube.loadBalancers];

    await restore.run(stepContext({ runId: 'rdrk0001', stepId: 'restore' }), restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: [ns], restoreInto: drillNs, configFrom: 'dr-drill-config' }));

    const kinds = kube.objectsIn(drillNs).map((o) => `${String(o.kind)}/${String((o.metadata as { name?: string }).name)}`).sort();
    expect(kinds).toEqual(['Deployment/api', 'Service/api-public']);
    expect(kube.objectsIn(drillNs).find((o) => o.kind === 'Service')).toMatchObject({ spec: { type: 'ClusterIP' } });
    expect(kube.loadBalancers).toEqual(lbsBefore);
    expect(kube.secretValue(drillNs, 'database-credentials', 'host')).toBe('drill-aurora.cluster-xyz.us-east-1.rds.amazonaws.com');
    expect(kube.velero.warnings).toEqual([]);
    const creates = kube.calls.filter((c) => c.method === 'POST');
    expect(creates.map((c) => c.path.split('?')[0])).toEqual([
      '/api/v1/namespaces',
      `/api/v1/namespaces/${drillNs}/secrets`,
      '/api/v1/namespaces/velero/configmaps',
      '/apis/velero.io/v1/namespaces/velero/restores',
    ]);
    expect(new Set(creates.map((c) => c.manager))).toEqual(new Set(['dr-chatops']));
  });

  it('refuses to drill into a namespace that already exists and is not its own, creating no restore and copying nothing', async () => {
    kube.velero.clear();
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * HOUR) });
    kube.addSecret('dr-drill-rtaken01', 'database-credentials', { host: 'prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com' });
    const failure = await restore
      .run(stepContext({ runId: 'rother01', stepId: 'restore' }), restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: 'dr-drill-rtaken01', configFrom: 'dr-drill-config' }))
      .then(() => undefined, (e: unknown) => e as Error);
    expect(failure?.name).toBe('PermanentStepError');
    expect(failure?.message).toContain('namespace dr-drill-rtaken01 already exists and was not made by this run');
    expect([...kube.velero.keys()].filter((k) => k.startsWith('restores/'))).toEqual([]);
    expect(kube.secretValue('dr-drill-rtaken01', 'database-credentials', 'host')).toBe('prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com');
  });
});
