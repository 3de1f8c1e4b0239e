/**
 * A loopback Kubernetes API server, as strict as the real one for what the
 * steps do: apps/v1 deployments (with rollouts, kube/deployments.ts) and
 * replicasets, core/v1 secrets, pods and namespaces (asynchronous deletion,
 * finalizers: kube/namespaces.ts), and the other kinds a namespace holds
 * (statefulsets, daemonsets, services, ingresses, configmaps, cronjobs, jobs,
 * HPAs, PVCs: kube/objects.ts). Every write is validated against the
 * Kubernetes OpenAPI schemas (422 Invalid, nothing changed: kube/validate.ts);
 * lists page with `limit`/`continue` (kube/list.ts); every write, status
 * writes included, changes resourceVersion, and a stale precondition is 409.
 * Errors are the API server's `Status` objects. Velero's group: fake-velero.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackupOptions, FakeVelero, type Obj, parseSelector, type RestoreOutcome, type VeleroCluster } from './fake-velero.ts';
import { KubeError } from './kube-error.ts';
import { DeploymentStore, type FakeDeployment, type FakeReplicaSet, labelsOf } from './kube/deployments.ts';
import type { FakeSts } from './fake-sts.ts';
import { checkEksToken, eksTokenSigner } from './kube/eks-token.ts';
import { writeManager } from './kube/field-manager.ts';
import { listResponse } from './kube/list.ts';
import { NamespaceLifecycle } from './kube/namespaces.ts';
import { apiVersionOf, checkDeletePreconditions, ObjectStore, qualified, resourceByPath, resourceOf } from './kube/objects.ts';
import { applyPatch } from './kube/patch.ts';
import { addCronJobPods, addPod, type PodOptions, selectPodsByFields } from './kube/pods.ts';
import { type BudgetOptions, Evictions, PDB_TYPE } from './kube/evictions.ts';
import { type NodeOptions, NodeStore } from './kube/nodes.ts';
import { scaleRoute } from './kube/scale.ts';
import { type FakeSecret, secretRoute, secretsRoute } from './kube/secrets.ts';
import { validateObject } from './kube/validate.ts';
import { injectedFailure, LoopbackFake, readBody } from './loopback.ts';

export type { FakeDeployment, FakeReplicaSet } from './kube/deployments.ts';
export type { PodOptions } from './kube/pods.ts';
export type { BudgetOptions } from './kube/evictions.ts';
export type { NodeOptions } from './kube/nodes.ts';
export type { FakeSecret } from './kube/secrets.ts';

export interface KubeCall {
  method: string;
  /** Path and query (`?fieldManager=dr-chatops`, `?limit=500&continue=…`). */
  path: string;
  contentType?: string;
  body?: unknown;
  /** A write's field manager as the API server records it: its `fieldManager`, else the User-Agent's product name (kube/field-manager.ts). */
  manager?: string;
}

export class FakeKube extends LoopbackFake implements VeleroCluster {
  /** Fraction of calls answered 503 at random, before anything is applied. */
  failRate = 0;
  private version = 100;
  private readonly nextVersion = () => ++this.version;
  private readonly apps = new DeploymentStore(this.nextVersion);
  /** Every other namespaced kind (statefulsets, services, cronjobs, pods added by tests…). */
  readonly objects = new ObjectStore(this.nextVersion);
  readonly secrets = new Map<string, FakeSecret>();
  readonly calls: KubeCall[] = [];
  /** Velero's API group (velero.io/v1), served by this server. */
  readonly velero: FakeVelero = new FakeVelero(this, this.nextVersion);
  /** Namespaces that exist besides those holding objects. */
  readonly namespaces = new Set<string>(['velero', 'production']);
  private readonly lifecycle = new NamespaceLifecycle(this.namespaces, (ns) => this.namespaceExists(ns), (ns) => this.removeNamespaceContent(ns));
  /** Ready nodes per EKS node group (label eks.amazonaws.com/nodegroup). */
  readonly nodes = new Map<string, number>();
  /** Nodes with their labels (zone) and cordons (kube/nodes.ts), besides the node-group counts above. */
  readonly nodeObjects = new NodeStore(this.nextVersion);
  /** The Eviction subresource and PodDisruptionBudgets (kube/evictions.ts): `graceMs`, `replace`. */
  readonly evictions = new Evictions(this.objects, this.nodeObjects);
  /** When set, every request must carry a well-formed EKS token (see src/steps/eks/token.ts). */
  requireEksToken = false;
  /** The clock the EKS token check uses (a test may move it; the rest of the fake keeps real time). */
  now: () => number = Date.now;
  /** The bearer token of each request, in order (empty string when none). */
  readonly bearerTokens: string[] = [];
  /** The AWS access key id that signed each request's EKS token (its `X-Amz-Credential`), in order; requests without one are left out. */
  readonly eksCallers: string[] = [];
  private sessionIssuer: FakeSts | undefined;
  /** New rollouts (and restored workloads coming up) take this long. */
  rolloutMs = 400;
  /** How long the pods a deployment's scale-down removes stay terminating (their grace period) before they are gone. */
  podTerminationMs = 300;

