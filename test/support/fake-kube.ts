/**
 * A loopback Kubernetes API server for the paths the steps use: apps/v1
 * deployments and replicasets, core/v1 secrets and pods. Objects carry
 * resourceVersion and generation; a template change makes (or revives) a
 * ReplicaSet with the next revision and rolls over time; errors are the usual
 * `Status` objects (404, 409, 422). Patches: merge, strategic-merge (as merge),
 * and JSON patch.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkQueryRequest } from './aws-models/query.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { type BackupOptions, FakeVelero, type Obj, parseSelector, type RestoreOutcome } from './fake-velero.ts';
import { KubeError } from './kube-error.ts';
import { injectedFailure, LoopbackFake, readBody } from './loopback.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeDeployment {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  replicas: number;
  paused: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  template: Obj;
  /** When the current rollout started, and how long it takes. */
  rolloutStartedAt: number;
  rolloutMs: number;
  /** Set to make the rollout fail the way a stuck one does. */
  progressDeadlineExceeded: boolean;
  /** Changes on every write of this object; a patch that names an older one is refused (409), as by the API server. */
  resourceVersion: number;
}

export interface FakeReplicaSet {
  namespace: string;
  name: string;
  owner: string;
  ownerUid: string;
  revision: number;
  template: Obj;
  annotations: Record<string, string>;
}

export interface KubeCall {
  method: string;
  path: string;
  contentType?: string;
  body?: unknown;
}

export class FakeKube extends LoopbackFake {
  /** Fraction of calls answered 503 at random, before anything is applied. */
  failRate = 0;
  readonly deployments = new Map<string, FakeDeployment>();
  readonly replicaSets: FakeReplicaSet[] = [];
  readonly secrets = new Map<string, { namespace: string; name: string; data: Record<string, string>; resourceVersion: number }>();
  readonly calls: KubeCall[] = [];
  /** Velero's API group (velero.io/v1), served by this server. */
  readonly velero: FakeVelero = new FakeVelero(this, () => ++this.version);
  /** Namespaces that exist besides those holding deployments. */
  readonly namespaces = new Set<string>(['velero', 'production']);
  /** Ready nodes per EKS node group (label eks.amazonaws.com/nodegroup). */
  readonly nodes = new Map<string, number>();
  /** When set, every request must carry a well-formed EKS token (see src/steps/eks/token.ts). */
  requireEksToken = false;
  /** The clock the EKS token check uses (a test may move it; the rest of the fake keeps real time). */
  now: () => number = Date.now;
  /** The bearer token of each request, in order (empty string when none). */
  readonly bearerTokens: string[] = [];
  /** New rollouts take this long. */
  rolloutMs = 400;
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
  private version = 100;

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

