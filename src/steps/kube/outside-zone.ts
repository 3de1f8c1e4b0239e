import type { V1Deployment, V1LabelSelector, V1Node, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { type PollLook, pollUntil } from '../poll.ts';
import { defineStep } from '../types.ts';
import { classifyKubeError, K8S_NAMESPACE, listAll } from './api.ts';
import { allowedNote, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, type KubeScope, scopeOnTarget } from './scope.ts';
import { selects } from './selector.ts';
import { ZONE_LABEL, ZONE_NAME } from './zone.ts';

/** A workload that should serve, and its ready pods inside and outside the failing zone. */
interface Spread {
  name: string;
  outside: number;
  inside: number;
  /** Ready pods on nodes without a zone label: counted on neither side (never guessed). */
  unknown: number;
}

const isReady = (pod: V1Pod) =>
  pod.metadata?.deletionTimestamp === undefined && pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

function spreadOf(name: string, selector: V1LabelSelector | undefined, pods: readonly V1Pod[], zoneOf: ReadonlyMap<string, string>, zone: string): Spread {
  const spread: Spread = { name, outside: 0, inside: 0, unknown: 0 };
  if (!selector) return spread;
  for (const pod of pods) {
    if (!isReady(pod) || !selects(selector, pod.metadata?.labels ?? {})) continue;
    const podZone = zoneOf.get(pod.spec?.nodeName ?? '');
    if (podZone === undefined) spread.unknown++;
    else if (podZone === zone) spread.inside++;
    else spread.outside++;
  }
  return spread;
}

async function listed<T>(what: string, list: (chunk: { limit: number; _continue?: string }) => Promise<{ items: T[] }>): Promise<T[]> {
  try {
    return await listAll(list);
  } catch (err) {
    throw classifyKubeError(err, `listing ${what}`);
  }
}

/** Every deployment and statefulset of `ns` that wants replicas has a ready pod on a node outside `zone`. */
async function lookOutside(api: KubeApis, ns: string, zone: string): Promise<PollLook & { spreads: Spread[] }> {
  const [deployments, statefulSets, pods, nodes] = await Promise.all([
    listed<V1Deployment>(`deployments in ${ns}`, (page) => api.apps.listNamespacedDeployment({ namespace: ns, ...page })),
    listed<V1StatefulSet>(`statefulsets in ${ns}`, (page) => api.apps.listNamespacedStatefulSet({ namespace: ns, ...page })),
    listed<V1Pod>(`pods in ${ns}`, (page) => api.core.listNamespacedPod({ namespace: ns, ...page })),
    listed<V1Node>('nodes', (page) => api.core.listNode(page)),
  ]);
  const zoneOf = new Map(nodes.flatMap((n) => (n.metadata?.labels?.[ZONE_LABEL] ? [[n.metadata.name ?? '', n.metadata.labels[ZONE_LABEL]] as const] : [])));
  const serving = [
    ...deployments.filter((d) => (d.spec?.replicas ?? 1) > 0).map((d) => spreadOf(`deployment ${d.metadata?.name ?? ''}`, d.spec?.selector, pods, zoneOf, zone)),
    ...statefulSets.filter((s) => (s.spec?.replicas ?? 1) > 0).map((s) => spreadOf(`statefulset ${s.metadata?.name ?? ''}`, s.spec?.selector, pods, zoneOf, zone)),
  ];
  if (serving.length === 0) return { done: false, failed: `namespace ${ns} has no deployment or statefulset with replicas: nothing serves there to verify`, spreads: [] };
  const waiting = serving.filter((s) => s.outside === 0);
  if (waiting.length === 0) return { done: true, spreads: serving };
  const shown = waiting.slice(0, 5).map((s) => `${s.name} has no ready pod outside ${zone} (${s.inside} inside${s.unknown ? `, ${s.unknown} on nodes without a zone label` : ''})`);
  const more = waiting.length > 5 ? ` and ${waiting.length - 5} more` : '';
  return { done: false, state: `${shown.join('; ')}${more}`, percent: Math.round(((serving.length - waiting.length) / serving.length) * 100), spreads: serving };
}

/**
 * `k8s.verify-outside-zone`: after an AZ evacuation, waits until every
 * deployment and statefulset of the namespace that wants replicas has at least
 * one ready pod on a node outside the failing zone (by the nodes'
 * `topology.kubernetes.io/zone`). A pod on a node that has lost its zone
 * still shows Ready for minutes (until the node controller marks it), so
 * "every workload available" alone could pass on pods that no longer serve.
 * Pods on nodes without a zone label count on neither side. Reads only:
 * deployments, statefulsets and pods of an allowed namespace, and nodes.
 * Outputs `outside` and `inside`: the ready pods on each side.
 */
export function verifyOutsideZoneStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.verify-outside-zone',
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
    summary: "Wait until the namespace's workloads each have a ready pod outside a zone",
    params: z.object({ namespace: z.string().regex(K8S_NAMESPACE, 'must be a namespace name'), zone: ZONE_NAME }),
    outputs: ['outside', 'inside'],
    // A refusal rejects the promise (it does not throw from the call).
    plan: (ctx, p) =>
      Promise.resolve().then(() => {
        const scope = scopeOnTarget(limits, ctx.target);
        const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
        return [
          {
            action: 'check' as const,
            resource: `namespace ${p.namespace}`,
            detail: `wait until every deployment and statefulset in ${p.namespace} has a ready pod on a node outside ${p.zone}${allowedNote(note)}`,
          },
        ];
      }),
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      enforce(checkNamespace(scope, p.namespace));
      let spreads: Spread[] = [];
      await pollUntil(ctx, {
        what: `workloads in ${p.namespace} serving outside ${p.zone}`,
        name: 'outside',
        check: async () => {
          const look = await lookOutside(await ctx.kube(), p.namespace, p.zone);
          spreads = look.spreads;
          return look;
        },
      });
      return { outside: spreads.reduce((n, s) => n + s.outside, 0), inside: spreads.reduce((n, s) => n + s.inside, 0) };
    },
  });
}
