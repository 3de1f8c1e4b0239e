import { V1Eviction, type V1Node, V1ObjectMeta, type V1Pod, type V1PodDisruptionBudget } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { formatDuration } from '../../util/duration.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanLine } from '../types.ts';
import { classifyKubeError, listAll, statusCode } from './api.ts';
import { checkNamespace, DEFAULT_KUBE_SCOPE, type KubeScope, scopeOnTarget } from './scope.ts';
import { selects } from './selector.ts';
import { ZONE_NAME, zoneNodes } from './zone.ts';

/** kubectl drain retries an eviction a PodDisruptionBudget refused (429) every 5 s (API-FACTS 8.9). */
export const EVICTION_RETRY_MS = 5_000;

/** The kubelet's annotation on the API server's copy of a static pod: evicting it does nothing (the kubelet runs it). */
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

const podName = (p: V1Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
const controllerOf = (p: V1Pod) => p.metadata?.ownerReferences?.find((o) => o.controller);

/** Where each pod on the zone's nodes stands for a drain. */
interface PodSort {
  evict: V1Pod[];
  /** Already being deleted: waited for, not evicted again. */
  terminating: V1Pod[];
  /** Left by design (as kubectl drain leaves them): DaemonSet and mirror pods. */
  skipped: string[];
  /** Left although they are on the zone: outside the allowed namespaces, or without a controller; each with why. */
  left: string[];
}

function sortPods(pods: V1Pod[], scope: KubeScope, evictUnmanaged: boolean): PodSort {
  const sorted: PodSort = { evict: [], terminating: [], skipped: [], left: [] };
  for (const pod of pods) {
    const owner = controllerOf(pod);
    if (pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined) sorted.skipped.push(`${podName(pod)} (mirror pod)`);
    else if (owner?.kind === 'DaemonSet') sorted.skipped.push(`${podName(pod)} (DaemonSet ${owner.name})`);
    else if (pod.metadata?.deletionTimestamp) sorted.terminating.push(pod);
    else {
      const allowed = checkNamespace(scope, pod.metadata?.namespace ?? '');
      if (!allowed.ok) sorted.left.push(`${podName(pod)}: not evicted, ${allowed.problem}`);
      else if (!owner && !evictUnmanaged) sorted.left.push(`${podName(pod)}: not evicted, no controller would start it again elsewhere (evictUnmanaged: true evicts it for good)`);
      else sorted.evict.push(pod);
    }
  }
  return sorted;
}

/** Every pod on the nodes (a field selector per node, cluster-wide: pods of every namespace, to report those left). */
async function podsOn(api: KubeApis, nodes: V1Node[]): Promise<V1Pod[]> {
  const pods: V1Pod[] = [];
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    try {
      pods.push(...(await listAll((chunk) => api.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}`, ...chunk }))));
    } catch (err) {
      throw classifyKubeError(err, `listing the pods on node ${name}`);
    }
  }
  return pods;
}

/** The API server's Status in an error's body (a string or an object, as client-node gives it). */
function statusOf(err: unknown): { message?: string; details?: { causes?: { reason?: string; message?: string }[] } } {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'object' && body !== null) return body;
  try {
    return typeof body === 'string' ? (JSON.parse(body) as ReturnType<typeof statusOf>) : {};
  } catch {
    return {};
  }
}

/** Why a 429 refused an eviction: the budget by name (its cause), else the server's message. */
function blockedBy(err: unknown, pod: V1Pod): string {
  const status = statusOf(err);
  const cause = status.details?.causes?.find((c) => c.reason === 'DisruptionBudget')?.message;
  const budget = cause && /^The disruption budget (\S+) (.*)$/.exec(cause);
  if (budget) return `${podName(pod)} is held by PodDisruptionBudget ${pod.metadata?.namespace ?? ''}/${budget[1] ?? ''} (${budget[2] ?? ''})`;
  return `${podName(pod)} is held: ${cause ?? status.message ?? 'HTTP 429 Too Many Requests'}`;
}

/** One eviction (policy/v1): evicted, already gone, or held by a budget (429, with why). */
async function evict(api: KubeApis, pod: V1Pod): Promise<{ evicted: boolean } | { held: string }> {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  try {
    const body = Object.assign(new V1Eviction(), { apiVersion: 'policy/v1', kind: 'Eviction', metadata: Object.assign(new V1ObjectMeta(), { name, namespace }) });
    await api.core.createNamespacedPodEviction({ name, namespace, body });
    return { evicted: true };
  } catch (err) {
    const code = statusCode(err);
    if (code === 404) return { evicted: false };
    if (code === 429) return { held: blockedBy(err, pod) };
    const message = statusOf(err).message ?? '';
    // Neither is fixed by retrying: a person must change the budgets or the RBAC.
    if (code === 500 && message.includes('more than one PodDisruptionBudget')) throw new PermanentStepError(`cannot evict ${podName(pod)}: ${message} Leave one budget over its pods.`);
    if (code === 403) {
      throw new PermanentStepError(`evicting ${podName(pod)} is forbidden (${message}): the bot needs pods/eviction create in namespace ${namespace}, a RoleBinding of dr-chatops-workloads there (deploy/kubernetes/rbac.yaml)`);
    }
    throw classifyKubeError(err, `evicting ${podName(pod)}`);
  }
}

/** Whether a budget's selector takes in the pod. */
function covers(pdb: V1PodDisruptionBudget, pod: V1Pod): boolean {
  const selector = pdb.spec?.selector;
  if (!selector || pdb.metadata?.namespace !== pod.metadata?.namespace) return false;
  return selects(selector, pod.metadata?.labels ?? {});
}

/** The plan's lines about budgets that would hold evictions now. */
async function budgetLines(api: KubeApis, evicting: V1Pod[]): Promise<PlanLine[]> {
  let budgets: V1PodDisruptionBudget[];
  try {
    budgets = await listAll((chunk) => api.policy.listPodDisruptionBudgetForAllNamespaces(chunk));
  } catch (err) {
    throw classifyKubeError(err, 'listing the PodDisruptionBudgets');
  }
  return budgets.flatMap((pdb) => {
    const covered = evicting.filter((pod) => covers(pdb, pod));
    if (!covered.length) return [];
    const allowed = pdb.status?.disruptionsAllowed ?? 0;
    const name = `${pdb.metadata?.namespace ?? ''}/${pdb.metadata?.name ?? ''}`;
    const waits = allowed < covered.length ? `; evictions beyond that wait for it, retried every ${EVICTION_RETRY_MS / 1000} s until the step's deadline` : '';
    return [{ action: 'check' as const, resource: `poddisruptionbudget ${name}`, detail: `allows ${allowed} disruption(s) now, over ${covered.map(podName).join(', ')}${waits}` }];
  });
}

function shortList(items: readonly string[], max = 12): string {
  return items.length > max ? `${items.slice(0, max).join(', ')}, … (${items.length} in all)` : items.join(', ');
}

/**
 * `k8s.drain-zone`: moves the pods off an AZ's nodes as `kubectl drain` does:
 * through the Eviction API (policy/v1), so PodDisruptionBudgets are respected.
 * DaemonSet and mirror pods are skipped; pods already terminating are waited
 * for; pods outside the allowed namespaces (K8S_ALLOWED_NAMESPACES, system
 * namespaces refused) and pods no controller would start again are reported,
 * not evicted. An eviction a budget refuses (429) is tried again every 5 s
 * until the step's deadline, reporting which budget holds which pod; then
 * the step waits until the evicted pods are gone from the zone's nodes.
 * The zone must be cordoned first (k8s.cordon-zone), or evicted pods could be
 * scheduled right back.
 * Reads: list nodes, pods (per node), PodDisruptionBudgets. Changes: POST pods/eviction.
 * Idempotency: evicting is one checkpoint (`evictions`) around its retries:
 * an eviction asked again is harmless (a terminating pod is left to go, a gone
 * one is 404), so a wait entered again after a park evicts what is left.
 * `enabled: false` makes the step do nothing (plan and run), so a runbook can
 * drain only when asked (az-evacuate's `drain` parameter): the engine has no
 * conditional steps.
 */
export function drainZoneStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.drain-zone',
    resumable: true,
    summary: 'Evict the pods of an availability zone’s nodes through the Eviction API, respecting PodDisruptionBudgets',
    params: z.object({ zone: ZONE_NAME, evictUnmanaged: z.boolean().default(false), enabled: z.boolean({ error: 'must be true or false' }).default(true) }),
    outputs: ['evicted', 'skipped', 'left'],
    async plan(ctx, p) {
      if (!p.enabled) return [{ action: 'check', resource: `pods of ${p.zone}`, detail: `not drained (not asked): running pods stay on the cordoned nodes; nothing new is scheduled there` }];
      const scope = scopeOnTarget(limits, ctx.target);
      const api = await ctx.kube();
      const nodes = await zoneNodes(api, p.zone);
      const sorted = sortPods(await podsOn(api, nodes), scope, p.evictUnmanaged);
      const skipped = sorted.skipped.length ? `; skipped: ${shortList(sorted.skipped)}` : '';
      const lines: PlanLine[] = [
        {
          action: 'change',
          resource: `pods on ${nodes.length} node(s) of ${p.zone}`,
          detail:
            `evict ${sorted.evict.length} pod(s) now there through the Eviction API (the pods are read again when it runs), then wait until they are gone` +
            `${sorted.evict.length ? `: ${shortList(sorted.evict.map(podName))}` : ''}${skipped}; the zone must be cordoned first (k8s.cordon-zone)`,
          ...(p.evictUnmanaged && sorted.evict.some((pod) => !controllerOf(pod)) ? { irreversible: true } : {}),
        },
        ...sorted.left.map((why): PlanLine => ({ action: 'check', resource: `pod ${why.split(':')[0] ?? ''}`, detail: why })),
      ];
      return [...lines, ...(await budgetLines(api, sorted.evict))];
    },
    async run(ctx, p) {
      if (!p.enabled) return { evicted: 0, skipped: 0, left: '' };
      const scope = scopeOnTarget(limits, ctx.target);
      const nodes = await zoneNodes(await ctx.kube(), p.zone);
      const open = nodes.filter((n) => n.spec?.unschedulable !== true).map((n) => n.metadata?.name ?? '');
      if (open.length) throw new PermanentStepError(`nodes of ${p.zone} are not cordoned: ${open.join(', ')}; cordon the zone first (k8s.cordon-zone) so evicted pods are not scheduled back there`);

      const evicted = await ctx.once('evictions', async () => {
        let count = 0;
        await pollUntil(ctx, {
          what: `the pods of ${p.zone} to be evicted`,
          name: 'evictions',
          firstDelayMs: EVICTION_RETRY_MS,
          maxDelayMs: EVICTION_RETRY_MS,
          check: async ({ marks }) => {
            count = marks.evicted ?? count;
            const api = await ctx.kube();
            const held: string[] = [];
            for (const pod of sortPods(await podsOn(api, nodes), scope, p.evictUnmanaged).evict) {
              const outcome = await evict(api, pod);
              if ('held' in outcome) held.push(outcome.held);
              else if (outcome.evicted) count += 1;
            }
            if (!held.length) return { done: true };
            return { done: false, state: `${count} evicted, ${held.length} held: ${held.join('; ')}`, nextLookInMs: EVICTION_RETRY_MS, marks: { evicted: count } };
          },
          gaveUp: ({ state, waitedMs }) =>
            `the drain of ${p.zone} reached the step's deadline after ${formatDuration(waitedMs)}: ${state}. Relax those budgets or scale their workloads up, then run the step again`,
        });
        return count;
      });

      let last: PodSort = { evict: [], terminating: [], skipped: [], left: [] };
      await pollUntil(ctx, {
        what: `the evicted pods to leave ${p.zone}`,
        name: 'pods-gone',
        check: async () => {
          last = sortPods(await podsOn(await ctx.kube(), nodes), scope, p.evictUnmanaged);
          const going = [...last.terminating, ...last.evict];
          return going.length ? { done: false, state: `${going.length} pod(s) still there: ${shortList(going.map(podName), 5)}` } : { done: true };
        },
      });
      if (last.left.length) ctx.progress(`left on ${p.zone}: ${shortList(last.left, 5)}`);
      return { evicted, skipped: last.skipped.length, left: last.left.map((why) => why.split(':')[0] ?? '').join(',') };
    },
  });
}
