import { type V1Deployment, V1PodTemplateSpec, type V1ReplicaSet } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { plural } from '../../util/text.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanContext, type StepContext } from '../types.ts';
import { classifyKubeError, FIELD_MANAGER, JSON_PATCH, K8S_NAME, K8S_NAMESPACE, listAll, rfc3339, STRATEGIC_MERGE_PATCH, statusCode } from './api.ts';
import { allowedNote, checkAll, checkDeployment, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, isPending, type KubeScope, pendingNote, scopeOnTarget } from './scope.ts';

const REVISION = 'deployment.kubernetes.io/revision';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** Marks which step of which run restarted a deployment, so a re-entered step does not restart it again. */
const RESTARTED_BY = 'dr-chatops/restarted-by';
/** Marks the deployment a step rolled back, for the same reason. */
const ROLLED_BACK_BY = 'dr-chatops/rolled-back-by';

export const namespace = z.string().regex(K8S_NAMESPACE, 'must be a Kubernetes namespace name');
/** Deployment names, or `["*"]` for every deployment in the namespace. */
export const deployments = z.array(z.string().regex(/^(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/, 'must be deployment names or "*"')).min(1);

export async function readDeployment(api: KubeApis, ns: string, name: string): Promise<V1Deployment> {
  try {
    return await api.apps.readNamespacedDeployment({ name, namespace: ns });
  } catch (err) {
    if (statusCode(err) === 404) throw new PermanentStepError(`there is no deployment ${ns}/${name}`);
    throw classifyKubeError(err, `reading deployment ${ns}/${name}`);
  }
}

/**
 * The named deployments, or all of the namespace for `*`; unknown names are
 * refused together. Scope: the namespace and named deployments are checked
 * before any call, and every deployment `*` finds must be allowed too (all of
 * them are refused together, before anything is changed).
 */
export async function selectDeployments(api: KubeApis, ns: string, names: readonly string[], scope: KubeScope): Promise<{ selected: V1Deployment[]; note: string }> {
  enforce(checkAll([checkNamespace(scope, ns), ...names.filter((n) => n !== '*').map((n) => checkDeployment(scope, ns, n))]));
  let all: V1Deployment[];
  try {
    all = await listAll((page) => api.apps.listNamespacedDeployment({ namespace: ns, ...page }));
  } catch (err) {
    throw classifyKubeError(err, `listing deployments in ${ns}`);
  }
  if (names.includes('*')) {
    if (all.length === 0) throw new PermanentStepError(`there are no deployments in namespace ${ns}`);
    return { selected: all, note: enforce(checkAll(all.map((d) => checkDeployment(scope, ns, d.metadata?.name ?? '')))) };
  }
  const missing = names.filter((n) => !all.some((d) => d.metadata?.name === n));
  if (missing.length) {
    throw new PermanentStepError(
      `no deployment ${missing.join(', ')} in namespace ${ns} (deployments there: ${all.map((d) => d.metadata?.name).join(', ') || 'none'})`,
    );
  }
  const selected = all.filter((d) => names.includes(d.metadata?.name ?? ''));
  return { selected, note: enforce(checkAll(selected.map((d) => checkDeployment(scope, ns, d.metadata?.name ?? '')))) };
}

/** For plan(): a namespace or names from an earlier step cannot be listed yet; run() checks them. */
export function pendingSelection(ns: string, names: readonly string[]): boolean {
  // While planning, a whole list from an earlier step is one placeholder string.
  const list: unknown = names;
  return isPending(ns) || (Array.isArray(list) ? list.some(isPending) : isPending(list));
}

/** The plan's note when names come from earlier steps; a namespace already known is checked now. */
export function pendingScopeNote(scope: KubeScope, ns: string): string {
  if (!isPending(ns)) enforce(checkNamespace(scope, ns));
  return pendingNote(scope, ['namespaces', 'deployments']);
}

/** `kubectl rollout restart`: the restartedAt annotation on the pod template, as a strategic merge patch. */
export function rolloutRestartStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.rollout-restart',
    // Each restart (its annotation check and patch) is a checkpoint: entered again, it restarts nothing twice.
    resumable: true,
    summary: 'Restart deployments (as kubectl rollout restart does)',
    params: z.object({ namespace, deployments }),
    outputs: ['restarted'],
    async plan(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      if (pendingSelection(p.namespace, p.deployments)) {
        const note = pendingScopeNote(scope, p.namespace);
        return [{ action: 'restart', resource: `deployments in ${p.namespace}`, detail: `rolling restart of ${[p.deployments].flat().join(', ')} in ${p.namespace}${allowedNote(note)}` }];
      }
      const { selected, note } = await selectDeployments(await ctx.kube(), p.namespace, p.deployments, scope);
      const paused = selected.filter((d) => d.spec?.paused).map((d) => d.metadata?.name);
      if (paused.length) throw new PermanentStepError(`can't restart paused deployment ${paused.join(', ')}: resume it first`);
      const pinned = pinSelection(ctx, p.deployments, selected);
      // The limit is said once, on the first line: the others share it.
      return selected.map((d, i) => ({
        action: 'restart' as const,
        resource: `deployment ${p.namespace}/${d.metadata?.name ?? ''}`,
        detail: `rolling restart of ${p.namespace}/${d.metadata?.name ?? ''} (${plural(d.spec?.replicas ?? 0, 'replica')})${i === 0 ? `${pinned}${allowedNote(note)}` : ''}`,
      }));
    },
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      const api = await ctx.kube();
      const restarted: string[] = [];
      for (const d of (await selectDeployments(api, p.namespace, p.deployments, scope)).selected) {
        const name = d.metadata?.name ?? '';
        // The check of its own annotation and the patch decide together: re-entered, the stored result stands.
        await ctx.once(`restart:${name}`, () => restartOnce(ctx, api, p.namespace, d).then(() => true));
        restarted.push(name);
      }
      return { restarted: restarted.join(',') };
    },
  });
}