  /**
   * EKS tokens signed with session credentials (ASIA…) are let in only while
   * `sts` says they are live: one it never issued, or one expired by its
   * clock, is 401 (what STS answers the authenticator's GetCallerIdentity).
   */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  get deployments(): Map<string, FakeDeployment> {
    return this.apps.deployments;
  }
  get replicaSets(): FakeReplicaSet[] {
    return this.apps.replicaSets;
  }
  /** How long a deleted namespace stays Terminating before it is gone (unless held). */
  get namespaceTerminationMs(): number {
    return this.lifecycle.terminationMs;
  }
  set namespaceTerminationMs(ms: number) {
    this.lifecycle.terminationMs = ms;
  }
  /** Every cloud load balancer a LoadBalancer Service made (`namespace/name`), restores included. */
  get loadBalancers(): readonly string[] {
    return this.objects.loadBalancers;
  }
  /** How long a Velero restore stays InProgress, and how it ends (FakeVelero's settings). */
  get restoreMs(): number {
    return this.velero.restoreMs;
  }
  set restoreMs(ms: number) {
    this.velero.restoreMs = ms;
  }
  get restoreOutcome(): RestoreOutcome {
    return this.velero.restoreOutcome;
  }
  set restoreOutcome(outcome: RestoreOutcome) {
    this.velero.restoreOutcome = outcome;
  }