  /** A deployment with `revisions` images in its history (the last is current). */
  addDeployment(namespace: string, name: string, images: string[], options: { replicas?: number; changeCauses?: string[] } = {}): FakeDeployment {
    const labels = { app: name };
    const deployment: FakeDeployment = {
      namespace,
      name,
      uid: randomUUID(),
      generation: 1,
      replicas: options.replicas ?? 3,
      paused: false,
      labels,
      annotations: {},
      template: {},
      rolloutStartedAt: 0,
      rolloutMs: 0,
      progressDeadlineExceeded: false,
      resourceVersion: ++this.version,
    };
    this.deployments.set(`${namespace}/${name}`, deployment);
    images.forEach((image, i) => {
      const template = { metadata: { labels: { ...labels } }, spec: { containers: [{ name, image }] } };
      const rs = this.replicaSetFor(deployment, template);
      rs.annotations['kubernetes.io/change-cause'] = options.changeCauses?.[i] ?? `deploy ${image}`;
      deployment.template = structuredClone(template);
      deployment.annotations['deployment.kubernetes.io/revision'] = String(rs.revision);
    });
    return deployment;
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

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    this.calls.push({ method, path: url.pathname + url.search, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}), ...(body !== undefined ? { body } : {}) });
    this.bearerTokens.push(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    try {
      if (injectedFailure(this.failRate, false)) throw new KubeError(503, 'ServiceUnavailable', 'injected failure');
      if (this.requireEksToken) checkEksToken(req.headers.authorization, this.now());
      const [status, out] = this.route(method, url, req.headers['content-type'] ?? '', body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      const e = err instanceof KubeError ? err : new KubeError(500, 'InternalError', String(err));
      res.writeHead(e.code, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code }),
      );
    }
  }

  private route(method: string, url: URL, contentType: string, body: unknown): [number, unknown] {
    const p = url.pathname.split('/').filter(Boolean);
    // /apis/apps/v1/namespaces/{ns}/deployments[/{name}]
    if (p[0] === 'apis' && p[1] === 'apps' && p[3] === 'namespaces' && p[5] === 'deployments') {
      const ns = p[4] ?? '';
      if (!p[6]) {
        if (method !== 'GET') throw new KubeError(405, 'MethodNotAllowed', 'method not allowed');
        const items = [...this.deployments.values()].filter((d) => d.namespace === ns).map((d) => this.deploymentJson(d));
        return [200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(this.version) }, items }];
      }
      const d = this.deployments.get(`${ns}/${p[6]}`);
      if (!d) throw new KubeError(404, 'NotFound', `deployments.apps "${p[6]}" not found`);
      if (method === 'GET') return [200, this.deploymentJson(d)];
      if (method === 'PATCH') {
        const precondition = ((body as Obj | undefined)?.metadata as Obj | undefined)?.resourceVersion;
        if (precondition !== undefined && precondition !== String(d.resourceVersion)) {
          throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on deployments.apps "${d.name}": the object has been modified; please apply your changes to the latest version and try again`);
        }
        const patched = applyPatch(this.deploymentJson(d), contentType, body);
        this.updateDeployment(d, patched);
        return [200, this.deploymentJson(d)];
      }
    }
    // /apis/apps/v1/namespaces/{ns}/replicasets
    if (p[0] === 'apis' && p[1] === 'apps' && p[3] === 'namespaces' && p[5] === 'replicasets' && method === 'GET') {
      const ns = p[4] ?? '';
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      const items = this.replicaSets
        .filter((rs) => rs.namespace === ns && Object.entries(selector).every(([k, v]) => labelsOf(rs.template)[k] === v))
        .map((rs) => this.replicaSetJson(rs));
      return [200, { kind: 'ReplicaSetList', apiVersion: 'apps/v1', metadata: {}, items }];
    }
    // /api/v1/namespaces/{ns}/secrets/{name}
    if (p[0] === 'api' && p[2] === 'namespaces' && p[4] === 'secrets' && p[5]) {
      const key = `${p[3] ?? ''}/${p[5]}`;
      const secret = this.secrets.get(key);
      if (!secret) throw new KubeError(404, 'NotFound', `secrets "${p[5]}" not found`);
      if (method === 'PATCH') {
        const patched = applyPatch({ data: secret.data }, contentType, body) as { data?: Record<string, string> };
        secret.data = patched.data ?? {};
        secret.resourceVersion = ++this.version;
      }
      return [200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: secret.name, namespace: secret.namespace, resourceVersion: String(secret.resourceVersion) }, type: 'Opaque', data: secret.data }];
    }
    // /apis/velero.io/v1/namespaces/{ns}/{backups|restores}[/{name}]
    if (p[0] === 'apis' && p[1] === 'velero.io') {
      return this.velero.route(method, p, url, body);
    }
    // /api/v1/namespaces/{name}
    if (p[0] === 'api' && p[2] === 'namespaces' && p[3] && !p[4]) {
      const ns = p[3];
      const exists = this.namespaces.has(ns) || [...this.deployments.values()].some((d) => d.namespace === ns);
      if (!exists) throw new KubeError(404, 'NotFound', `namespaces "${ns}" not found`);
      if (method === 'DELETE') {
        this.namespaces.delete(ns);
        for (const [key, d] of this.deployments) if (d.namespace === ns) this.deployments.delete(key);
        return [200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: ns, kind: 'namespaces' } }];
      }
      return [200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: ns }, status: { phase: 'Active' } }];
    }
    // /api/v1/nodes?labelSelector=eks.amazonaws.com/nodegroup=<ng>
    if (p[0] === 'api' && p[2] === 'nodes' && method === 'GET') {
      const ng = parseSelector(url.searchParams.get('labelSelector') ?? '')['eks.amazonaws.com/nodegroup'] ?? '';
      const items = Array.from({ length: this.nodes.get(ng) ?? 0 }, (_, i) => ({
        metadata: { name: `ip-10-1-0-${i}.us-west-2.compute.internal`, labels: { 'eks.amazonaws.com/nodegroup': ng } },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      }));
      return [200, { kind: 'NodeList', apiVersion: 'v1', metadata: {}, items }];
    }
    // /api/v1/namespaces/{ns}/pods
    if (p[0] === 'api' && p[2] === 'namespaces' && p[4] === 'pods' && method === 'GET') {
      const ns = p[3] ?? '';
      const items = [...this.deployments.values()]
        .filter((d) => d.namespace === ns)
        .flatMap((d) =>
          Array.from({ length: d.replicas }, (_, i) => ({
            metadata: { name: `${d.name}-${i}`, namespace: ns, labels: d.labels },
            status: { phase: 'Running', conditions: [{ type: 'Ready', status: this.rolloutDone(d) ? 'True' : 'False' }] },
          })),
        );
      return [200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items }];
    }
    throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
  }

  /** The cluster side of a Velero restore (fake-velero.ts): the objects of a namespace, as a backup holds them. */
  objectsIn(namespace: string): Obj[] {
    return [...this.deployments.values()].filter((d) => d.namespace === namespace).map((d) => this.deploymentJson(d));
  }

  /** The cluster side of a Velero restore: an object the restore writes, already mapped to its target namespace. */
  restoreObject(obj: Obj): void {
    const metadata = (obj.metadata ?? {}) as Obj;
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
    this.namespaces.add(namespace);
    if (obj.kind !== 'Deployment') return;
    const source = [...this.deployments.values()].find((d) => d.name === metadata.name);
    if (!source || this.deployments.has(`${namespace}/${source.name}`)) return;
    this.deployments.set(`${namespace}/${source.name}`, { ...structuredClone(source), namespace, uid: randomUUID(), rolloutStartedAt: 0, rolloutMs: 0 });
  }

  private updateDeployment(d: FakeDeployment, patched: Obj): void {
    const metadata = (patched.metadata ?? {}) as Obj;
    const spec = (patched.spec ?? {}) as Obj;
    d.annotations = { ...((metadata.annotations ?? {}) as Record<string, string>) };
    d.paused = spec.paused === true;
    if (typeof spec.replicas === 'number') d.replicas = spec.replicas;
    const template = (spec.template ?? {}) as Obj;
    if (JSON.stringify(template) !== JSON.stringify(d.template)) {
      d.template = structuredClone(template);
      d.generation += 1;
      const rs = this.replicaSetFor(d, template);
      d.annotations['deployment.kubernetes.io/revision'] = String(rs.revision);
      d.rolloutStartedAt = Date.now();
      d.rolloutMs = this.rolloutMs;
    }
    this.version += 1;
    d.resourceVersion = this.version;
  }

  /** The ReplicaSet for a template: an existing one is revived with the next revision, as the controller does. */
  private replicaSetFor(d: FakeDeployment, template: Obj): FakeReplicaSet {
    const next = Math.max(0, ...this.replicaSets.filter((r) => r.ownerUid === d.uid).map((r) => r.revision)) + 1;
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const existing = this.replicaSets.find((r) => r.ownerUid === d.uid && r.name === `${d.name}-${hash}`);
    if (existing) {
      existing.revision = next;
      return existing;
    }
    const withHash = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
    withHash.metadata = { ...withHash.metadata, labels: { ...withHash.metadata?.labels, 'pod-template-hash': hash } };
    const rs: FakeReplicaSet = { namespace: d.namespace, name: `${d.name}-${hash}`, owner: d.name, ownerUid: d.uid, revision: next, template: withHash, annotations: {} };
    this.replicaSets.push(rs);
    return rs;
  }

  private rolloutDone(d: FakeDeployment): boolean {
    return Date.now() >= d.rolloutStartedAt + d.rolloutMs;
  }

  private deploymentJson(d: FakeDeployment): Obj {
    const elapsed = Date.now() - d.rolloutStartedAt;
    const observed = elapsed >= 50 ? d.generation : d.generation - 1;
    const done = this.rolloutDone(d);
    const updated = done ? d.replicas : Math.floor((elapsed / Math.max(1, d.rolloutMs)) * d.replicas);
    const conditions = [
      d.progressDeadlineExceeded
        ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${d.name}-x" has timed out progressing.` }
        : { type: 'Progressing', status: 'True', reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: 'progressing' },
    ];
    return {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { name: d.name, namespace: d.namespace, uid: d.uid, generation: d.generation, resourceVersion: String(d.resourceVersion), labels: d.labels, annotations: { ...d.annotations } },
      spec: { replicas: d.replicas, paused: d.paused || undefined, selector: { matchLabels: d.labels }, template: structuredClone(d.template) },
      status: {
        observedGeneration: observed,
        replicas: done ? d.replicas : d.replicas + 1,
        updatedReplicas: d.progressDeadlineExceeded ? 0 : updated,
        availableReplicas: d.progressDeadlineExceeded ? 0 : updated,
        readyReplicas: updated,
        conditions,
      },
    };
  }

  private replicaSetJson(rs: FakeReplicaSet): Obj {
    const d = [...this.deployments.values()].find((x) => x.uid === rs.ownerUid);
    return {
      kind: 'ReplicaSet',
      apiVersion: 'apps/v1',
      metadata: {
        name: rs.name,
        namespace: rs.namespace,
        annotations: { ...rs.annotations, 'deployment.kubernetes.io/revision': String(rs.revision) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: rs.owner, uid: rs.ownerUid, controller: true }],
        labels: labelsOf(rs.template),
      },
      spec: { replicas: d && JSON.stringify(stripHash(rs.template)) === JSON.stringify(d.template) ? d.replicas : 0, template: structuredClone(rs.template) },
    };
  }
}


