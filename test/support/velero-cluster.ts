/**
 * A minimal Kubernetes API server holding plain objects of the kinds a drill
 * touches (namespaces; core configmaps, secrets, services, serviceaccounts,
 * PVCs, pods; apps deployments and statefulsets; batch cronjobs and jobs;
 * networking ingresses; autoscaling HPAs), with Velero's group
 * (fake-velero.ts) served next to them: the `VeleroCluster` a drill test needs,
 * independent of fake-kube.ts. List, get, create (409 when it exists), delete;
 * nothing else. A restored LoadBalancer Service gets a load balancer, as the
 * cloud controller would make one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeSts } from './fake-sts.ts';
import { FakeVelero, type Obj, type VeleroCluster } from './fake-velero.ts';
import { KubeError } from './kube-error.ts';
import { checkEksToken, eksTokenSigner } from './kube/eks-token.ts';
import { writeManager } from './kube/field-manager.ts';
import { LoopbackFake, readBody } from './loopback.ts';

/** Served resources: `<group>/<version>/<plural>` → kind. */
const RESOURCES: Record<string, string> = {
  '/v1/configmaps': 'ConfigMap',
  '/v1/secrets': 'Secret',
  '/v1/services': 'Service',
  '/v1/serviceaccounts': 'ServiceAccount',
  '/v1/persistentvolumeclaims': 'PersistentVolumeClaim',
  '/v1/pods': 'Pod',
  'apps/v1/deployments': 'Deployment',
  'apps/v1/statefulsets': 'StatefulSet',
  'batch/v1/cronjobs': 'CronJob',
  'batch/v1/jobs': 'Job',
  'networking.k8s.io/v1/ingresses': 'Ingress',
  'autoscaling/v2/horizontalpodautoscalers': 'HorizontalPodAutoscaler',
};
const PLURALS = Object.fromEntries(Object.entries(RESOURCES).map(([path, kind]) => [kind, path.split('/')[2] ?? '']));

export interface ClusterCall {
  method: string;
  path: string;
  body?: unknown;
  /** A write's field manager as the API server records it (kube/field-manager.ts). */
  manager?: string;
}

export class VeleroTestCluster extends LoopbackFake implements VeleroCluster {
  readonly namespaces = new Set<string>(['velero']);
  /** Objects by `<plural>/<namespace>/<name>`. */
  readonly objects = new Map<string, Obj>();
  /** `namespace/name` of every Service a cloud load balancer was made for. */
  readonly loadBalancers: string[] = [];
  readonly calls: ClusterCall[] = [];
  readonly velero = new FakeVelero(this, () => ++this.version);
  /** When set, every request must carry a well-formed EKS token (kube/eks-token.ts), as an EKS cluster's API server requires. */
  requireEksToken = false;
  /** The clock the EKS token check uses. */
  now: () => number = Date.now;
  /** The AWS access key id that signed each request's EKS token (its `X-Amz-Credential`), in order; requests without one are left out. */
  readonly eksCallers: string[] = [];
  private version = 1;
  private sessionIssuer: FakeSts | undefined;

