/**
 * Stored objects of the kinds a namespace holds besides deployments and
 * Secrets (fake-kube.ts keeps those two itself, with their rollout behaviour):
 * keyed by group/version/resource/namespace/name, each with uid,
 * resourceVersion, generation and creationTimestamp as the API server sets
 * them, validated on every write, and with the status their controllers would
 * write (a StatefulSet or DaemonSet coming up, a LoadBalancer Service's address).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import { applyPatch } from './patch.ts';
import { validateObject } from './validate.ts';

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** The plural in URLs: `statefulsets`. */
  resource: string;
  kind: string;
}

/** The kinds this store serves (deployments, replicasets, secrets, pods of deployments: fake-kube.ts). */
export const STORED_RESOURCES: readonly ResourceType[] = [
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod' },
  { group: '', version: 'v1', resource: 'services', kind: 'Service' },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap' },
  { group: '', version: 'v1', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim' },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet' },
  { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet' },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress' },
  { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy' },
  { group: 'batch', version: 'v1', resource: 'cronjobs', kind: 'CronJob' },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job' },
  { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler' },
  { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget' },
];

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

export function resourceByPath(group: string, version: string, resource: string): ResourceType | undefined {
  return STORED_RESOURCES.find((t) => t.group === group && t.version === version && t.resource === resource);
}

export function resourceOf(obj: Obj): ResourceType | undefined {
  return STORED_RESOURCES.find((t) => apiVersionOf(t) === obj.apiVersion && t.kind === obj.kind);
}

/** A `group/resource` name as the API server's messages use it: `statefulsets.apps`, `pods`. */
export function qualified(type: ResourceType): string {
  return type.group ? `${type.resource}.${type.group}` : type.resource;
}

interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
}

function meta(obj: Obj): Meta {
  return obj.metadata ?? {};
}

/** A controller's status: StatefulSets and DaemonSets come up `readyMs` after they are written. */
function controllerStatus(obj: Obj, ready: boolean): Obj | undefined {
  const spec = (obj.spec ?? {}) as { replicas?: number };
  const generation = meta(obj).generation ?? 1;
  if (obj.kind === 'StatefulSet') {
    const want = spec.replicas ?? 1;
    const up = ready ? want : 0;
    return { observedGeneration: generation, replicas: want, currentReplicas: want, updatedReplicas: want, readyReplicas: up, availableReplicas: up };
  }
  if (obj.kind === 'DaemonSet') {
    const nodes = 3;
    const up = ready ? nodes : 0;
    return { observedGeneration: generation, desiredNumberScheduled: nodes, currentNumberScheduled: nodes, updatedNumberScheduled: nodes, numberReady: up, numberAvailable: up, numberMisscheduled: 0 };
  }
  return undefined;
}

export class ObjectStore {
  private readonly objects = new Map<string, Obj>();
  /** Workloads whose status their controller writes: when they become available. */
  private readonly readyAt = new Map<string, number>();
  /** Every cloud load balancer a LoadBalancer Service made (`namespace/name`), in order. */
  readonly loadBalancers: string[] = [];
  private readonly nextVersion: () => number;

  constructor(nextVersion: () => number) {
    this.nextVersion = nextVersion;
  }

  private key(type: ResourceType, namespace: string, name: string): string {
    return `${type.group}/${type.version}/${type.resource}/${namespace}/${name}`;
  }

  clear(): void {
    this.objects.clear();
    this.readyAt.clear();
    this.loadBalancers.length = 0;
  }

  /**
   * Creates an object (validated; uid, resourceVersion, generation set). With
   * `readyMs`, a StatefulSet or DaemonSet reports its pods available that long
   * after; without it, its status is as given. Refuses an existing name (409).
   */
  create(obj: Obj, options: { readyMs?: number } = {}): Obj {
    const type = resourceOf(obj);
    if (!type) throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${String(obj.apiVersion)} ${String(obj.kind)})`);
    const { name = '', namespace = '' } = meta(obj);
    const key = this.key(type, namespace, name);
    if (this.objects.has(key)) throw new KubeError(409, 'AlreadyExists', `${qualified(type)} "${name}" already exists`);
    const stored = structuredClone(obj);
    stored.metadata = { ...meta(obj), uid: randomUUID(), generation: 1, resourceVersion: String(this.nextVersion()), creationTimestamp: new Date().toISOString() };
    if (options.readyMs !== undefined) {
      this.readyAt.set(key, Date.now() + options.readyMs);
      const status = controllerStatus(stored, options.readyMs <= 0);
      if (status) stored.status = status;
    }
    if (obj.kind === 'Service' && (obj.spec as { type?: string } | undefined)?.type === 'LoadBalancer') {
      // As the cloud controller would: a load balancer, and its address in the status.
      const hostname = `a${createHash('sha256').update(key).digest('hex').slice(0, 16)}-123456789.us-east-1.elb.amazonaws.com`;
      stored.status = { loadBalancer: { ingress: [{ hostname }] } };
      this.loadBalancers.push(`${namespace}/${name}`);
    }
    validateObject(stored);
    this.objects.set(key, stored);
    return structuredClone(stored);
  }

  get(type: ResourceType, namespace: string, name: string): Obj | undefined {
    const key = this.key(type, namespace, name);
    const obj = this.objects.get(key);
    if (!obj) return undefined;
    this.observe(key, obj);
    return structuredClone(obj);
  }

  list(type: ResourceType, namespace: string): Obj[] {
    const prefix = this.key(type, namespace, '');
    return [...this.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, o]) => (this.observe(k, o), structuredClone(o)));
  }

  /** Every object of a kind, in every namespace (a cluster-wide list). */
  everywhere(type: ResourceType): Obj[] {
    const prefix = `${type.group}/${type.version}/${type.resource}/`;
    return [...this.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, o]) => (this.observe(k, o), structuredClone(o)));
  }

  /** Every object of a namespace, of every kind. */
  inNamespace(namespace: string): Obj[] {
    return STORED_RESOURCES.flatMap((t) => this.list(t, namespace));
  }

  /** A patch (with an optional resourceVersion precondition), validated before it is stored. */
  patch(type: ResourceType, namespace: string, name: string, contentType: string, body: unknown): Obj {
    const key = this.key(type, namespace, name);
    const current = this.objects.get(key);
    if (!current) throw new KubeError(404, 'NotFound', `${qualified(type)} "${name}" not found`);
    this.observe(key, current);
    const precondition = ((body as Obj | undefined)?.metadata as Obj | undefined)?.resourceVersion;
    if (!Array.isArray(body) && precondition !== undefined && precondition !== meta(current).resourceVersion) {
      throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const patched = applyPatch(current, contentType, body);
    // What the server owns stays the server's.
    patched.metadata = { ...meta(patched), name, namespace, uid: meta(current).uid, creationTimestamp: meta(current).creationTimestamp };
    const specChanged = JSON.stringify(patched.spec) !== JSON.stringify(current.spec);
    patched.metadata = { ...meta(patched), generation: (meta(current).generation ?? 1) + (specChanged ? 1 : 0), resourceVersion: String(this.nextVersion()) };
    validateObject(patched);
    this.objects.set(key, patched);
    return structuredClone(patched);
  }

  delete(type: ResourceType, namespace: string, name: string): boolean {
    const key = this.key(type, namespace, name);
    this.readyAt.delete(key);
    return this.objects.delete(key);
  }

  /** Removes a namespace's objects (its deletion has finished). */
  deleteNamespace(namespace: string): void {
    for (const obj of this.objects.values()) if (meta(obj).namespace === namespace) this.delete(resourceOf(obj) as ResourceType, namespace, meta(obj).name ?? '');
  }

  /** The controller's status write, when it is due: it changes resourceVersion, as every write does. */
  private observe(key: string, obj: Obj): void {
    const readyAt = this.readyAt.get(key);
    if (readyAt === undefined) return;
    const status = controllerStatus(obj, Date.now() >= readyAt);
    if (!status || JSON.stringify(status) === JSON.stringify(obj.status)) return;
    obj.status = status;
    obj.metadata = { ...meta(obj), resourceVersion: String(this.nextVersion()) };
  }
}

/** DeleteOptions `preconditions` (uid, resourceVersion): an object that is not the one named is 409, as the storage layer answers. */
export function checkDeletePreconditions(type: ResourceType, obj: Obj, options: unknown): void {
  const wanted = (options as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)?.preconditions;
  const current = (obj.metadata ?? {}) as { name?: string; uid?: string; resourceVersion?: string };
  const failed =
    wanted?.uid !== undefined && wanted.uid !== current.uid
      ? `UID in precondition: ${wanted.uid}, UID in object meta: ${current.uid ?? ''}`
      : wanted?.resourceVersion !== undefined && wanted.resourceVersion !== current.resourceVersion
        ? `ResourceVersion in precondition: ${wanted.resourceVersion}, ResourceVersion in object meta: ${current.resourceVersion ?? ''}`
        : undefined;
  if (failed) throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(type)} "${current.name ?? ''}": Precondition failed: ${failed}`);
}
