/**
 * The Eviction subresource (POST /api/v1/namespaces/{ns}/pods/{name}/eviction)
 * and PodDisruptionBudgets (policy/v1), as the API server's eviction.go and
 * the disruption controller do them (API-FACTS 8.9):
 * - the body must be an Eviction (policy/v1 or v1beta1) naming the pod of the URL (400);
 * - a missing pod is 404; a finished, Pending or already terminating pod is
 *   deleted without looking at budgets;
 * - a pod covered by more than one budget is 500; by one that allows no
 *   disruption now, 429 TooManyRequests with a `DisruptionBudget` cause
 *   naming it ("The disruption budget X needs N healthy pods and has M currently");
 * - otherwise 201 `Status` Success: the pod is terminating (deletionTimestamp,
 *   the DisruptionTarget condition) and gone after `graceMs`. As its
 *   ReplicaSet or StatefulSet would, a replacement comes up on a node that is
 *   not cordoned (a ReplicaSet's at once, a StatefulSet's once the old one is gone).
 * A budget's status (currentHealthy, desiredHealthy, disruptionsAllowed) is
 * what its controller would write, computed from the pods when it is read.
 */
import { randomUUID } from 'node:crypto';
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import type { NodeStore } from './nodes.ts';
import { type ObjectStore, resourceByPath, type ResourceType } from './objects.ts';
import { validateObject } from './validate.ts';

export const PDB_TYPE = resourceByPath('policy', 'v1', 'poddisruptionbudgets') as ResourceType;
const POD_TYPE = resourceByPath('', 'v1', 'pods') as ResourceType;

interface PodMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: { kind: string; name: string; controller?: boolean }[];
}
const metaOf = (o: Obj) => o.metadata as PodMeta;
const phaseOf = (pod: Obj) => (pod.status as { phase?: string } | undefined)?.phase ?? 'Running';
const isReady = (pod: Obj) => ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const isTerminal = (pod: Obj) => ['Succeeded', 'Failed'].includes(phaseOf(pod));

export interface BudgetOptions {
  /** Pods with these labels (policy/v1: an empty selector covers every pod of the namespace). */
  matchLabels: Record<string, string>;
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}

export class Evictions {
  /** How long an evicted pod stays terminating before it is gone. */
  graceMs = 300;
  /** Whether evicted pods of a ReplicaSet or StatefulSet come back on another node. */
  replace = true;
  /** Terminating pods: when each is gone, by `namespace/name`. */
  private readonly goneAt = new Map<string, number>();
  /** Terminating pods a replacement already stands in for (the budget's expected count leaves them out). */
  private readonly replaced = new Set<string>();
  private readonly objects: ObjectStore;
  private readonly nodes: NodeStore;

  constructor(objects: ObjectStore, nodes: NodeStore) {
    this.objects = objects;
    this.nodes = nodes;
  }

  clear(): void {
    this.goneAt.clear();
    this.replaced.clear();
  }