  /** A kubeconfig file pointing at this server, as KUBECONFIG would. */
  writeKubeconfig(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'kubeconfig-')), 'config');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: bot\n  user:\n    token: fake-kube-token-0123456789',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: bot',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return path;
  }

  /** A deployment with one revision per image in its history (the last is current). */
  addDeployment(namespace: string, name: string, images: string[], options: { replicas?: number; changeCauses?: string[]; nodes?: string[] } = {}): FakeDeployment {
    const templates = images.map((image) => ({ metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } }));
    const changeCauses = images.map((image, i) => options.changeCauses?.[i] ?? `deploy ${image}`);
    return this.apps.add(namespace, name, templates, { ...(options.replicas !== undefined ? { replicas: options.replicas } : {}), ...(options.nodes ? { nodes: options.nodes } : {}), changeCauses });
  }

  /** Any object of the kinds kube/objects.ts stores (validated); StatefulSets and DaemonSets come up after `readyMs`. */
  addObject(obj: Obj, options: { readyMs?: number } = {}): Obj {
    return this.objects.create(obj, options);
  }

  /** A StatefulSet whose pods become ready after `readyMs` (0: at once). */
  addStatefulSet(namespace: string, name: string, options: { replicas?: number; readyMs?: number } = {}): Obj {
    const labels = { app: name };
    return this.addObject(
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace, labels }, spec: { replicas: options.replicas ?? 3, serviceName: name, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, image: `${name}:1` }] } } } },
      { readyMs: options.readyMs ?? 0 },
    );
  }

  /** A pod of its own: finished (`Succeeded`), evicted (`Failed`, reason Evicted), owned by a Job… (kube/pods.ts). */
  addPod(namespace: string, name: string, options: PodOptions = {}): Obj {
    return addPod(this.objects, namespace, name, options);
  }

  /** A node in an AZ (`topology.kubernetes.io/zone`), optionally cordoned. */
  addNode(name: string, options: NodeOptions): Obj {
    return this.nodeObjects.add(name, options);
  }

  /** A PodDisruptionBudget (policy/v1) over the pods with `matchLabels`. */
  addPdb(namespace: string, name: string, options: BudgetOptions): Obj {
    return this.evictions.addBudget(namespace, name, options);
  }

  /** A CronJob with its finished Jobs and their `Succeeded` pods, as `successfulJobsHistoryLimit` (3) keeps them. */
  addCronJobPods(namespace: string, cronJob: string, options: { succeeded?: number; failed?: number } = {}): void {
    addCronJobPods(this.objects, namespace, cronJob, options);
  }

  /** Something in `namespace` keeps `finalizer`: deleting the namespace never finishes until `releaseNamespace`. */
  holdNamespace(namespace: string, finalizer: string, resource?: string): void {
    this.lifecycle.hold(namespace, finalizer, resource);
  }

  releaseNamespace(namespace: string): void {
    this.lifecycle.release(namespace);
  }

  /** A Velero backup, as a schedule names them (`<schedule>-<YYYYMMDDHHMMSS>`); see FakeVelero.addBackup. */
  addBackup(name: string, options: BackupOptions): void {
    this.velero.addBackup(name, options);
  }

  addSecret(namespace: string, name: string, values: Record<string, string>): void {
    this.secrets.set(`${namespace}/${name}`, {
      namespace,
      name,
      data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      resourceVersion: ++this.version,
    });
  }

  secretValue(namespace: string, name: string, key: string): string | undefined {
    const data = this.secrets.get(`${namespace}/${name}`)?.data[key];
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
  }

  callsMatching(method: string, pathPart: string): KubeCall[] {
    return this.calls.filter((c) => c.method === method && c.path.includes(pathPart));
  }

  /** The cluster side of a Velero restore (fake-velero.ts): a namespace's objects, as a backup holds them (pods are remade by their controllers). */
  objectsIn(namespace: string): Obj[] {
    const stored = this.objects.inNamespace(namespace).filter((o) => o.kind !== 'Pod');
    return [...this.apps.inNamespace(namespace).map((d) => this.apps.json(d)), ...stored];
  }

  /**
   * The cluster side of a Velero restore: writes one object, already in its
   * target namespace, as a new object. A Deployment starts rolling out and is
   * available after `rolloutMs`, as are StatefulSets and DaemonSets; a
   * LoadBalancer Service gets a cloud load balancer; a CronJob starts a Job.
   * An object that exists already is left as it is (Velero's default policy).
   */
  restoreObject(obj: Obj): void {
    const metadata = (obj.metadata ?? {}) as { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    const namespace = metadata.namespace ?? '';
    const name = metadata.name ?? '';
    this.namespaces.add(namespace);
    // What the API server assigns is not restored.
    const copy: Obj = { ...structuredClone(obj), metadata: { name, namespace, ...(metadata.labels ? { labels: metadata.labels } : {}), ...(metadata.annotations ? { annotations: metadata.annotations } : {}) } };
    delete copy.status;
    if (obj.kind === 'Deployment') {
      if (this.deployments.has(`${namespace}/${name}`)) return;
      validateObject(copy);
      const spec = (obj.spec ?? {}) as { replicas?: number; template?: Obj; selector?: { matchLabels?: Record<string, string> } };
      this.apps.add(namespace, name, [spec.template ?? {}], { replicas: spec.replicas ?? 1, labels: spec.selector?.matchLabels ?? { app: name }, rolloutMs: this.rolloutMs });
      return;
    }
    const type = resourceOf(copy);
    if (!type || this.objects.get(type, namespace, name)) return;
    this.objects.create(copy, { readyMs: this.rolloutMs });
    if (obj.kind === 'CronJob') addPod(this.objects, namespace, `${name}-${Date.now() % 100_000_000}-run`, { phase: 'Running', ownerKind: 'Job', ownerName: `${name}-${Date.now() % 100_000_000}` });
  }

  private namespaceExists(ns: string): boolean {
    return this.namespaces.has(ns) || this.apps.inNamespace(ns).length > 0 || this.objects.inNamespace(ns).length > 0 || [...this.secrets.values()].some((s) => s.namespace === ns);
  }

  private removeNamespaceContent(ns: string): void {
    this.apps.deleteNamespace(ns);
    this.objects.deleteNamespace(ns);
    for (const [key, s] of this.secrets) if (s.namespace === ns) this.secrets.delete(key);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    const call: KubeCall = { method, path: url.pathname + url.search, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}), ...(body !== undefined ? { body } : {}) };
    this.calls.push(call);
    this.bearerTokens.push(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    const signer = eksTokenSigner(req.headers.authorization);
    if (signer) this.eksCallers.push(signer.accessKeyId);
    try {
      if (injectedFailure(this.failRate, false)) throw new KubeError(503, 'ServiceUnavailable', 'injected failure');
      if (this.requireEksToken) checkEksToken(req.headers.authorization, this.now(), this.sessionIssuer);
      this.lifecycle.reap();
      this.evictions.reap();
      const manager = writeManager(method, url, req.headers['content-type'] ?? '', req.headers['user-agent']);
      if (manager !== undefined) call.manager = manager;
      const [status, out] = this.route(method, url, req.headers['content-type'] ?? '', body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      const e = err instanceof KubeError ? err : new KubeError(500, 'InternalError', String(err));
      res.writeHead(e.code, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, ...(e.details ? { details: e.details } : {}), code: e.code }),
      );
    }
  }

  private route(method: string, url: URL, contentType: string, body: unknown): [number, unknown] {
    const p = url.pathname.split('/').filter(Boolean);
    if (p[0] === 'apis' && p[1] === 'velero.io') return this.velero.route(method, p, url, body);
    // /api/v1/… or /apis/{group}/{version}/…
    const [group, version, rest] = p[0] === 'api' ? ['', p[1] ?? '', p.slice(2)] : p[0] === 'apis' ? [p[1] ?? '', p[2] ?? '', p.slice(3)] : ['', '', []];
    if (group === '' && rest[0] === 'namespaces' && !rest[1] && method === 'POST') {
      validateObject({ apiVersion: 'v1', kind: 'Namespace', ...(body as Obj) });
      return [201, this.lifecycle.create(body as Obj)];
    }
    if (group === '' && rest[0] === 'namespaces' && rest[1] && !rest[2]) return this.namespaceRoute(method, rest[1]);
    if (group === '' && rest[0] === 'nodes' && !rest[1] && method === 'GET') return this.nodeList(url);
    if (group === '' && rest[0] === 'nodes' && rest[1] && !rest[2]) return this.nodeObjects.route(method, rest[1], contentType, body);
    if (group === '' && rest[0] === 'pods' && !rest[1] && method === 'GET') return [200, listResponse('PodList', 'v1', this.podsWhere('', url), url, this.version)];
    if (group === 'policy' && rest[0] === 'poddisruptionbudgets' && !rest[1] && method === 'GET') {
      return [200, listResponse('PodDisruptionBudgetList', 'policy/v1', filterBySelector(this.objects.everywhere(PDB_TYPE), url).map((b) => this.evictions.withStatus(b)), url, this.version)];
    }
    if (rest[0] !== 'namespaces' || !rest[1] || !rest[2]) throw notFound(method, url);
    const [, ns = '', resource = '', name, subresource] = rest;
    if (group === '' && resource === 'pods' && name && subresource === 'eviction' && method === 'POST') return this.evictions.evict(ns, name, body);
    if (group === 'apps' && resource === 'deployments' && name && subresource === 'scale') {
      const d = this.deployments.get(`${ns}/${name}`);
      if (!d) throw new KubeError(404, 'NotFound', `deployments.apps "${name}" not found`);
      return scaleRoute(this.apps, d, { method, contentType, body, terminationMs: this.podTerminationMs, rolloutMs: this.rolloutMs });
    }
    if (subresource) throw notFound(method, url);
    if (group === 'policy' && resource === 'poddisruptionbudgets' && method === 'GET') {
      if (!name) return [200, listResponse('PodDisruptionBudgetList', 'policy/v1', filterBySelector(this.objects.list(PDB_TYPE, ns), url).map((b) => this.evictions.withStatus(b)), url, this.version)];
      const pdb = this.objects.get(PDB_TYPE, ns, name);
      if (!pdb) throw new KubeError(404, 'NotFound', `poddisruptionbudgets.policy "${name}" not found`);
      return [200, this.evictions.withStatus(pdb)];
    }
    if (group === 'apps' && resource === 'deployments') return this.deploymentRoute(method, url, ns, name, contentType, body);
    if (group === 'apps' && resource === 'replicasets' && !name && method === 'GET') {
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      const items = this.replicaSets.filter((rs) => rs.namespace === ns && matches(labelsOf(rs.template), selector)).map((rs) => this.apps.replicaSetJson(rs));
      return [200, listResponse('ReplicaSetList', 'apps/v1', items, url, this.version)];
    }
    if (group === '' && resource === 'secrets') {
      const request = { method, url, ns, contentType, body, terminating: this.lifecycle.isTerminating(ns), nextVersion: this.nextVersion, resourceVersion: this.version };
      return name ? secretRoute(this.secrets, name, request) : secretsRoute(this.secrets, request);
    }
    if (group === '' && resource === 'pods' && !name && method === 'GET') return [200, listResponse('PodList', 'v1', this.podsWhere(ns, url), url, this.version)];
    const type = resourceByPath(group, version, resource);
    if (!type) throw notFound(method, url);
    if (!name && method === 'GET') return [200, listResponse(`${type.kind}List`, apiVersionOf(type), filterBySelector(this.objects.list(type, ns), url), url, this.version)];
    if (!name && method === 'POST') {
      const createdMeta: Obj = { ...((body as Obj).metadata as Obj), namespace: ns };
      const created: Obj = { ...(body as Obj), metadata: createdMeta };
      if (this.lifecycle.isTerminating(ns)) {
        const createdName = typeof createdMeta.name === 'string' ? createdMeta.name : '';
        throw new KubeError(403, 'Forbidden', `${type.resource} "${createdName}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`);
      }
      return [201, this.objects.create(created)];
    }
    if (!name) throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    if (method === 'GET') {
      const obj = this.objects.get(type, ns, name);
      if (!obj) throw new KubeError(404, 'NotFound', `${qualified(type)} "${name}" not found`);
      return [200, obj];
    }
    if (method === 'PATCH') return [200, this.objects.patch(type, ns, name, contentType, body)];
    if (method === 'DELETE') {
      const existing = this.objects.get(type, ns, name);
      if (!existing) throw new KubeError(404, 'NotFound', `${qualified(type)} "${name}" not found`);
      checkDeletePreconditions(type, existing, body);
      this.objects.delete(type, ns, name);
      return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: type.group, kind: type.resource } }];
    }
    throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  private deploymentRoute(method: string, url: URL, ns: string, name: string | undefined, contentType: string, body: unknown): [number, unknown] {
    if (!name) {
      if (method !== 'GET') throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const items = this.apps.inNamespace(ns).map((d) => this.apps.json(d));
      return [200, listResponse('DeploymentList', 'apps/v1', filterBySelector(items, url), url, this.version)];
    }
    const d = this.deployments.get(`${ns}/${name}`);
    if (!d) throw new KubeError(404, 'NotFound', `deployments.apps "${name}" not found`);
    const current = this.apps.json(d);
    if (method === 'GET') return [200, current];
    if (method !== 'PATCH') throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const precondition = ((body as Obj | undefined)?.metadata as Obj | undefined)?.resourceVersion;
    if (!Array.isArray(body) && precondition !== undefined && precondition !== String(d.resourceVersion)) {
      throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on deployments.apps "${d.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const patched = applyPatch(current, contentType, body);
    validateObject(patched);
    this.apps.update(d, patched, this.rolloutMs);
    return [200, this.apps.json(d)];
  }

  private namespaceRoute(method: string, ns: string): [number, unknown] {
    if (method === 'GET') return [200, this.lifecycle.get(ns)];
    if (method === 'DELETE') return [200, this.lifecycle.delete(ns)];
    throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  /** The pods of `ns` (every namespace when ''), deployments' included, by label and field selector. */
  private podsWhere(ns: string, url: URL): Obj[] {
    const deployments = ns ? this.apps.inNamespace(ns) : [...this.deployments.values()];
    const stored = ns ? this.objects.list(podType, ns) : this.objects.everywhere(podType);
    return selectPodsByFields(filterBySelector([...deployments.flatMap((d) => this.apps.podsOf(d)), ...stored], url), url.searchParams.get('fieldSelector'));
  }

  /** /api/v1/nodes?labelSelector=…: the stored nodes, and the Ready nodes of each node group counted in `nodes`. */
  private nodeList(url: URL): [number, unknown] {
    const ng = parseSelector(url.searchParams.get('labelSelector') ?? '')['eks.amazonaws.com/nodegroup'] ?? '';
    const counted = Array.from({ length: this.nodes.get(ng) ?? 0 }, (_, i) => ({
      metadata: { name: `ip-10-1-0-${i}.us-west-2.compute.internal`, labels: { 'eks.amazonaws.com/nodegroup': ng } },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    }));
    return [200, this.nodeObjects.list(url, counted, this.version)];
  }
}

const podType = resourceByPath('', 'v1', 'pods') ?? { group: '', version: 'v1', resource: 'pods', kind: 'Pod' };

function notFound(method: string, url: URL): KubeError {
  return new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
}

function matches(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function filterBySelector(items: Obj[], url: URL): Obj[] {
  const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
  return items.filter((o) => matches(((o.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>, selector));
}
