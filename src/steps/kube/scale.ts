import { type V1Deployment, type V1LabelSelector, V1ObjectMeta, V1Scale, V1ScaleSpec } from '@kubernetes/client-node';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { plural } from '../../util/text.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanLine, type StepContext } from '../types.ts';
import { classifyKubeError, FIELD_MANAGER, listAll, MERGE_PATCH, statusCode } from './api.ts';
import { deployments as deploymentNames, namespace as namespaceName, pendingScopeNote, pendingSelection, pinSelection, readDeployment, selectDeployments } from './rollout.ts';
import { allowedNote, DEFAULT_KUBE_SCOPE, type KubeScope, scopeOnTarget } from './scope.ts';

/** The count a deployment had before the bot scaled it to zero: written once, read back by k8s.scale-restore. */
export const REPLICAS_BEFORE = 'dr-chatops/replicas-before';
/** Which run scaled it down. */
export const SCALED_BY = 'dr-chatops/scaled-by';

/** How often a change re-reads and tries again when the deployment changed under it (409). */
const CONFLICT_ATTEMPTS = 4;

const nameOf = (d: V1Deployment) => d.metadata?.name ?? '';
/** The API server defaults spec.replicas to 1. */
const replicasOf = (d: V1Deployment) => d.spec?.replicas ?? 1;
const recorded = (d: V1Deployment) => d.metadata?.annotations?.[REPLICAS_BEFORE];

const params = z.object({ namespace: namespaceName, deployments: deploymentNames });

/** A label selector as a list's `labelSelector` query takes it (`app=web,tier in (a,b)`). */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const labels = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const expressions = (selector?.matchExpressions ?? []).map((e) => {
    if (e.operator === 'Exists') return e.key;
    if (e.operator === 'DoesNotExist') return `!${e.key}`;
    return `${e.key} ${e.operator === 'NotIn' ? 'notin' : 'in'} (${(e.values ?? []).join(',')})`;
  });
  return [...labels, ...expressions].join(',');
}

/**
 * Sets the count through the scale subresource (PUT of an autoscaling/v1
 * Scale), with the resourceVersion read as a precondition: 'changed' when
 * the deployment moved on meanwhile (409), the new resourceVersion otherwise.
 */
async function putScale(api: KubeApis, d: V1Deployment, replicas: number): Promise<{ changed: true } | { resourceVersion: string | undefined }> {
  const name = nameOf(d);
  const namespace = d.metadata?.namespace ?? '';
  const metadata = Object.assign(new V1ObjectMeta(), { name, namespace, resourceVersion: d.metadata?.resourceVersion });
  const body = Object.assign(new V1Scale(), { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata, spec: Object.assign(new V1ScaleSpec(), { replicas }) });
  try {
    const scale = await api.apps.replaceNamespacedDeploymentScale({ name, namespace, body, fieldManager: FIELD_MANAGER });
    return { resourceVersion: scale.metadata?.resourceVersion };
  } catch (err) {
    if (statusCode(err) === 409) return { changed: true };
    throw classifyKubeError(err, `scaling ${namespace}/${name} to ${replicas}`);
  }
}

/** A merge patch of annotations (null removes one), with a resourceVersion precondition; undefined when it changed meanwhile (409). */
async function annotate(api: KubeApis, ns: string, name: string, resourceVersion: string | undefined, annotations: Record<string, string | null>): Promise<V1Deployment | undefined> {
  try {
    return await api.apps.patchNamespacedDeployment({ name, namespace: ns, body: { metadata: { resourceVersion, annotations } }, fieldManager: FIELD_MANAGER }, MERGE_PATCH);
  } catch (err) {
    if (statusCode(err) === 409) return undefined;
    throw classifyKubeError(err, `annotating ${ns}/${name}`);
  }
}

/**
 * Records the count and scales one deployment to zero. The annotation comes
 * first, so no moment has the deployment at zero without its count; a
 * deployment already at zero is left as it is, so an earlier count (this
 * run's first entry, or the run that scaled it down) is never overwritten with 0.
 */
async function scaleToZero(ctx: StepContext, api: KubeApis, ns: string, name: string): Promise<void> {
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    let d: V1Deployment | undefined = await readDeployment(api, ns, name);
    const replicas = replicasOf(d);
    if (replicas === 0) return;
    if (recorded(d) !== String(replicas) || d.metadata?.annotations?.[SCALED_BY] !== ctx.runId) {
      d = await annotate(api, ns, name, d.metadata?.resourceVersion, { [REPLICAS_BEFORE]: String(replicas), [SCALED_BY]: ctx.runId });
      if (!d) continue;
    }
    ctx.progress(`scaling ${ns}/${name} from ${replicas} to 0`);
    if (!('changed' in (await putScale(api, d, 0)))) return;
  }
  throw new Error(`deployment ${ns}/${name} kept changing while being scaled to 0`);
}

