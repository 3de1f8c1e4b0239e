import type { V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { plural } from '../../util/text.ts';
import { type PollLook, pollUntil } from '../poll.ts';
import { defineStep } from '../types.ts';
import { classifyKubeError, K8S_NAMESPACE, listAll } from './api.ts';
import { allowedNote, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, type KubeScope, scopeOnTarget } from './scope.ts';

/** One workload's readiness: how many replicas it wants and has available, or why it is not counted yet. */
interface WorkloadState {
  name: string;
  want: number;
  available: number;
  /** Set while the controller has not seen the newest spec (its status is about the old one). */
  stale?: string;
  /** Set when the workload cannot get there by waiting (a rollout past its progress deadline). */
  failed?: string;
}

function observed(generation: number | undefined, observedGeneration: number | undefined): boolean {
  return (observedGeneration ?? 0) >= (generation ?? 0);
}

function deploymentState(d: V1Deployment): WorkloadState {
  const name = d.metadata?.name ?? '';
  const deadline = d.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
  return {
    name,
    want: d.spec?.replicas ?? 1,
    available: d.status?.availableReplicas ?? 0,
    ...(observed(d.metadata?.generation, d.status?.observedGeneration) ? {} : { stale: `${name}: spec update not observed yet` }),
    ...(deadline ? { failed: `deployment ${name} exceeded its progress deadline: ${deadline.message ?? ''}` } : {}),
  };
}

function statefulSetState(s: V1StatefulSet): WorkloadState {
  const name = s.metadata?.name ?? '';
  // availableReplicas is newer (minReadySeconds); readyReplicas is what older servers report.
  const available = s.status?.availableReplicas ?? s.status?.readyReplicas ?? 0;
  return { name, want: s.spec?.replicas ?? 1, available, ...(observed(s.metadata?.generation, s.status?.observedGeneration) ? {} : { stale: `${name}: spec update not observed yet` }) };
}

function daemonSetState(ds: V1DaemonSet): WorkloadState {
  const name = ds.metadata?.name ?? '';
  return {
    name,
    want: ds.status?.desiredNumberScheduled ?? 0,
    available: ds.status?.numberAvailable ?? 0,
    ...(observed(ds.metadata?.generation, ds.status?.observedGeneration) ? {} : { stale: `${name}: spec update not observed yet` }),
  };
}

/** Controllers whose pods are judged through the controller (or, for Jobs, not at all: they finish). */
const COVERED_OWNERS = new Set(['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);

/**
 * Pods no workload above speaks for (made by hand, or by an operator), still
 * meant to run: finished pods (`Succeeded`, and `Failed` such as evicted ones,
 * which stay listed) and pods of Jobs and CronJobs are left out.
 */
function standalonePodStates(pods: readonly V1Pod[]): WorkloadState[] {
  return pods
    .filter((pod) => !pod.metadata?.ownerReferences?.some((o) => o.controller && COVERED_OWNERS.has(o.kind)))
    .filter((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed')
    .map((pod) => {
      const ready = pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      return { name: `pod ${pod.metadata?.name ?? ''}`, want: 1, available: ready ? 1 : 0 };
    });
}

async function listed<T>(what: string, ns: string, page: (chunk: { limit: number; _continue?: string }) => Promise<{ items: T[] }>): Promise<T[]> {
  try {
    return await listAll(page);
  } catch (err) {
    throw classifyKubeError(err, `listing ${what} in ${ns}`);
  }
}

/** Every workload of a namespace with its desired replicas available, and at least `minPods` pods available in all. */
async function lookAtWorkloads(api: KubeApis, ns: string, minPods: number): Promise<PollLook & { pods: number }> {
  const [deployments, statefulSets, daemonSets, pods] = await Promise.all([
    listed('deployments', ns, (page) => api.apps.listNamespacedDeployment({ namespace: ns, ...page })),
    listed('statefulsets', ns, (page) => api.apps.listNamespacedStatefulSet({ namespace: ns, ...page })),
    listed('daemonsets', ns, (page) => api.apps.listNamespacedDaemonSet({ namespace: ns, ...page })),
    listed('pods', ns, (page) => api.core.listNamespacedPod({ namespace: ns, ...page })),
  ]);
  const states = [...deployments.map(deploymentState), ...statefulSets.map(statefulSetState), ...daemonSets.map(daemonSetState), ...standalonePodStates(pods)];
  const available = states.reduce((n, s) => n + Math.min(s.available, s.want), 0);
  if (states.length === 0) {
    // Waiting would not help: a restore that has completed has written what it will write.
    if (minPods === 0) return { done: true, pods: 0 };
    return { done: false, failed: `namespace ${ns} has no deployments, statefulsets, daemonsets or pods to verify: nothing was restored there`, pods: 0 };
  }
  const failed = states.find((s) => s.failed)?.failed;
  if (failed) return { done: false, failed, pods: available };
  const waiting = states.filter((s) => s.stale !== undefined || s.available < s.want);
  if (waiting.length === 0 && available >= minPods) return { done: true, pods: available };
  const want = states.reduce((n, s) => n + s.want, 0);
  const shown = waiting.slice(0, 5).map((s) => s.stale ?? `${s.name} ${s.available}/${s.want} available`);
  const more = waiting.length > 5 ? ` and ${waiting.length - 5} more` : '';
  const state = waiting.length ? `${shown.join(', ')}${more}` : `${available} of at least ${plural(minPods, 'pod')} available`;
  return { done: false, state, percent: want > 0 ? Math.round((available / want) * 100) : 0, pods: available };
}

/**
 * `k8s.verify-workloads` (also registered as `k8s.verify-pods`, its older name):
 * waits until every Deployment, StatefulSet and DaemonSet in a namespace has its
 * desired replicas available, as users mean "the restore is up". It does not ask
 * every pod to be Running: real namespaces keep finished Job and CronJob pods
 * (`Succeeded`) and evicted ones (`Failed`), and a restored CronJob starts new
 * ones at once. Pods no such workload owns must be running and ready.
 * A namespace with nothing to verify fails at once (nothing was restored),
 * unless `minPods` is 0.
 * Reads only, but only in an allowed namespace (K8S_ALLOWED_NAMESPACES).
 */
export function verifyWorkloadsStep(limits: KubeScope = DEFAULT_KUBE_SCOPE, id: 'k8s.verify-workloads' | 'k8s.verify-pods' = 'k8s.verify-workloads') {
  return defineStep({
    id,
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
    summary: 'Wait until every deployment, statefulset and daemonset in a namespace has its replicas available',
    params: z.object({ namespace: z.string().regex(K8S_NAMESPACE, 'must be a namespace name'), minPods: z.number().int().min(0).default(1) }),
    outputs: ['pods'],
    // A refusal rejects the promise (it does not throw from the call).
    plan: (ctx, p) =>
      Promise.resolve().then(() => {
        const scope = scopeOnTarget(limits, ctx.target);
        const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
        // The older id keeps the wording its runbooks' plans have always shown.
        const detail =
          id === 'k8s.verify-pods'
            ? `wait until at least ${plural(p.minPods, 'pod')} in ${p.namespace} ${p.minPods === 1 ? 'is' : 'are'} running and ready`
            : `wait until every deployment, statefulset and daemonset in ${p.namespace} has its replicas available (at least ${plural(p.minPods, 'pod')}; finished and Job pods ignored)`;
        return [{ action: 'check' as const, resource: `namespace ${p.namespace}`, detail: `${detail}${allowedNote(note)}` }];
      }),
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      enforce(checkNamespace(scope, p.namespace));
      let pods = 0;
      await pollUntil(ctx, {
        what: `workloads in ${p.namespace}`,
        name: 'workloads',
        check: async () => {
          // A client per look: with EKS its token is current however long the wait.
          const look = await lookAtWorkloads(await ctx.kube(), p.namespace, p.minPods);
          pods = look.pods;
          return look;
        },
      });
      return { pods };
    },
  });
}