/** How often a restart re-reads and tries again when the deployment changed under it (409). */
const CONFLICT_ATTEMPTS = 4;

/**
 * Restarts one deployment unless this step already did. The resourceVersion
 * read is a precondition: if another executor of this run (a worker that took
 * over from a stalled one) restarted it meanwhile, or its controller wrote its
 * status, the API server answers 409; the step re-reads and finds either its
 * own annotation (done: one restart, not two) or a newer version to patch.
 */
async function restartOnce(ctx: StepContext, api: KubeApis, ns: string, first: V1Deployment): Promise<void> {
  const name = first.metadata?.name ?? '';
  let d = first;
  for (let attempt = 1; ; attempt++) {
    if (d.spec?.template.metadata?.annotations?.[RESTARTED_BY] === ctx.idempotencyKey) return;
    if (d.spec?.paused) throw new PermanentStepError(`can't restart paused deployment ${ns}/${name}`);
    ctx.progress(`restarting ${ns}/${name}`);
    const body = {
      metadata: { resourceVersion: d.metadata?.resourceVersion },
      spec: { template: { metadata: { annotations: { [RESTARTED_AT]: rfc3339(), [RESTARTED_BY]: ctx.idempotencyKey } } } },
    };
    try {
      await api.apps.patchNamespacedDeployment({ name, namespace: ns, body, fieldManager: FIELD_MANAGER }, STRATEGIC_MERGE_PATCH);
      return;
    } catch (err) {
      if (statusCode(err) !== 409 || attempt >= CONFLICT_ATTEMPTS) throw classifyKubeError(err, `restarting ${ns}/${name}`);
    }
    d = await readDeployment(api, ns, name);
  }
}

/**
 * For `*`: pins the deployments the plan found, so the approved run restarts
 * (or waits for) exactly those; what the plan line says of it.
 */
export function pinSelection(ctx: PlanContext, names: readonly string[], selected: readonly V1Deployment[]): string {
  if (!names.includes('*')) return '';
  const found = selected.map((d) => d.metadata?.name ?? '');
  ctx.pin('deployments', found);
  return ` (* pinned: ${found.join(', ')})`;
}

/**
 * `kubectl rollout status` for one deployment: done, or what it waits for.
 * Throws when the rollout exceeded its progress deadline.
 */
export function rolloutState(d: V1Deployment): { done: true } | { done: false; state: string; percent?: number } {
  const name = d.metadata?.name ?? '';
  const status = d.status;
  if ((d.metadata?.generation ?? 0) > (status?.observedGeneration ?? 0)) return { done: false, state: `${name}: waiting for the spec update to be observed` };
  const progressing = status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    throw new PermanentStepError(`deployment ${name} exceeded its progress deadline: ${progressing.message ?? ''}`);
  }
  const want = d.spec?.replicas ?? 1;
  const updated = status?.updatedReplicas ?? 0;
  const available = status?.availableReplicas ?? 0;
  const total = status?.replicas ?? 0;
  const percent = want > 0 ? Math.round((Math.min(updated, available) / want) * 100) : 100;
  if (updated < want) return { done: false, state: `${name}: ${updated} of ${want} new replicas updated`, percent };
  if (total > updated) return { done: false, state: `${name}: ${plural(total - updated, 'old replica')} pending termination`, percent };
  if (available < updated) return { done: false, state: `${name}: ${available} of ${updated} updated replicas are available`, percent };
  return { done: true };
}

