import { V1DeleteOptions, V1LabelSelector, V1NetworkPolicy, V1NetworkPolicySpec, V1ObjectMeta, type V1Pod, V1Preconditions } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { plural } from '../../util/text.ts';
import { defineStep, PermanentStepError, type PlanLine } from '../types.ts';
import { classifyKubeError, FIELD_MANAGER, K8S_NAMESPACE, listAll, rfc3339, statusCode } from './api.ts';
import { allowedNote, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, isPending, type KubeScope, scopeOnTarget } from './scope.ts';

/** The one NetworkPolicy these steps make and delete, in each namespace they isolate. */
export const ISOLATION_POLICY = 'dr-chatops-isolate';
/** The label that makes a policy the bot's: k8s.lift-isolation deletes nothing without it. */
const MANAGED_BY = 'app.kubernetes.io/managed-by';
const BOT = 'dr-chatops';
/** Which run isolated the namespace (a label, so `kubectl get netpol -l` finds it, and an annotation with when). */
const ISOLATED_BY = 'dr-chatops/isolated-by';
const ISOLATED_AT = 'dr-chatops/isolated-at';

const namespace = z.string().regex(K8S_NAMESPACE, 'must be a Kubernetes namespace name');

const liftCommand = (ns: string) => `kubectl delete networkpolicy ${ISOLATION_POLICY} -n ${ns}`;

/** Every pod of the namespace, no rule: all traffic in and out is denied (DNS too), on a CNI that enforces policies. */
function denyAll(ns: string, runId: string): V1NetworkPolicy {
  const metadata = Object.assign(new V1ObjectMeta(), {
    name: ISOLATION_POLICY,
    namespace: ns,
    labels: { [MANAGED_BY]: BOT, [ISOLATED_BY]: runId },
    annotations: { [ISOLATED_BY]: runId, [ISOLATED_AT]: rfc3339(), 'dr-chatops/lift-with': `k8s.lift-isolation, or ${liftCommand(ns)}` },
  });
  const spec = Object.assign(new V1NetworkPolicySpec(), { podSelector: new V1LabelSelector(), policyTypes: ['Ingress', 'Egress'] });
  return Object.assign(new V1NetworkPolicy(), { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec });
}

const isOurs = (p: V1NetworkPolicy) => p.metadata?.labels?.[MANAGED_BY] === BOT;
const madeBy = (p: V1NetworkPolicy) => p.metadata?.labels?.[ISOLATED_BY] ?? p.metadata?.annotations?.[ISOLATED_BY];

/** Selects every pod, covers both directions and allows nothing: what denyAll() writes, however it is spelled. */
function isDenyAll(spec: V1NetworkPolicySpec | undefined): boolean {
  const selector = spec?.podSelector;
  const everyPod = Object.keys(selector?.matchLabels ?? {}).length === 0 && (selector?.matchExpressions ?? []).length === 0;
  const types = [...(spec?.policyTypes ?? [])].sort().join(',');
  return Boolean(spec) && everyPod && types === 'Egress,Ingress' && (spec?.ingress ?? []).length === 0 && (spec?.egress ?? []).length === 0;
}

/** A policy's rules in short, for a refusal: what is there instead of a deny-all. */
function describeRules(spec: V1NetworkPolicySpec | undefined): string {
  const selector = spec?.podSelector?.matchLabels ?? {};
  const pods = Object.keys(selector).length ? `pods ${Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',')}` : 'every pod';
  return `${pods}, policyTypes ${(spec?.policyTypes ?? []).join(', ') || 'none'}, ${plural(spec?.ingress?.length ?? 0, 'ingress rule')}, ${plural(spec?.egress?.length ?? 0, 'egress rule')}`;
}

async function readPolicy(api: KubeApis, ns: string): Promise<V1NetworkPolicy | undefined> {
  try {
    return await api.networking.readNamespacedNetworkPolicy({ name: ISOLATION_POLICY, namespace: ns });
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading NetworkPolicy ${ns}/${ISOLATION_POLICY}`);
  }
}

/**
 * What an existing policy of that name means: the bot's deny-all (any run's)
 * or someone else's identical one is adopted; anything else is refused, as
 * neither replacing someone's policy nor isolating half-way is safe.
 */
function judgeExisting(existing: V1NetworkPolicy, ns: string): { adopted: string } {
  const where = `NetworkPolicy ${ns}/${ISOLATION_POLICY}`;
  if (isDenyAll(existing.spec)) {
    if (isOurs(existing)) return { adopted: `${where} already denies all traffic (made by run ${madeBy(existing) ?? 'unknown'}): adopted, nothing created` };
    return { adopted: `${where} already denies all traffic but was not made by this bot (no label ${MANAGED_BY}=${BOT}): adopted as it is; k8s.lift-isolation will not delete it` };
  }
  if (isOurs(existing)) {
    throw new PermanentStepError(
      `${where} carries the bot's label but no longer denies all traffic (${describeRules(existing.spec)}): someone changed it; look at it, then delete it (${liftCommand(ns)}) and isolate again`,
    );
  }
  const owner = existing.metadata?.labels?.[MANAGED_BY];
  throw new PermanentStepError(
    `${where} exists and was made by someone else (${owner ? `${MANAGED_BY}=${owner}` : `no label ${MANAGED_BY}=${BOT}`}) with other rules (${describeRules(existing.spec)}): the bot neither adopts nor replaces it; rename or delete it, then isolate again`,
  );
}

