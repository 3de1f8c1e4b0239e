import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MERGE_PATCH } from '../../../src/steps/kube/api.ts';
import { rolloutRestartStep, rolloutStatusStep, rolloutUndoStep } from '../../../src/steps/kube/rollout.ts';
import { updateSecretStep } from '../../../src/steps/kube/update-secret.ts';
import { verifyWorkloadsStep } from '../../../src/steps/kube/verify.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { resourceByPath } from '../../support/kube/objects.ts';
import { createStepClients, planContext, stepContext, withClients } from '../../support/step-context.ts';

/** The HTTP status and the API server's message of a refused call. */
async function refusal(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string };
    return { code: e.code ?? 0, message: body.message ?? '' };
  }
  throw new Error('expected the API server to refuse the call');
}

describe('Kubernetes conformance: what the steps send, and a fake as strict as the API server', () => {
  let kube: FakeKube;
  let clients: ReturnType<typeof createStepClients>;

  beforeAll(async () => {
    kube = await new FakeKube().start();
    clients = createStepClients({ aws: {}, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.secrets.clear();
    kube.objects.clear();
    kube.calls.length = 0;
    kube.rolloutMs = 300;
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.5.0', 'api-gateway:1.6.0']);
    kube.addDeployment('production', 'worker', ['worker:2.0.0']);
    kube.addSecret('production', 'database-credentials', { host: 'old.example.com' });
  });

  it('restartedAt is RFC 3339 without fractional seconds, as kubectl writes it', async () => {
    await withClients(rolloutRestartStep(), clients).run(stepContext(), { namespace: 'production', deployments: ['worker'] });
    const restartedAt = (kube.deployments.get('production/worker')?.template.metadata as { annotations?: Record<string, string> }).annotations?.['kubectl.kubernetes.io/restartedAt'];
    expect(restartedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('every write carries fieldManager=dr-chatops', async () => {
    await withClients(rolloutRestartStep(), clients).run(stepContext(), { namespace: 'production', deployments: ['worker'] });
    await withClients(rolloutUndoStep(), clients).run(stepContext(), { namespace: 'production', deployment: 'api-gateway', toRevision: 0 });
    await withClients(updateSecretStep(), clients).run(stepContext(), { namespace: 'production', name: 'database-credentials', values: { host: 'new.example.com' } });
    const writes = kube.calls.filter((c) => ['PATCH', 'POST', 'PUT'].includes(c.method));
    expect(writes.map((c) => c.path.split('?')[0])).toEqual([
      '/apis/apps/v1/namespaces/production/deployments/worker',
      '/apis/apps/v1/namespaces/production/deployments/api-gateway',
      '/api/v1/namespaces/production/secrets/database-credentials',
    ]);
    for (const w of writes) expect(new URL(w.path, 'http://x').searchParams.get('fieldManager')).toBe('dr-chatops');
  });

  it('records who created an object as the API server does, and refuses a fieldManager it would refuse', async () => {
    /** A ConfigMap created as a client would send it: `fieldManager` in the query, its own User-Agent. */
    const create = async (name: string, fieldManager?: string) => {
      const query = fieldManager === undefined ? '' : `?fieldManager=${encodeURIComponent(fieldManager)}`;
      const res = await fetch(`${kube.url}/api/v1/namespaces/production/configmaps${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'production' }, data: {} }),
      });
      return { code: res.status, message: ((await res.json()) as { message?: string }).message };
    };
    expect((await create('marker', 'dr-chatops')).code).toBe(201);
    expect(await create('long', 'm'.repeat(129))).toEqual({ code: 422, message: 'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes' });
    expect(await create('bell', 'dr\u0007chatops')).toEqual({ code: 422, message: 'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Invalid value: "dr\\u0007chatops": invalid character U+0007 (at position 2)' });
    // 128 bytes of printable characters are fine; without a fieldManager the manager is the User-Agent's product name.
    expect((await create('edge', 'é'.repeat(64))).code).toBe(201);
    expect((await create('by-kubectl')).code).toBe(201);
    expect(kube.calls.filter((c) => c.method === 'POST').map((c) => c.manager)).toEqual(['dr-chatops', undefined, undefined, 'é'.repeat(64), 'kubectl']);
    const configMaps = resourceByPath('', 'v1', 'configmaps');
    expect(configMaps && kube.objects.list(configMaps, 'production').map((o) => (o.metadata as { name: string }).name).sort()).toEqual(['by-kubectl', 'edge', 'marker']);
  });

  it('a list longer than one page is read whole, 500 at a time with continue, as kubectl pages', async () => {
    kube.namespaces.add('big');
    const names = Array.from({ length: 1_201 }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
    for (const name of names) kube.addDeployment('big', name, [`${name}:1`], { replicas: 1 });
    const planned = planContext();
    const [line] = await withClients(rolloutStatusStep(), clients).plan(planned, { namespace: 'big', deployments: ['*'] });
    expect(planned.pins.deployments).toEqual(names);
    expect(line?.detail).toContain('svc-1200 have rolled out');
    const lists = kube.callsMatching('GET', '/namespaces/big/deployments').map((c) => new URL(c.path, 'http://x').searchParams);
    expect(lists.map((q) => [q.get('limit'), q.has('continue')])).toEqual([
      ['500', false],
      ['500', true],
      ['500', true],
    ]);
    expect(await withClients(verifyWorkloadsStep(), clients).run(stepContext(), { namespace: 'big', minPods: 1 })).toEqual({ pods: 1_201 });
  });

  it('the fake pages lists: metadata.continue and remainingItemCount, then the rest', async () => {
    const { apps } = await clients.kube();
    const first = await apps.listNamespacedDeployment({ namespace: 'production', limit: 1 });
    expect(first.items.map((d) => d.metadata?.name)).toEqual(['api-gateway']);
    expect(first.metadata?.remainingItemCount).toBe(1);
    const rest = await apps.listNamespacedDeployment({ namespace: 'production', limit: 1, _continue: first.metadata?._continue ?? '' });
    expect(rest.items.map((d) => d.metadata?.name)).toEqual(['worker']);
    expect(rest.metadata?._continue).toBeUndefined();
  });

  it('refuses a write whose result breaks the schema (422 Invalid, as the API server words it) and changes nothing', async () => {
    const { apps, core } = await clients.kube();
    const before = kube.deployments.get('production/worker')?.resourceVersion;
    const invalid = await refusal(apps.patchNamespacedDeployment({ name: 'worker', namespace: 'production', body: { spec: { replicas: 'three' } } }, MERGE_PATCH));
    expect(invalid).toEqual({ code: 422, message: 'Deployment.apps "worker" is invalid: spec.replicas: Invalid value: "three": spec.replicas in body must be integer' });
    expect(kube.deployments.get('production/worker')?.replicas).toBe(3);
    expect(kube.deployments.get('production/worker')?.resourceVersion).toBe(before);
    const secret = await refusal(core.patchNamespacedSecret({ name: 'database-credentials', namespace: 'production', body: { data: { host: 42 } } }, MERGE_PATCH));
    expect(secret.code).toBe(422);
    expect(kube.secretValue('production', 'database-credentials', 'host')).toBe('old.example.com');
  });

  it('a status write bumps resourceVersion: a patch naming the version read before the rollout moved on is refused 409', async () => {
    await withClients(rolloutUndoStep(), clients).run(stepContext(), { namespace: 'production', deployment: 'api-gateway', toRevision: 0 });
    const { apps } = await clients.kube();
    const read = await apps.readNamespacedDeployment({ name: 'api-gateway', namespace: 'production' });
    // The rollout finishes: the controller's status writes come after our read.
    let now = read;
    while (now.metadata?.resourceVersion === read.metadata?.resourceVersion) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await apps.readNamespacedDeployment({ name: 'api-gateway', namespace: 'production' });
    }
    const stale = { metadata: { resourceVersion: read.metadata?.resourceVersion }, spec: { replicas: 4 } };
    expect((await refusal(apps.patchNamespacedDeployment({ name: 'api-gateway', namespace: 'production', body: stale }, MERGE_PATCH))).code).toBe(409);
    // The restart step re-reads on 409 and restarts once.
    expect(await withClients(rolloutRestartStep(), clients).run(stepContext(), { namespace: 'production', deployments: ['api-gateway'] })).toEqual({ restarted: 'api-gateway' });
  });

  it('restored LoadBalancer Services get a cloud load balancer, and the fake says so', () => {
    kube.namespaces.add('dr-drill-rconf001');
    kube.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'public-api', namespace: 'production' }, spec: { type: 'LoadBalancer', ports: [{ port: 443 }] } });
    kube.addObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'production' }, data: { mode: 'live' } });
    for (const obj of kube.objectsIn('production')) kube.restoreObject({ ...obj, metadata: { ...(obj.metadata as object), namespace: 'dr-drill-rconf001' } });
    expect(kube.loadBalancers).toEqual(['production/public-api', 'dr-drill-rconf001/public-api']);
    expect(kube.objectsIn('dr-drill-rconf001').map((o) => `${String(o.kind)}/${(o.metadata as { name: string }).name}`).sort()).toEqual([
      'ConfigMap/settings',
      'Deployment/api-gateway',
      'Deployment/worker',
      'Service/public-api',
    ]);
  });
});