  /** EKS tokens signed with session credentials (ASIA…) are let in only while `sts` says they are live (see FakeKube.trustSessionsFrom). */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  writeKubeconfig(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'kubeconfig-')), 'config');
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      `clusters:\n- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
      'users:\n- name: bot\n  user:\n    token: fake-token',
      'contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bot',
      'current-context: fake',
      '',
    ];
    writeFileSync(path, yaml.join('\n'));
    return path;
  }

  /** Stores an object of a served kind (apiVersion, kind, metadata.namespace and name required). */
  add(obj: Obj): void {
    const { namespace, name } = obj.metadata as { namespace: string; name: string };
    this.namespaces.add(namespace);
    this.objects.set(`${PLURALS[String(obj.kind)] ?? '?'}/${namespace}/${name}`, structuredClone(obj));
  }

  get(kind: string, namespace: string, name: string): Obj | undefined {
    return this.objects.get(`${PLURALS[kind] ?? '?'}/${namespace}/${name}`);
  }

  kindsIn(namespace: string): string[] {
    return this.objectsIn(namespace).map((o) => `${String(o.kind)}/${String((o.metadata as Obj).name)}`).sort();
  }

  objectsIn(namespace: string): Obj[] {
    return [...this.objects.entries()].filter(([key]) => key.split('/')[1] === namespace).map(([, o]) => structuredClone(o));
  }

  restoreObject(obj: Obj): void {
    const metadata = obj.metadata as { namespace: string; name: string };
    if (this.get(String(obj.kind), metadata.namespace, metadata.name)) return;
    this.add(obj);
    if (obj.kind === 'Service' && (obj.spec as { type?: string } | undefined)?.type === 'LoadBalancer') this.loadBalancers.push(`${metadata.namespace}/${metadata.name}`);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    const call: ClusterCall = { method, path: url.pathname + url.search, ...(body !== undefined ? { body } : {}) };
    this.calls.push(call);
    const signer = eksTokenSigner(req.headers.authorization);
    if (signer) this.eksCallers.push(signer.accessKeyId);
    try {
      if (this.requireEksToken) checkEksToken(req.headers.authorization, this.now(), this.sessionIssuer);
      const manager = writeManager(method, url, req.headers['content-type'] ?? '', req.headers['user-agent']);
      if (manager !== undefined) call.manager = manager;
      const [status, out] = this.route(method, url, body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      const e = err instanceof KubeError ? err : new KubeError(500, 'InternalError', String(err));
      res.writeHead(e.code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: e.message, reason: e.reason, code: e.code }));
    }
  }

  private route(method: string, url: URL, body: unknown): [number, unknown] {
    const p = url.pathname.split('/').filter(Boolean);
    if (p[0] === 'apis' && p[1] === 'velero.io') return this.velero.route(method, p, url, body);
    const [group, version, rest] = p[0] === 'api' ? ['', p[1] ?? '', p.slice(2)] : [p[1] ?? '', p[2] ?? '', p.slice(3)];
    if (group === '' && rest[0] === 'namespaces' && rest.length <= 2) return this.namespaceRoute(method, rest[1], body);
    const [, ns = '', plural = '', name] = rest;
    const kind = RESOURCES[`${group}/${version}/${plural}`];
    if (rest[0] !== 'namespaces' || !kind) throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
    const key = `${plural}/${ns}/${name ?? ''}`;
    if (!name && method === 'GET') return [200, { kind: `${kind}List`, apiVersion: group ? `${group}/${version}` : version, metadata: {}, items: this.objectsIn(ns).filter((o) => o.kind === kind) }];
    if (!name && method === 'POST') {
      const obj = { ...(body as Obj), metadata: { ...((body as Obj).metadata as Obj), namespace: ns } };
      const objName = String((obj.metadata as Obj).name);
      if (!this.namespaces.has(ns)) throw new KubeError(404, 'NotFound', `namespaces "${ns}" not found`);
      if (this.objects.has(`${plural}/${ns}/${objName}`)) throw new KubeError(409, 'AlreadyExists', `${plural} "${objName}" already exists`);
      this.add(obj);
      return [201, obj];
    }
    const obj = this.objects.get(key);
    if (!obj) throw new KubeError(404, 'NotFound', `${plural} "${name ?? ''}" not found`);
    if (method === 'GET') return [200, obj];
    if (method === 'DELETE') {
      this.objects.delete(key);
      return [200, { kind: 'Status', apiVersion: 'v1', status: 'Success' }];
    }
    throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  private namespaceRoute(method: string, name: string | undefined, body: unknown): [number, unknown] {
    if (!name && method === 'POST') {
      const created = String(((body as Obj).metadata as Obj).name);
      if (this.namespaces.has(created)) throw new KubeError(409, 'AlreadyExists', `namespaces "${created}" already exists`);
      this.namespaces.add(created);
      return [201, body];
    }
    if (name && method === 'GET' && this.namespaces.has(name)) return [200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name }, status: { phase: 'Active' } }];
    throw new KubeError(404, 'NotFound', `namespaces "${name ?? ''}" not found`);
  }
}