async function readNamespaceOrRefuse(api: KubeApis, ns: string): Promise<void> {
  try {
    await api.core.readNamespace({ name: ns });
  } catch (err) {
    if (statusCode(err) === 404) throw new PermanentStepError(`there is no namespace ${ns}`);
    throw classifyKubeError(err, `reading namespace ${ns}`);
  }
}

/** What the plan says besides the policy: the pods it cuts off, those it cannot (host network), and policies that still allow traffic. */
async function isolationFacts(api: KubeApis, ns: string): Promise<string> {
  let pods: V1Pod[];
  let policies: V1NetworkPolicy[];
  try {
    pods = await listAll((page) => api.core.listNamespacedPod({ namespace: ns, ...page }));
    policies = await listAll((page) => api.networking.listNamespacedNetworkPolicy({ namespace: ns, ...page }));
  } catch (err) {
    throw classifyKubeError(err, `reading the pods and NetworkPolicies of ${ns}`);
  }
  const live = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const hostNetwork = live.filter((p) => p.spec?.hostNetwork).map((p) => p.metadata?.name ?? '');
  const others = policies.map((p) => p.metadata?.name ?? '').filter((n) => n !== ISOLATION_POLICY);
  const facts = [`${plural(live.length, 'pod')} there now`];
  if (hostNetwork.length) facts.push(`pods on the host network are not affected: ${hostNetwork.join(', ')}`);
  // Policies add up: whatever another policy allows still flows.
  if (others.length) facts.push(`its other NetworkPolicies still allow what they allow (policies add up), delete them too for a full isolation: ${others.join(', ')}`);
  return facts.join('; ');
}

/**
 * `k8s.isolate-namespace`: a security breach's containment. Applies the
 * deny-all NetworkPolicy `dr-chatops-isolate` (podSelector {}, policyTypes
 * Ingress and Egress, no rules): every pod of the namespace loses all network
 * traffic in and out, DNS included, while the pods keep running for forensics.
 * Only a CNI that enforces NetworkPolicies makes it bite.
 * Reads: namespace, pods, NetworkPolicies. Changes: creates the policy,
 * labelled app.kubernetes.io/managed-by=dr-chatops and dr-chatops/isolated-by=<run>.
 * Idempotency: an existing deny-all of that name (the bot's, or someone's
 * identical one) is adopted; another policy of that name is refused.
 * Scope: the namespace must be allowed (K8S_ALLOWED_NAMESPACES). Reverse: k8s.lift-isolation.
 */
export function isolateNamespaceStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.isolate-namespace',
    summary: 'Cut every pod of a namespace off the network with a deny-all NetworkPolicy (reversed by k8s.lift-isolation)',
    params: z.object({ namespace }),
    outputs: ['policy', 'created'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const scope = scopeOnTarget(limits, ctx.target);
      const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
      const resource = `networkpolicy ${p.namespace}/${ISOLATION_POLICY}`;
      const effect = `every pod in ${p.namespace} loses all network traffic in and out, DNS included`;
      const enforced = 'only takes effect where the cluster’s CNI enforces NetworkPolicies (the VPC CNI with network policy enabled, Calico, Cilium…)';
      const reverse = `reverse: k8s.lift-isolation, or ${liftCommand(p.namespace)}`;
      if (isPending(p.namespace)) return [{ action: 'create', resource, detail: `create NetworkPolicy ${ISOLATION_POLICY} (deny all): ${effect}; it ${enforced}; ${reverse}${allowedNote(note)}` }];
      const api = await ctx.kube();
      await readNamespaceOrRefuse(api, p.namespace);
      const existing = await readPolicy(api, p.namespace);
      const facts = await isolationFacts(api, p.namespace);
      if (existing) return [{ action: 'check', resource, detail: `${judgeExisting(existing, p.namespace).adopted}; ${facts}${allowedNote(note)}` }];
      return [
        {
          action: 'create',
          resource,
          detail: `create NetworkPolicy ${ISOLATION_POLICY} (podSelector {}, policyTypes Ingress and Egress, no rules): ${effect} (${facts}); it ${enforced}; ${reverse}${allowedNote(note)}`,
        },
      ];
    },
    async run(ctx, p) {
      enforce(checkNamespace(scopeOnTarget(limits, ctx.target), p.namespace));
      const api = await ctx.kube();
      const created = await ctx.once('isolate', async () => {
        const existing = await readPolicy(api, p.namespace);
        if (existing) {
          ctx.progress(judgeExisting(existing, p.namespace).adopted);
          return false;
        }
        ctx.progress(`creating NetworkPolicy ${p.namespace}/${ISOLATION_POLICY}`);
        try {
          await api.networking.createNamespacedNetworkPolicy({ namespace: p.namespace, body: denyAll(p.namespace, ctx.runId), fieldManager: FIELD_MANAGER });
          return true;
        } catch (err) {
          if (statusCode(err) !== 409) throw classifyKubeError(err, `creating NetworkPolicy ${p.namespace}/${ISOLATION_POLICY}`);
        }
        // Made meanwhile (another worker of this run, or someone else): judged like one found at first.
        const raced = await readPolicy(api, p.namespace);
        if (!raced) throw new Error(`NetworkPolicy ${p.namespace}/${ISOLATION_POLICY} was created and deleted meanwhile`);
        ctx.progress(judgeExisting(raced, p.namespace).adopted);
        return false;
      });
      return { policy: `${p.namespace}/${ISOLATION_POLICY}`, created };
    },
  });
}