/** The pods of a deployment still there (running, or terminating), by its selector; finished ones do not count. */
async function podsLeft(api: KubeApis, d: V1Deployment): Promise<{ running: number; terminating: number }> {
  const ns = d.metadata?.namespace ?? '';
  try {
    const pods = await listAll((page) => api.core.listNamespacedPod({ namespace: ns, labelSelector: selectorString(d.spec?.selector), ...page }));
    const live = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    const terminating = live.filter((p) => p.metadata?.deletionTimestamp).length;
    return { running: live.length - terminating, terminating };
  } catch (err) {
    throw classifyKubeError(err, `listing the pods of ${ns}/${nameOf(d)}`);
  }
}

/**
 * `k8s.scale-to-zero`: a security breach's containment for workloads. Scales
 * deployments (names, or `*` pinned by the plan) to 0 through the scale
 * subresource and keeps them, their ReplicaSets and history, for forensics;
 * then waits until none of their pods is left.
 * Reads: deployments, pods by selector. Changes: annotates each deployment
 * `dr-chatops/replicas-before: <n>` and `dr-chatops/scaled-by: <run>` (merge
 * patch), then PUTs its Scale with replicas 0.
 * Idempotency: each deployment is one checkpoint; one already at 0 keeps its
 * recorded count. Scope: namespace and deployments must be allowed.
 * Reverse: k8s.scale-restore.
 */
export function scaleToZeroStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.scale-to-zero',
    // Each deployment's scale-down is a checkpoint; the wait for its pods to be gone parks.
    resumable: true,
    summary: 'Scale deployments to zero, keeping them for forensics, and wait until their pods are gone (reversed by k8s.scale-restore)',
    params,
    outputs: ['scaled'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const scope = scopeOnTarget(limits, ctx.target);
      if (pendingSelection(p.namespace, p.deployments)) {
        const names = [p.deployments].flat().join(', ');
        return [{ action: 'change', resource: `deployments in ${p.namespace}`, detail: `scale ${names} in ${p.namespace} to 0, recording each count in ${REPLICAS_BEFORE}; reverse: k8s.scale-restore${allowedNote(pendingScopeNote(scope, p.namespace))}` }];
      }
      const { selected, note } = await selectDeployments(await ctx.kube(), p.namespace, p.deployments, scope);
      const pinned = pinSelection(ctx, p.deployments, selected);
      return selected.map((d, i) => {
        const name = nameOf(d);
        const replicas = replicasOf(d);
        const shared = i === 0 ? `${pinned}${allowedNote(note)}` : '';
        if (replicas === 0) {
          const before = recorded(d);
          const kept = before === undefined ? 'k8s.scale-restore leaves it at 0' : `its ${REPLICAS_BEFORE}=${before} is kept for k8s.scale-restore`;
          return { action: 'check' as const, resource: `deployment ${p.namespace}/${name}`, detail: `${p.namespace}/${name} is at 0 replicas already: nothing to do (${kept})${shared}` };
        }
        return {
          action: 'change' as const,
          resource: `deployment ${p.namespace}/${name}`,
          detail:
            `scale ${p.namespace}/${name} from ${plural(replicas, 'replica')} to 0 and wait until its pods are gone; the deployment is kept (for forensics), annotated ${REPLICAS_BEFORE}=${replicas}; ` +
            `reverse: k8s.scale-restore, or kubectl scale deployment ${name} -n ${p.namespace} --replicas=${replicas}${shared}`,
        };
      });
    },
    async run(ctx, p) {
      const api = await ctx.kube();
      const { selected } = await selectDeployments(api, p.namespace, p.deployments, scopeOnTarget(limits, ctx.target));
      for (const d of selected) await ctx.once(`scale-to-zero:${nameOf(d)}`, () => scaleToZero(ctx, api, p.namespace, nameOf(d)).then(() => true));
      await pollUntil(ctx, {
        what: `the pods of ${selected.map(nameOf).join(', ')} to be gone`,
        name: 'pods-gone',
        check: async () => {
          const left: string[] = [];
          for (const d of selected) {
            const { running, terminating } = await podsLeft(api, d);
            if (running + terminating > 0) left.push(`${nameOf(d)}: ${plural(running + terminating, 'pod')} left${terminating ? ` (${terminating} terminating)` : ''}`);
          }
          return left.length ? { done: false, state: left.join('; ') } : { done: true };
        },
      });
      return { scaled: selected.map(nameOf).join(',') };
    },
  });
}

