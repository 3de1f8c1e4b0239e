import type { V1Namespace } from '@kubernetes/client-node';
import { z } from 'zod';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { classifyKubeError, statusCode } from './api.ts';
import { allowedNote, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, type KubeScope, scopeOnTarget } from './scope.ts';
import { verifyWorkloadsStep } from './verify.ts';

/** `k8s.verify-pods`: the older name of `k8s.verify-workloads` (verify.ts), kept for existing runbooks. */
export function verifyPodsStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return verifyWorkloadsStep(limits, 'k8s.verify-pods');
}

/** The namespace controller's conditions that say why a terminating namespace is still there. */
const HOLDING_CONDITIONS = new Set([
  'NamespaceFinalizersRemaining',
  'NamespaceContentRemaining',
  'NamespaceDeletionContentFailure',
  'NamespaceDeletionDiscoveryFailure',
  'NamespaceDeletionGroupVersionParsingFailure',
]);

/** What keeps a terminating namespace: the controller's messages, else its finalizers; empty when nothing is said. */
export function whatHoldsNamespace(ns: V1Namespace): string {
  const messages = (ns.status?.conditions ?? []).filter((c) => HOLDING_CONDITIONS.has(c.type) && c.status === 'True').map((c) => `${c.type}: ${c.message ?? ''}`);
  const finalizers = [...(ns.metadata?.finalizers ?? []), ...(ns.spec?.finalizers ?? [])];
  return [...messages, ...(finalizers.length ? [`finalizers ${finalizers.join(', ')}`] : [])].join('; ');
}

/**
 * `k8s.delete-namespace`: removes a namespace a drill restored into, and waits
 * until it is gone. Deletion is asynchronous: the API server answers 200 with
 * the namespace `Terminating`, removes its content, and only then the
 * namespace (404); a DELETE meanwhile answers 409. Finalizers can hold it for
 * ever: progress and the failure message name what holds it.
 * Refuses namespaces that do not start with `dr-drill-`, so a typo in a runbook
 * cannot delete production, and the namespace must also be allowed (K8S_ALLOWED_NAMESPACES).
 * Idempotent: an already deleted namespace is done (`deleted: false`); one
 * still terminating (a re-entered step) is waited for.
 */
export function deleteNamespaceStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  const drillNamespace = z.string().regex(/^dr-drill-[a-z0-9-]{1,50}$/, 'only drill namespaces (dr-drill-…) can be deleted');
  return defineStep({
    id: 'k8s.delete-namespace',
    // The deletion is a checkpoint; the wait for the namespace to be gone parks.
    resumable: true,
    summary: 'Delete a drill namespace (dr-drill-… only) and wait until it is gone',
    params: z.object({ namespace: drillNamespace }),
    outputs: ['deleted'],
    plan: (ctx, p) =>
      Promise.resolve().then(() => {
        const scope = scopeOnTarget(limits, ctx.target);
        const note = enforcePlanned(scope, [p.namespace], ['namespaces'], () => checkNamespace(scope, p.namespace));
        return [{ action: 'delete' as const, resource: `namespace ${p.namespace}`, detail: `delete the drill namespace ${p.namespace} and everything in it${allowedNote(note)}`, irreversible: true }];
      }),
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      if (!drillNamespace.safeParse(p.namespace).success) throw new PermanentStepError(`refusing to delete ${p.namespace}: not a drill namespace`);
      enforce(checkNamespace(scope, p.namespace));
      // Re-entered after the deletion, a namespace gone meanwhile is this step's work, not one that was never there.
      const found = await ctx.once('delete-namespace', async () => {
        ctx.progress(`deleting namespace ${p.namespace}`);
        try {
          await (await ctx.kube()).core.deleteNamespace({ name: p.namespace });
        } catch (err) {
          if (statusCode(err) === 404) return false;
          // 409: already terminating (an earlier attempt deleted it): wait for it like a fresh deletion.
          if (statusCode(err) !== 409) throw classifyKubeError(err, `deleting namespace ${p.namespace}`);
        }
        return true;
      });
      if (!found) return { deleted: false };
      await pollUntil(ctx, {
        what: `namespace ${p.namespace} to be deleted`,
        name: 'namespace-gone',
        check: async () => {
          let ns: V1Namespace;
          try {
            ns = await (await ctx.kube()).core.readNamespace({ name: p.namespace });
          } catch (err) {
            if (statusCode(err) === 404) return { done: true };
            throw classifyKubeError(err, `reading namespace ${p.namespace}`);
          }
          const holding = whatHoldsNamespace(ns);
          return { done: false, state: `${ns.status?.phase ?? 'Terminating'}${holding ? `, held by ${holding}` : ''}` };
        },
      });
      return { deleted: true };
    },
  });
}