/** Waits until every selected deployment has rolled out, by kubectl's rules. */
export function rolloutStatusStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.rollout-status',
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
    summary: 'Wait until deployments have rolled out (as kubectl rollout status)',
    params: z.object({ namespace, deployments }),
    outputs: ['ready'],
    async plan(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      if (pendingSelection(p.namespace, p.deployments)) {
        return [{ action: 'wait', resource: `namespace ${p.namespace}`, detail: `wait until ${[p.deployments].flat().join(', ')} have rolled out${allowedNote(pendingScopeNote(scope, p.namespace))}` }];
      }
      const { selected, note } = await selectDeployments(await ctx.kube(), p.namespace, p.deployments, scope);
      const pinned = pinSelection(ctx, p.deployments, selected);
      return [{ action: 'wait', resource: `namespace ${p.namespace}`, detail: `wait until ${selected.map((d) => d.metadata?.name).join(', ')} have rolled out${pinned}${allowedNote(note)}` }];
    },
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      const api = await ctx.kube();
      const names = (await selectDeployments(api, p.namespace, p.deployments, scope)).selected.map((d) => d.metadata?.name ?? '');
      await pollUntil(ctx, {
        what: `rollouts in ${p.namespace}`,
        name: 'rollout',
        check: async () => {
          const waiting = [];
          for (const name of names) {
            const state = rolloutState(await readDeployment(api, p.namespace, name));
            if (!state.done) waiting.push(state);
          }
          return waiting.length === 0 ? { done: true } : { done: false, state: waiting.map((w) => w.state).join('; '), ...(waiting.length === 1 && waiting[0]?.percent !== undefined ? { percent: waiting[0].percent } : {}) };
        },
      });
      return { ready: names.join(',') };
    },
  });
}

export interface Revision {
  revision: number;
  replicaSet: V1ReplicaSet;
  changeCause: string;
  images: string;
}

/** A deployment's revisions (its own ReplicaSets), newest first: `kubectl rollout history`. */
export async function rolloutHistory(api: KubeApis, ns: string, deployment: V1Deployment): Promise<Revision[]> {
  const selector = Object.entries(deployment.spec?.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  let items: V1ReplicaSet[];
  try {
    items = await listAll((page) => api.apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: selector, ...page }));
  } catch (err) {
    throw classifyKubeError(err, `listing replica sets in ${ns}`);
  }
  return items
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === deployment.metadata?.uid))
    .map((rs) => ({
      revision: Number(rs.metadata?.annotations?.[REVISION] ?? 0),
      replicaSet: rs,
      changeCause: rs.metadata?.annotations?.['kubernetes.io/change-cause'] ?? '',
      images: (rs.spec?.template?.spec?.containers ?? []).map((c) => c.image).join(', '),
    }))
    .filter((r) => r.revision > 0)
    .sort((a, b) => b.revision - a.revision);
}

function withoutHash(template: V1PodTemplateSpec | undefined): V1PodTemplateSpec {
  const copy = template ? structuredClone(template) : new V1PodTemplateSpec();
  const labels = copy.metadata?.labels;
  if (copy.metadata && labels) {
    copy.metadata.labels = Object.fromEntries(Object.entries(labels).filter(([k]) => k !== 'pod-template-hash'));
  }
  return copy;
}

/** The revision `kubectl rollout undo --to-revision=n` would roll back to (0: the previous one). */
function targetRevision(history: Revision[], current: number, toRevision: number, name: string): Revision {
  const listed = history.map((r) => `${r.revision} (${r.images}${r.changeCause ? `, ${r.changeCause}` : ''})`).join('; ');
  if (toRevision === 0) {
    const previous = history.find((r) => r.revision !== current);
    if (!previous) throw new PermanentStepError(`deployment ${name} has no previous revision to roll back to (revisions: ${listed || 'none'})`);
    return previous;
  }
  const found = history.find((r) => r.revision === toRevision);
  if (!found) throw new PermanentStepError(`deployment ${name} has no revision ${toRevision}; its revisions are: ${listed || 'none'}`);
  return found;
}

/** Annotations kubectl keeps from the deployment rather than copying from the ReplicaSet. */
const KEEP_FROM_DEPLOYMENT = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

