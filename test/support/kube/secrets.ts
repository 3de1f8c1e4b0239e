/**
 * Secrets as the API server serves them: get, merge/JSON patch, list and
 * create, validated; `stringData` folded into `data` on create; 409 for an
 * existing name; 403 in a terminating namespace.
 */
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import { listResponse } from './list.ts';
import { applyPatch } from './patch.ts';
import { validateObject } from './validate.ts';

export interface FakeSecret {
  namespace: string;
  name: string;
  /** Base64 values, as the API carries them. */
  data: Record<string, string>;
  resourceVersion: number;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SecretRequest {
  method: string;
  url: URL;
  ns: string;
  contentType: string;
  body: unknown;
  terminating: boolean;
  nextVersion: () => number;
  resourceVersion: number;
}

const notAllowed = () => new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

export function secretJson(s: FakeSecret): Obj {
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name: s.name, namespace: s.namespace, resourceVersion: String(s.resourceVersion), ...(s.labels ? { labels: s.labels } : {}), ...(s.annotations ? { annotations: s.annotations } : {}) },
    type: s.type ?? 'Opaque',
    data: { ...s.data },
  };
}

/** `/api/v1/namespaces/{ns}/secrets`: list (label selector, pages) and create. */
export function secretsRoute(secrets: Map<string, FakeSecret>, r: SecretRequest): [number, unknown] {
  if (r.method === 'GET') {
    const selector = Object.fromEntries((r.url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
    const items = [...secrets.values()].filter((s) => s.namespace === r.ns && Object.entries(selector).every(([k, v]) => s.labels?.[k] === v)).map(secretJson);
    return [200, listResponse('SecretList', 'v1', items, r.url, r.resourceVersion)];
  }
  if (r.method !== 'POST') throw notAllowed();
  const obj: Obj = { apiVersion: 'v1', kind: 'Secret', ...(r.body as Obj) };
  const metadata = (obj.metadata ?? {}) as { name?: unknown; labels?: Record<string, string> };
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  validateObject(obj);
  if (r.terminating) throw new KubeError(403, 'Forbidden', `secrets "${name}" is forbidden: unable to create new content in namespace ${r.ns} because it is being terminated`);
  if (secrets.has(`${r.ns}/${name}`)) throw new KubeError(409, 'AlreadyExists', `secrets "${name}" already exists`);
  // stringData is write-only: the server folds it into data.
  const stringData = (obj.stringData ?? {}) as Record<string, string>;
  const data = { ...((obj.data ?? {}) as Record<string, string>), ...Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  const secret: FakeSecret = { namespace: r.ns, name, data, resourceVersion: r.nextVersion(), type: typeof obj.type === 'string' ? obj.type : 'Opaque', ...(metadata.labels ? { labels: metadata.labels } : {}) };
  secrets.set(`${r.ns}/${name}`, secret);
  return [201, secretJson(secret)];
}

/** `/api/v1/namespaces/{ns}/secrets/{name}`: get and patch. */
export function secretRoute(secrets: Map<string, FakeSecret>, name: string, r: SecretRequest): [number, unknown] {
  const secret = secrets.get(`${r.ns}/${name}`);
  if (!secret) throw new KubeError(404, 'NotFound', `secrets "${name}" not found`);
  if (r.method === 'GET') return [200, secretJson(secret)];
  if (r.method !== 'PATCH') throw notAllowed();
  const patched = applyPatch(secretJson(secret), r.contentType, r.body);
  validateObject(patched);
  secret.data = (patched.data ?? {}) as Record<string, string>;
  const annotations = (patched.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
  if (annotations && Object.keys(annotations).length) secret.annotations = annotations;
  else delete secret.annotations;
  secret.resourceVersion = r.nextVersion();
  return [200, secretJson(secret)];
}
