import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import type { KubeApis } from '../clients.ts';
import { classifyKubeError, K8S_NAMESPACE, statusCode } from '../kube/api.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { allowedNote, checkAll, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, isPending, type KubeScope, pendingNote, SCOPE_SETTINGS, type ScopeCheck } from '../kube/scope.ts';
import { type Backup, completedAt, listBackups, newestCompleted, type Restore, RestoreSchema, SCHEDULE_LABEL, VELERO } from './objects.ts';

const name = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a Velero object name');
/** Terminal phases that are failures (PartiallyFailed counts: something was not restored). */
const FAILED = new Set(['PartiallyFailed', 'Failed', 'FailedValidation']);

/** Resolves the backup to restore: the named one, or the newest completed one of the schedule. */
async function chooseBackup(api: KubeApis, ns: string, backup: string, schedule: string | undefined): Promise<Backup> {
  const named = backup !== 'latest';
  const backups = await listBackups(api, ns, named ? undefined : schedule);
  const now = Date.now();
  const describe = (b: Backup) => `${b.metadata.name} (${b.status.phase ?? '?'}, ${formatDuration(now - completedAt(b))} old)`;
  if (named) {
    const found = backups.find((b) => b.metadata.name === backup);
    if (!found) throw new PermanentStepError(`there is no Velero backup "${backup}"; the newest are: ${backups.slice(0, 5).map(describe).join('; ') || 'none'}`);
    if (found.status.phase !== 'Completed') throw new PermanentStepError(`backup ${describe(found)} did not complete; choose a completed one`);
    return found;
  }
  const newest = newestCompleted(backups);
  if (!newest) throw new PermanentStepError(`schedule ${schedule ?? ''} has no completed backup (backups: ${backups.slice(0, 5).map(describe).join('; ') || 'none'})`);
  return newest;
}

function mappingOf(p: { namespaceMapping?: Record<string, string> | undefined; restoreInto?: string | undefined; includedNamespaces?: string[] | undefined }): Record<string, string> {
  const only = p.includedNamespaces?.[0];
  return { ...p.namespaceMapping, ...(p.restoreInto && only ? { [only]: p.restoreInto } : {}) };
}

interface RestoreNamespaces {
  includedNamespaces?: string[] | undefined;
  namespaceMapping?: Record<string, string> | undefined;
  restoreInto?: string | undefined;
  veleroNamespace: string;
}

/**
 * What the restore may read from the backup and write into (K8S_ALLOWED_NAMESPACES):
 * every included namespace, where it lands (mapped or not), and both sides of
 * every mapping. Velero's own namespace (the step's `veleroNamespace`) counts as a
 * system namespace here. Restoring every namespace (`*`) needs `*` in the setting,
 * and leaves out the system namespaces it does not name exactly (`excluded`).
 */
export function checkRestoreScope(scope: KubeScope, p: RestoreNamespaces): ScopeCheck & { excluded: string[] } {
  const effective: KubeScope = { ...scope, systemNamespaces: [...new Set([...scope.systemNamespaces, p.veleroNamespace])] };
  const included = p.includedNamespaces ?? ['*'];
  const mapping = mappingOf(p);
  const { env, key } = SCOPE_SETTINGS.namespaces;
  const checks: ScopeCheck[] = [];
  let excluded: string[] = [];
  if (included.includes('*')) {
    if (!scope.namespaces.includes('*')) {
      checks.push({
        ok: false,
        problem: `restoring every namespace of the backup (includedNamespaces *) is not allowed by ${env}=${scope.namespaces.join(',')}; list the namespaces to restore in includedNamespaces, or set ${env} (${key}) to * (system namespaces stay excluded)`,
      });
    }
    excluded = effective.systemNamespaces.filter((ns) => !scope.namespaces.includes(ns));
  }
  for (const ns of included.filter((n) => n !== '*')) checks.push(checkNamespace(effective, ns), checkNamespace(effective, mapping[ns] ?? ns));
  for (const [from, to] of Object.entries(mapping)) checks.push(checkNamespace(effective, from), checkNamespace(effective, to));
  const result = checks.length ? checkAll(checks) : ({ ok: true, note: `${env}=*` } as const);
  if (!result.ok) return { ...result, excluded };
  const note = excluded.length ? `${env}=*; not restored: ${excluded.join(', ')}` : result.note;
  return { ok: true, note, excluded };
}

/** Restore names are fixed per run and step, so a re-entered step finds its own restore. */
function restoreName(runId: string, stepId: string): string {
  return `dr-${runId}-${stepId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');
}

async function getRestore(api: KubeApis, ns: string, restore: string): Promise<Restore | undefined> {
  try {
    return RestoreSchema.parse(await api.custom.getNamespacedCustomObject({ ...VELERO, namespace: ns, plural: 'restores', name: restore }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading Velero restore ${restore}`);
  }
}

/**
 * `velero.restore`: creates a Velero Restore from a backup (or the newest
 * completed backup of a schedule), optionally only some namespaces and mapped
 * into others (drills), and waits through its phases. PartiallyFailed and
 * Failed fail the step with Velero's warning and error counts.
 * Reads: backups, restores. Changes: creates a Restore (`dr-<run>-<step>`).
 * Idempotency: a re-entered step finds its restore by name and keeps waiting.
 * Scope: see checkRestoreScope; checked before any call, in plan() and in run().
 */