/**
 * What the EKS authenticator checks of a bearer token: `k8s-aws-v1.` + base64url
 * (no padding) of a presigned STS GetCallerIdentity URL that signs the
 * `x-k8s-aws-id` header, within 4 KiB. (Which cluster it names is in the
 * signature, which only STS can check.) Like aws-iam-authenticator, it refuses
 * a token 15 minutes after its X-Amz-Date, whatever X-Amz-Expires says.
 */
function checkEksToken(header: string | undefined, now: number): void {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
  const fail = (why: string) => new KubeError(401, 'Unauthorized', `Unauthorized: ${why}`);
  if (!token.startsWith('k8s-aws-v1.') || token.length > 4096) throw fail('not an EKS token');
  const encoded = token.slice('k8s-aws-v1.'.length);
  if (encoded.includes('=') || /[+/]/.test(encoded)) throw fail('token must be base64url without padding');
  const url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
  const q = url.searchParams;
  const ok =
    url.protocol === 'https:' &&
    /^sts\.[a-z0-9-]+\.amazonaws\.com$/.test(url.hostname) &&
    q.get('Action') === 'GetCallerIdentity' &&
    q.get('Version') === '2011-06-15' &&
    q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' &&
    q.get('X-Amz-Expires') === '60' &&
    (q.get('X-Amz-SignedHeaders') ?? '').split(';').includes('x-k8s-aws-id') &&
    /^[0-9a-f]{64}$/.test(q.get('X-Amz-Signature') ?? '');
  if (!ok) throw fail(`malformed presigned URL ${url.origin}`);
  // What STS would check of the presigned request itself: its model.
  const stsParams = Object.fromEntries([...q].filter(([k]) => !k.startsWith('X-Amz-') && k !== 'Action'));
  const problem = checkQueryRequest('sts', 'GetCallerIdentity', stsParams);
  if (problem) {
    recordModelRefusal({ service: 'sts', operation: 'GetCallerIdentity', ...problem });
    throw fail(`STS refuses the presigned request: ${problem.code}: ${problem.message}`);
  }
  // The cluster name travels as a signed header in the real request; the URL itself must not carry it.
  if (q.has('x-k8s-aws-id')) throw fail('x-k8s-aws-id must be a signed header, not a query parameter');
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '');
  if (!date) throw fail('X-Amz-Date missing or malformed');
  const signedAt = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
  if (now > signedAt + 15 * 60_000) throw fail(`X-Amz-Date parameter is expired (15 minute expiration) ${q.get('X-Amz-Date') ?? ''}`);
}