/** A policy the lift may delete: the bot's own; anything else is refused, so the namespace is not left isolated unknowingly. */
function refuseForeign(policy: V1NetworkPolicy, ns: string): void {
  if (isOurs(policy)) return;
  throw new PermanentStepError(
    `NetworkPolicy ${ns}/${ISOLATION_POLICY} was not made by this bot (no label ${MANAGED_BY}=${BOT}): not deleted, and ${ns} stays isolated until whoever made it deletes it (${liftCommand(ns)})`,
  );
}

/** How often the lift reads again when the policy changed between its read and its delete (409). */
const LIFT_ATTEMPTS = 3;

/**
 * `k8s.lift-isolation`: the reverse of k8s.isolate-namespace. Deletes the
 * NetworkPolicy `dr-chatops-isolate` of a namespace if the bot made it (its
 * label), with its uid and resourceVersion as preconditions, so a policy
 * replaced meanwhile is read again rather than deleted unseen. Someone
 * else's policy of that name is refused (the namespace stays isolated, and
 * the run says so). None there: nothing to do (`deleted: false`).
 * Scope: the namespace must be allowed (K8S_ALLOWED_NAMESPACES).
 */
export function liftIsolationStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.lift-isolation',
    summary: 'Delete the deny-all NetworkPolicy k8s.isolate-namespace made, giving a namespace its network back',
    params: z.object({ namespace }),
    outputs: ['deleted'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const scope = scopeOnTarget(limits, ctx.target);
      const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
      const resource = `networkpolicy ${p.namespace}/${ISOLATION_POLICY}`;
      const back = `pods in ${p.namespace} get their network traffic back (as far as its other NetworkPolicies allow)`;
      if (isPending(p.namespace)) return [{ action: 'delete', resource, detail: `delete NetworkPolicy ${ISOLATION_POLICY} if this bot made it: ${back}${allowedNote(note)}` }];
      const policy = await readPolicy(await ctx.kube(), p.namespace);
      // Planned with the rest of a run, the policy is usually made by an earlier step of that run (k8s.isolate-namespace): the plan says both cases.
      if (!policy) {
        return [
          {
            action: 'delete',
            resource,
            detail: `delete NetworkPolicy ${ISOLATION_POLICY} if this bot made it (an earlier step of this run may create it; there is none now, so if none is there then, nothing is lifted): ${back}${allowedNote(note)}`,
          },
        ];
      }
      refuseForeign(policy, p.namespace);
      const at = policy.metadata?.annotations?.[ISOLATED_AT];
      return [{ action: 'delete', resource, detail: `delete NetworkPolicy ${ISOLATION_POLICY} (made by run ${madeBy(policy) ?? 'unknown'}${at ? ` at ${at}` : ''}): ${back}; k8s.isolate-namespace isolates it again${allowedNote(note)}` }];
    },
    async run(ctx, p) {
      enforce(checkNamespace(scopeOnTarget(limits, ctx.target), p.namespace));
      const api = await ctx.kube();
      const deleted = await ctx.once('lift', async () => {
        for (let attempt = 1; attempt <= LIFT_ATTEMPTS; attempt++) {
          const policy = await readPolicy(api, p.namespace);
          if (!policy) return false;
          refuseForeign(policy, p.namespace);
          ctx.progress(`deleting NetworkPolicy ${p.namespace}/${ISOLATION_POLICY}`);
          try {
            const preconditions = Object.assign(new V1Preconditions(), { uid: policy.metadata?.uid, resourceVersion: policy.metadata?.resourceVersion });
            const body = Object.assign(new V1DeleteOptions(), { preconditions });
            await api.networking.deleteNamespacedNetworkPolicy({ name: ISOLATION_POLICY, namespace: p.namespace, body });
            return true;
          } catch (err) {
            // Gone meanwhile: deleted all the same. Changed meanwhile: read again.
            if (statusCode(err) === 404) return true;
            if (statusCode(err) !== 409) throw classifyKubeError(err, `deleting NetworkPolicy ${p.namespace}/${ISOLATION_POLICY}`);
          }
        }
        throw new Error(`NetworkPolicy ${p.namespace}/${ISOLATION_POLICY} kept changing while being deleted`);
      });
      return { deleted };
    },
  });
}