export function veleroRestoreStep(kube: () => Promise<KubeApis>, scope: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'velero.restore',
    summary: 'Restore Kubernetes resources from a Velero backup and wait until it completes',
    params: z
      .object({
        /** A backup name, or `latest` for the newest completed backup of `schedule`. */
        backup: z.union([z.literal('latest'), name]).default('latest'),
        schedule: name.optional(),
        includedNamespaces: z.array(z.string().regex(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/)).optional(),
        namespaceMapping: z.record(z.string().regex(K8S_NAMESPACE), z.string().regex(K8S_NAMESPACE, 'must be a namespace name')).optional(),
        /** Shorthand for drills: restore the one included namespace into this one. */
        restoreInto: z.string().regex(K8S_NAMESPACE, 'must be a namespace name').optional(),
        existingResourcePolicy: z.enum(['none', 'update']).default('none'),
        veleroNamespace: z.string().regex(K8S_NAMESPACE).default('velero'),
      })
      .refine((p) => p.backup !== 'latest' || Boolean(p.schedule), 'backup "latest" needs the schedule whose newest backup to use')
      .refine((p) => !p.restoreInto || p.includedNamespaces?.length === 1, 'restoreInto needs exactly one included namespace'),
    outputs: ['restoreName', 'backupName', 'itemsRestored', 'warnings'],
    async plan(_ctx, p) {
      const values = [...(p.includedNamespaces ?? []), ...Object.entries(p.namespaceMapping ?? {}).flat(), p.restoreInto, p.veleroNamespace];
      const note = values.some(isPending) ? pendingNote(scope, ['namespaces']) : enforce(checkRestoreScope(scope, p));
      const b = await chooseBackup(await kube(), p.veleroNamespace, p.backup, p.schedule);
      const mapping = Object.entries(mappingOf(p)).map(([from, to]) => `${from} → ${to}`);
      return [
        {
          action: 'create',
          resource: `velero restore from ${b.metadata.name}`,
          detail: `restore ${p.includedNamespaces?.join(', ') ?? 'all namespaces'} from backup ${b.metadata.name} (completed ${b.status.completionTimestamp ?? '?'}, ${formatDuration(Date.now() - completedAt(b))} old)${mapping.length ? ` into ${mapping.join(', ')}` : ''}; existing objects: ${p.existingResourcePolicy === 'none' ? 'left as they are' : 'updated'}${allowedNote(note)}`,
        },
      ];
    },
    async run(ctx, p) {
      const allowed = checkRestoreScope(scope, p);
      enforce(allowed);
      const api = await kube();
      const restore = restoreName(ctx.runId, ctx.stepId);
      let existing = await getRestore(api, p.veleroNamespace, restore);
      if (!existing) {
        const b = await chooseBackup(api, p.veleroNamespace, p.backup, p.schedule);
        ctx.progress(`creating restore ${restore} from ${b.metadata.name}`);
        const body = {
          apiVersion: 'velero.io/v1',
          kind: 'Restore',
          metadata: { name: restore, namespace: p.veleroNamespace, labels: { 'dr-chatops/run': ctx.runId, ...(p.schedule ? { [SCHEDULE_LABEL]: p.schedule } : {}) } },
          spec: {
            // The schedule was resolved to its newest completed backup, so the plan and the restore agree.
            backupName: b.metadata.name,
            ...(p.includedNamespaces ? { includedNamespaces: p.includedNamespaces } : {}),
            ...(allowed.excluded.length ? { excludedNamespaces: allowed.excluded } : {}),
            ...(Object.keys(mappingOf(p)).length ? { namespaceMapping: mappingOf(p) } : {}),
            existingResourcePolicy: p.existingResourcePolicy,
          },
        };
        try {
          await api.custom.createNamespacedCustomObject({ ...VELERO, namespace: p.veleroNamespace, plural: 'restores', body });
        } catch (err) {
          if (statusCode(err) !== 409) throw classifyKubeError(err, `creating Velero restore ${restore}`);
        }
      }
      await pollUntil(ctx, {
        what: `Velero restore ${restore}`,
        check: async () => {
          existing = await getRestore(api, p.veleroNamespace, restore);
          const phase = existing?.status.phase ?? 'New';
          if (phase === 'Completed') return { done: true };
          if (FAILED.has(phase)) {
            const s = existing?.status;
            const reasons = [s?.failureReason, ...(s?.validationErrors ?? [])].filter(Boolean).join('; ');
            throw new PermanentStepError(
              `Velero restore ${restore} ended ${phase}: ${s?.warnings ?? 0} warnings, ${s?.errors ?? 0} errors${reasons ? ` (${reasons})` : ''}; see \`velero restore describe ${restore} --details\``,
            );
          }
          const progress = existing?.status.progress;
          const percent = progress?.totalItems ? Math.round(((progress.itemsRestored ?? 0) / progress.totalItems) * 100) : undefined;
          return { done: false, state: phase, ...(percent !== undefined ? { percent } : {}) };
        },
      });
      return {
        restoreName: restore,
        backupName: existing?.spec.backupName ?? '',
        itemsRestored: existing?.status.progress?.itemsRestored ?? 0,
        warnings: existing?.status.warnings ?? 0,
      };
    },
  });
}
