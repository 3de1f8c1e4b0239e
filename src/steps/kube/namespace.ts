import { z } from 'zod';
import type { KubeApis } from '../clients.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { classifyKubeError, K8S_NAMESPACE, statusCode } from './api.ts';
import { allowedNote, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, type KubeScope } from './scope.ts';

/**
 * `k8s.verify-pods`: waits until every pod in a namespace is Running and Ready
 * (at least `minPods` of them), as `kubectl get pods` would show after a restore.
 * Reads only, but only in an allowed namespace (K8S_ALLOWED_NAMESPACES).
 */
export function verifyPodsStep(kube: () => Promise<KubeApis>, scope: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.verify-pods',
    summary: 'Wait until every pod in a namespace is running and ready',
    params: z.object({ namespace: z.string().regex(K8S_NAMESPACE, 'must be a namespace name'), minPods: z.number().int().min(0).default(1) }),
    outputs: ['pods'],
    // A refusal rejects the promise (it does not throw from the call).
    plan: (_ctx, p) =>
      Promise.resolve().then(() => {
        const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
        return [{ action: 'check' as const, resource: `namespace ${p.namespace}`, detail: `wait until at least ${p.minPods} pods in ${p.namespace} are running and ready${allowedNote(note)}` }];
      }),
    async run(ctx, p) {
      enforce(checkNamespace(scope, p.namespace));
      let count = 0;
      await pollUntil(ctx, {
        what: `pods in ${p.namespace}`,
        check: async () => {
          let pods;
          try {
            pods = (await (await kube()).core.listNamespacedPod({ namespace: p.namespace })).items;
          } catch (err) {
            throw classifyKubeError(err, `listing pods in ${p.namespace}`);
          }
          count = pods.length;
          const notReady = pods.filter(
            (pod) => pod.status?.phase !== 'Running' || !pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          if (pods.length >= p.minPods && notReady.length === 0) return { done: true };
          return {
            done: false,
            state: pods.length < p.minPods ? `${pods.length} of at least ${p.minPods} pods exist` : `${notReady.length} of ${pods.length} pods not ready (${notReady.slice(0, 3).map((x) => x.metadata?.name).join(', ')})`,
          };
        },
      });
      return { pods: count };
    },
  });
}

/**
 * `k8s.delete-namespace`: removes a namespace a drill restored into. Refuses
 * namespaces that do not start with `dr-drill-`, so a typo in a runbook cannot
 * delete production, and the namespace must also be allowed (K8S_ALLOWED_NAMESPACES).
 * Idempotent: an already deleted namespace is fine.
 */
export function deleteNamespaceStep(kube: () => Promise<KubeApis>, scope: KubeScope = DEFAULT_KUBE_SCOPE) {
  const drillNamespace = z.string().regex(/^dr-drill-[a-z0-9-]{1,50}$/, 'only drill namespaces (dr-drill-…) can be deleted');
  return defineStep({
    id: 'k8s.delete-namespace',
    summary: 'Delete a drill namespace (dr-drill-… only)',
    params: z.object({ namespace: drillNamespace }),
    outputs: ['deleted'],
    plan: (_ctx, p) =>
      Promise.resolve().then(() => {
        const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
        return [{ action: 'delete' as const, resource: `namespace ${p.namespace}`, detail: `delete the drill namespace ${p.namespace} and everything in it${allowedNote(note)}`, irreversible: true }];
      }),
    async run(ctx, p) {
      if (!drillNamespace.safeParse(p.namespace).success) throw new PermanentStepError(`refusing to delete ${p.namespace}: not a drill namespace`);
      enforce(checkNamespace(scope, p.namespace));
      ctx.progress(`deleting namespace ${p.namespace}`);
      try {
        await (await kube()).core.deleteNamespace({ name: p.namespace });
        return { deleted: true };
      } catch (err) {
        if (statusCode(err) === 404) return { deleted: false };
        throw classifyKubeError(err, `deleting namespace ${p.namespace}`);
      }
    },
  });
}