/** The recorded count; one that is not a replica count (written by hand) is refused rather than guessed at. */
function countOrRefuse(d: V1Deployment): number {
  const before = recorded(d) ?? '';
  if (/^\d{1,6}$/.test(before)) return Number(before);
  throw new PermanentStepError(`${d.metadata?.namespace ?? ''}/${nameOf(d)} has ${REPLICAS_BEFORE}=${before}, which is not a replica count: set it right or remove it, then restore again`);
}

/**
 * Puts one deployment back at its recorded count, then removes the record
 * (the count first: a re-entry that finds the count back only removes the
 * record). Nothing recorded: nothing to do (returns undefined).
 */
async function restoreOne(ctx: StepContext, api: KubeApis, ns: string, name: string): Promise<number | undefined> {
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    const d = await readDeployment(api, ns, name);
    if (recorded(d) === undefined) return undefined;
    const wanted = countOrRefuse(d);
    let resourceVersion = d.metadata?.resourceVersion;
    if (replicasOf(d) !== wanted) {
      ctx.progress(`scaling ${ns}/${name} from ${replicasOf(d)} back to ${wanted}`);
      const put = await putScale(api, d, wanted);
      if ('changed' in put) continue;
      resourceVersion = put.resourceVersion;
    }
    if (await annotate(api, ns, name, resourceVersion, { [REPLICAS_BEFORE]: null, [SCALED_BY]: null })) return wanted;
  }
  throw new Error(`deployment ${ns}/${name} kept changing while being scaled back`);
}


/**
 * `k8s.scale-restore`: the reverse of k8s.scale-to-zero. Puts each deployment
 * (names, or `*` pinned by the plan) back at the count in its
 * `dr-chatops/replicas-before` annotation through the scale subresource, then
 * removes the annotations. A deployment without the annotation (never scaled
 * down by the bot, or restored already) is left as it is. It does not wait for
 * the pods: k8s.rollout-status or k8s.verify-workloads does.
 * Scope: namespace and deployments must be allowed.
 */
export function scaleRestoreStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.scale-restore',
    summary: 'Scale deployments back to the counts k8s.scale-to-zero recorded',
    params,
    outputs: ['restored'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const scope = scopeOnTarget(limits, ctx.target);
      if (pendingSelection(p.namespace, p.deployments)) {
        const names = [p.deployments].flat().join(', ');
        return [{ action: 'change', resource: `deployments in ${p.namespace}`, detail: `scale ${names} in ${p.namespace} back to the counts in ${REPLICAS_BEFORE}${allowedNote(pendingScopeNote(scope, p.namespace))}` }];
      }
      const { selected, note } = await selectDeployments(await ctx.kube(), p.namespace, p.deployments, scope);
      const pinned = pinSelection(ctx, p.deployments, selected);
      return selected.map((d, i) => {
        const name = nameOf(d);
        const shared = i === 0 ? `${pinned}${allowedNote(note)}` : '';
        const resource = `deployment ${p.namespace}/${name}`;
        if (recorded(d) === undefined) return { action: 'check' as const, resource, detail: `${p.namespace}/${name} has no ${REPLICAS_BEFORE} annotation (not scaled down by this bot, or restored already): left at ${plural(replicasOf(d), 'replica')}${shared}` };
        const count = countOrRefuse(d);
        const by = d.metadata?.annotations?.[SCALED_BY];
        return {
          action: 'change' as const,
          resource,
          detail: `scale ${p.namespace}/${name} from ${plural(replicasOf(d), 'replica')} back to ${count} (${REPLICAS_BEFORE}${by ? `, recorded by run ${by}` : ''}), then remove the annotation; k8s.rollout-status waits for the pods${shared}`,
        };
      });
    },
    async run(ctx, p) {
      const api = await ctx.kube();
      const { selected } = await selectDeployments(api, p.namespace, p.deployments, scopeOnTarget(limits, ctx.target));
      const restored: string[] = [];
      for (const d of selected) {
        if (recorded(d) !== undefined) countOrRefuse(d);
        const count = await ctx.once(`scale-restore:${nameOf(d)}`, () => restoreOne(ctx, api, p.namespace, nameOf(d)).then((n) => n ?? null));
        if (count !== null) restored.push(nameOf(d));
      }
      return { restored: restored.join(',') };
    },
  });
}
