import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import type { KubeApis } from '../../targets/kube.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { classifyKubeError, FIELD_MANAGER, K8S_NAME, K8S_NAMESPACE, MERGE_PATCH, statusCode } from './api.ts';
import { allowedNote, checkSecret, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, isPending, type KubeScope, scopeOnTarget } from './scope.ts';

/**
 * `k8s.update-secret`: sets keys of an existing Secret (e.g. the database host
 * after a restore). Values are never shown: plans, outputs, logs and errors name
 * the keys only.
 * Reads: GET secret. Changes: PATCH secret (merge patch of `data`).
 * Idempotency: compares before writing; a re-entered step finds nothing to change.
 * Scope: the namespace and the Secret must be allowed (K8S_ALLOWED_NAMESPACES,
 * K8S_ALLOWED_SECRETS), checked before any call, in plan() and again in run().
 */
export function updateSecretStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'k8s.update-secret',
    summary: 'Set keys of a Kubernetes Secret (values are never shown)',
    params: z.object({
      namespace: z.string().regex(K8S_NAMESPACE, 'must be a Kubernetes namespace name'),
      name: z.string().regex(K8S_NAME, 'must be a Kubernetes object name'),
      values: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/, 'must be a valid Secret key'), z.union([z.string(), z.number()])),
    }),
    outputs: ['changedKeys'],
    async plan(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      const note = enforcePlanned(scope, [p.namespace, p.name], ['namespaces', 'secrets'], () => checkSecret(scope, p.namespace, p.name));
      // A Secret named by an earlier step's output cannot be read yet; run() reads (and checks) it.
      if (!isPending(p.namespace) && !isPending(p.name)) await readSecret(await ctx.kube(), p.namespace, p.name);
      const keys = Object.keys(p.values);
      const pending = keys.filter((k) => isPlaceholder(p.values[k]));
      return [
        {
          action: 'change',
          resource: `secret ${p.namespace}/${p.name}`,
          detail: `set ${keys.join(', ')} in secret ${p.namespace}/${p.name} (values not shown${pending.length ? `; ${pending.join(', ')} from earlier steps` : ''})${allowedNote(note)}`,
        },
      ];
    },
    async run(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      enforce(checkSecret(scope, p.namespace, p.name));
      const api = await ctx.kube();
      const secret = await readSecret(api, p.namespace, p.name);
      const wanted = Object.fromEntries(Object.entries(p.values).map(([k, v]) => [k, Buffer.from(String(v)).toString('base64')]));
      const changed = Object.keys(wanted).filter((k) => secret.data?.[k] !== wanted[k]);
      if (changed.length === 0) {
        ctx.progress(`secret ${p.namespace}/${p.name} already holds these values`);
        return { changedKeys: '' };
      }
      await patchSecret(api, p.namespace, p.name, { data: Object.fromEntries(changed.map((k) => [k, wanted[k] ?? ''])) });
      return { changedKeys: changed.join(',') };
    },
  });
}

/**
 * Merges `data` (base64 values) and `annotations` into a Secret with one merge
 * patch, keeping its other keys; errors name the Secret, never a value (also
 * rds.rotate-master-password's, for the new password).
 */
export async function patchSecret(api: KubeApis, namespace: string, name: string, change: { data?: Record<string, string>; annotations?: Record<string, string> }): Promise<void> {
  const body = { ...(change.annotations ? { metadata: { annotations: change.annotations } } : {}), ...(change.data ? { data: change.data } : {}) };
  try {
    await api.core.patchNamespacedSecret({ name, namespace, body, fieldManager: FIELD_MANAGER }, MERGE_PATCH);
  } catch (err) {
    throw classifyKubeError(err, `updating secret ${namespace}/${name}`);
  }
}

/** The Secret, or a PermanentStepError when there is none (also sql.check's, for a password). */
export async function readSecret(api: KubeApis, namespace: string, name: string) {
  try {
    return await api.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusCode(err) === 404) throw new PermanentStepError(`there is no secret ${namespace}/${name}`);
    throw classifyKubeError(err, `reading secret ${namespace}/${name}`);
  }
}