/**
 * `kubectl rollout undo`: takes the pod template of the chosen revision's
 * ReplicaSet (without pod-template-hash) and the RS's annotations, and sends
 * both as one JSON patch. Idempotent: if the deployment already runs that
 * template (a re-entered step), nothing is sent.
 */
export function rolloutUndoStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.rollout-undo',
    // The revision chosen and the patch are one checkpoint: entered again, it never rolls back a second revision.
    resumable: true,
    summary: 'Roll a deployment back to its previous (or a given) revision',
    params: z.object({
      namespace,
      deployment: z.string().regex(K8S_NAME, 'must be a deployment name'),
      /** 0 = the previous revision. */
      toRevision: z.number().int().min(0).default(0),
    }),
    outputs: ['revision', 'images'],
    async plan(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      if (isPending(p.namespace) || isPending(p.deployment)) {
        const note = pendingScopeNote(scope, p.namespace);
        return [{ action: 'change', resource: `deployment ${p.namespace}/${p.deployment}`, detail: `roll back ${p.namespace}/${p.deployment}${allowedNote(note)}` }];
      }
      const note = enforce(checkDeployment(scope, p.namespace, p.deployment));
      const api = await ctx.kube();
      const d = await readDeployment(api, p.namespace, p.deployment);
      if (d.spec?.paused) throw new PermanentStepError(`you cannot roll back a paused deployment (${p.namespace}/${p.deployment}): resume it first`);
      const current = Number(d.metadata?.annotations?.[REVISION] ?? 0);
      const history = await rolloutHistory(api, p.namespace, d);
      const target = targetRevision(history, current, p.toRevision, `${p.namespace}/${p.deployment}`);
      const now = history.find((r) => r.revision === current);
      return [
        {
          action: 'change',
          resource: `deployment ${p.namespace}/${p.deployment}`,
          detail: `roll back ${p.namespace}/${p.deployment} from revision ${current} (${now?.images ?? '?'}) to revision ${target.revision} (${target.images}${target.changeCause ? `, ${target.changeCause}` : ''})${allowedNote(note)}`,
        },
      ];
    },
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      enforce(checkDeployment(scope, p.namespace, p.deployment));
      const api = await ctx.kube();
      // Re-entered after the rollback, "previous" would be the bad revision again: what was decided and done is stored with the patch.
      return ctx.once('rollback', () => rollBack(ctx, api, p.namespace, p.deployment, p.toRevision));
    },
  });
}

/** Chooses the revision to roll back to and rolls the deployment back to it (nothing when it already runs that template). */
async function rollBack(ctx: StepContext, api: KubeApis, ns: string, deployment: string, toRevision: number): Promise<{ revision: number; images: string }> {
  const d = await readDeployment(api, ns, deployment);
  if (d.spec?.paused) throw new PermanentStepError(`you cannot roll back a paused deployment (${ns}/${deployment})`);
  const current = Number(d.metadata?.annotations?.[REVISION] ?? 0);
  const history = await rolloutHistory(api, ns, d);
  const currentTemplate = JSON.stringify(withoutHash(d.spec?.template));
  // Re-entered after this step already rolled back: the target is now the newest revision, and
  // "previous" would point at the bad one again. The marker says we are done.
  if (d.metadata?.annotations?.[ROLLED_BACK_BY] === ctx.idempotencyKey) {
    return { revision: current, images: history.find((r) => r.revision === current)?.images ?? '' };
  }
  const target = targetRevision(history, current, toRevision, `${ns}/${deployment}`);
  const template = withoutHash(target.replicaSet.spec?.template);
  if (JSON.stringify(template) === currentTemplate) {
    ctx.progress(`already at the template of revision ${target.revision}`);
    return { revision: target.revision, images: target.images };
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (KEEP_FROM_DEPLOYMENT.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(target.replicaSet.metadata?.annotations ?? {})) if (!KEEP_FROM_DEPLOYMENT.has(k)) annotations[k] = v;
  annotations[ROLLED_BACK_BY] = ctx.idempotencyKey;
  ctx.progress(`rolling ${ns}/${deployment} back to revision ${target.revision}`);
  try {
    await api.apps.patchNamespacedDeployment(
      {
        name: deployment,
        namespace: ns,
        body: [
          { op: 'replace', path: '/spec/template', value: template },
          { op: 'replace', path: '/metadata/annotations', value: annotations },
        ],
        fieldManager: FIELD_MANAGER,
      },
      JSON_PATCH,
    );
  } catch (err) {
    throw classifyKubeError(err, `rolling back ${ns}/${deployment}`);
  }
  return { revision: target.revision, images: target.images };
}