  addBudget(namespace: string, name: string, options: BudgetOptions): Obj {
    const { matchLabels, ...limits } = options;
    return this.objects.create({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace }, spec: { selector: { matchLabels }, ...limits } });
  }

  /** Changes a budget's limits (a person relaxing it): the other limit is removed. */
  setBudget(namespace: string, name: string, limits: { minAvailable: number | string } | { maxUnavailable: number | string }): void {
    const spec = 'minAvailable' in limits ? { minAvailable: limits.minAvailable, maxUnavailable: null } : { maxUnavailable: limits.maxUnavailable, minAvailable: null };
    this.objects.patch(PDB_TYPE, namespace, name, 'application/merge-patch+json', { spec });
  }

  /** Removes the pods whose grace period has ended (called before every request is answered). */
  reap(now = Date.now()): void {
    for (const [key, at] of this.goneAt) {
      if (now < at) continue;
      this.goneAt.delete(key);
      this.replaced.delete(key);
      const [namespace = '', name = ''] = key.split('/');
      const pod = this.objects.get(POD_TYPE, namespace, name);
      this.objects.delete(POD_TYPE, namespace, name);
      if (pod && this.replace && controllerOf(pod)?.kind === 'StatefulSet') this.replacement(pod, name);
    }
  }

  /** A budget with the status its controller would write now. */
  withStatus(pdb: Obj): Obj {
    const b = this.budget(pdb);
    const generation = (pdb.metadata as { generation?: number }).generation ?? 1;
    return {
      ...pdb,
      status: {
        observedGeneration: generation,
        currentHealthy: b.currentHealthy,
        desiredHealthy: b.desiredHealthy,
        expectedPods: b.expectedPods,
        disruptionsAllowed: b.disruptionsAllowed,
        conditions: [{ type: 'DisruptionAllowed', status: b.disruptionsAllowed > 0 ? 'True' : 'False', reason: b.disruptionsAllowed > 0 ? 'SufficientPods' : 'InsufficientPods', message: '', observedGeneration: generation, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      },
    };
  }

  /** POST …/pods/{name}/eviction. */
  evict(namespace: string, name: string, body: unknown): [number, unknown] {
    const eviction = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Obj;
    if (eviction.kind !== 'Eviction' || !['policy/v1', 'policy/v1beta1'].includes(String(eviction.apiVersion))) {
      throw new KubeError(400, 'BadRequest', `not a Eviction object: ${String(eviction.apiVersion)}, Kind=${String(eviction.kind)}`);
    }
    validateObject(eviction);
    if ((eviction.metadata as { name?: unknown } | undefined)?.name !== name) throw new KubeError(400, 'BadRequest', 'name in URL does not match name in Eviction object');
    const pod = this.objects.get(POD_TYPE, namespace, name);
    if (!pod) throw new KubeError(404, 'NotFound', `pods "${name}" not found`);
    const success: [number, unknown] = [201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }];
    // eviction.go canIgnorePDB: these disrupt nothing more by going.
    if (isTerminal(pod) || phaseOf(pod) === 'Pending' || metaOf(pod).deletionTimestamp) {
      if (!metaOf(pod).deletionTimestamp) this.objects.delete(POD_TYPE, namespace, name);
      return success;
    }
    const budgets = this.objects.list(PDB_TYPE, namespace).filter((pdb) => covers(pdb, pod));
    if (budgets.length > 1) throw new KubeError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    const pdb = budgets[0];
    if (pdb) {
      const b = this.budget(pdb);
      const pdbName = metaOf(pdb).name;
      const policy = (pdb.spec as { unhealthyPodEvictionPolicy?: string }).unhealthyPodEvictionPolicy;
      const unhealthyGoes = !isReady(pod) && (policy === 'AlwaysAllow' || (b.currentHealthy >= b.desiredHealthy && b.desiredHealthy > 0));
      if (!unhealthyGoes && b.disruptionsAllowed <= 0) {
        throw new KubeError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${pdbName} needs ${b.desiredHealthy} healthy pods and has ${b.currentHealthy} currently` }],
        });
      }
    }
    this.terminate(pod);
    return success;
  }

  private terminate(pod: Obj): void {
    const { namespace, name } = metaOf(pod);
    const conditions = [
      ...((pod.status as { conditions?: Obj[] } | undefined)?.conditions ?? []),
      { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    ];
    const deletionTimestamp = new Date(Date.now() + this.graceMs).toISOString().replace(/\.\d+Z$/, 'Z');
    this.objects.patch(POD_TYPE, namespace, name, 'application/merge-patch+json', { metadata: { deletionTimestamp, deletionGracePeriodSeconds: Math.ceil(this.graceMs / 1000) }, status: { conditions } });
    this.goneAt.set(`${namespace}/${name}`, Date.now() + this.graceMs);
    if (this.replace && controllerOf(pod)?.kind === 'ReplicaSet') {
      this.replaced.add(`${namespace}/${name}`);
      this.replacement(pod, `${name.replace(/-[a-z0-9]{5}$/, '')}-${randomUUID().slice(0, 5)}`);
    }
  }

  /** The controller's new pod for `pod`, on a node that is not cordoned (Pending, on none, when every node is). */
  private replacement(pod: Obj, name: string): void {
    const { namespace, labels, ownerReferences } = metaOf(pod);
    const node = this.nodes.schedulable()[0];
    const spec = { ...(pod.spec as Obj) };
    delete spec.nodeName;
    this.objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, ...(labels ? { labels } : {}), ...(ownerReferences ? { ownerReferences } : {}) },
      spec: { ...spec, ...(node ? { nodeName: node } : {}) },
      status: node ? { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } : { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] },
    });
  }

  private budget(pdb: Obj): { currentHealthy: number; desiredHealthy: number; expectedPods: number; disruptionsAllowed: number } {
    const pods = this.objects.list(POD_TYPE, metaOf(pdb).namespace).filter((p) => covers(pdb, p) && !isTerminal(p));
    const live = pods.filter((p) => !metaOf(p).deletionTimestamp);
    const currentHealthy = live.filter(isReady).length;
    const expectedPods = live.length + pods.filter((p) => metaOf(p).deletionTimestamp && !this.replaced.has(`${metaOf(p).namespace}/${metaOf(p).name}`)).length;
    const spec = pdb.spec as { minAvailable?: number | string; maxUnavailable?: number | string };
    const desiredHealthy =
      spec.minAvailable !== undefined ? scaled(spec.minAvailable, expectedPods) : spec.maxUnavailable !== undefined ? Math.max(0, expectedPods - scaled(spec.maxUnavailable, expectedPods)) : expectedPods - 1;
    return { currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy) };
  }
}

/** An int, or a percentage of `total` rounded up (intstr.GetScaledValueFromIntOrPercent with roundUp, as the disruption controller calls it). */
function scaled(value: number | string, total: number): number {
  if (typeof value === 'number') return value;
  return Math.ceil((Number(value.replace(/%$/, '')) * total) / 100);
}

function controllerOf(pod: Obj): { kind: string; name: string } | undefined {
  return metaOf(pod).ownerReferences?.find((o) => o.controller);
}

/** Whether `pdb` selects `pod` (matchLabels; policy/v1: an empty selector selects every pod of its namespace). */
function covers(pdb: Obj, pod: Obj): boolean {
  if (metaOf(pdb).namespace !== metaOf(pod).namespace) return false;
  const selector = (pdb.spec as { selector?: { matchLabels?: Record<string, string> } }).selector;
  if (!selector) return false;
  const labels = metaOf(pod).labels ?? {};
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}
