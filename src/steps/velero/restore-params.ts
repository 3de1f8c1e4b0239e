import { z } from 'zod';
import { K8S_NAMESPACE } from '../kube/api.ts';

/**
 * `velero.restore`'s parameters and what its plans derive from them alone,
 * shared by the step (restore.ts), the drill's plan (drill-plan.ts) and the
 * plan of a restore into a cluster not there yet (restore-pinned.ts).
 */

const name = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a Velero object name');
const namespaceName = z.string().regex(K8S_NAMESPACE, 'must be a namespace name');

export function mappingOf(p: { namespaceMapping?: Record<string, string> | undefined; restoreInto?: string | undefined; includedNamespaces?: string[] | undefined }): Record<string, string> {
  const only = p.includedNamespaces?.[0];
  return { ...p.namespaceMapping, ...(p.restoreInto && only ? { [only]: p.restoreInto } : {}) };
}

/**
 * Whether the restore is an isolated drill: as asked, else whenever a namespace
 * lands under another name (a copy next to production, which must not act as it).
 */
export function isIsolated(p: { isolate?: boolean | undefined } & Parameters<typeof mappingOf>[0]): boolean {
  return p.isolate ?? Object.entries(mappingOf(p)).some(([from, to]) => from !== to);
}

export const restoreParams = z
  .object({
    /** A backup name, or `latest` for the newest completed backup of `schedule`; the plan pins what it resolved. */
    backup: z.union([z.literal('latest'), name]).default('latest'),
    /** Pinned by a plan that found the backup in object storage: its completion time; the run refuses a backup of that name that completed at another. */
    backupCompletedAt: z.iso.datetime({ offset: true }).optional(),
    schedule: name.optional(),
    includedNamespaces: z.array(z.string().regex(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/)).optional(),
    namespaceMapping: z.record(z.string().regex(K8S_NAMESPACE), namespaceName).optional(),
    /** Shorthand for drills: restore the one included namespace into this one. */
    restoreInto: namespaceName.optional(),
    existingResourcePolicy: z.enum(['none', 'update']).default('none'),
    /** Where Velero runs; the target's Velero namespace unless given. */
    veleroNamespace: z.string().regex(K8S_NAMESPACE).optional(),
    /** PartiallyFailed succeeds (its warnings and errors in the outputs) instead of failing the step. */
    allowPartial: z.boolean().default(false),
    /** Isolate the restored copy from production (see drill.ts); default: whenever a namespace is mapped to another. */
    isolate: z.boolean().optional(),
    /** Isolated restores: the namespace whose Secrets and ConfigMaps are copied into the restored namespaces. */
    configFrom: namespaceName.optional(),
    /** Isolated restores: restore PVCs and PVs too (only sensible from a backup with volume snapshots). */
    includeVolumes: z.boolean().default(false),
  })
  .refine((p) => p.backup !== 'latest' || Boolean(p.schedule), 'backup "latest" needs the schedule whose newest backup to use')
  .refine((p) => !p.backupCompletedAt || p.backup !== 'latest', 'backupCompletedAt names the completion time of a named backup, not of "latest"')
  .refine((p) => !p.restoreInto || p.includedNamespaces?.length === 1, 'restoreInto needs exactly one included namespace')
  .refine((p) => !isIsolated(p) || (p.includedNamespaces?.length && !p.includedNamespaces.includes('*')), 'an isolated restore needs the namespaces to restore listed in includedNamespaces (not *)')
  .refine((p) => !p.configFrom || isIsolated(p), 'configFrom replaces the Secrets and ConfigMaps an isolated restore leaves out; it needs isolate (or a restore into another namespace)');
/** The parameters with the Velero namespace resolved (the target's unless the runbook names one). */
export type RestoreParams = z.infer<typeof restoreParams> & { veleroNamespace: string };

/** What the plan says of partial restores and of objects that exist already. */
export function restoreTerms(p: Pick<RestoreParams, 'allowPartial' | 'existingResourcePolicy'>): string {
  const partial = p.allowPartial ? 'accepted (PartiallyFailed succeeds; its warnings and errors are counted in the outputs)' : 'fail the step';
  return `partial restores: ${partial}; existing objects: ${p.existingResourcePolicy === 'none' ? 'left as they are' : 'updated'}`;
}