function labelsOf(template: Obj): Record<string, string> {
  return ((template.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
}

function stripHash(template: Obj): Obj {
  const copy = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
  delete copy.metadata?.labels?.['pod-template-hash'];
  return copy;
}

function applyPatch(target: Obj, contentType: string, patch: unknown): Obj {
  if (contentType.includes('json-patch')) {
    const out = structuredClone(target);
    for (const op of patch as { op: string; path: string; value?: unknown }[]) {
      if (op.op !== 'replace' && op.op !== 'add') throw new KubeError(422, 'Invalid', `unsupported op ${op.op}`);
      const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
      const last = keys.pop() ?? '';
      let node: Obj = out;
      for (const k of keys) node = (node[k] ??= {}) as Obj;
      node[last] = structuredClone(op.value);
    }
    return out;
  }
  if (contentType.includes('merge-patch') || contentType.includes('strategic-merge-patch')) return mergePatch(target, patch) as Obj;
  throw new KubeError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${contentType}`);
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Obj) : {};
  const entries = Object.entries(patch as Obj);
  const removed = new Set(entries.filter(([, v]) => v === null).map(([k]) => k));
  const out: Obj = Object.fromEntries(Object.entries(base).filter(([k]) => !removed.has(k)));
  for (const [k, v] of entries) if (v !== null) out[k] = mergePatch(out[k], v);
  return out;
}
