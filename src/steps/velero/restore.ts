import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import type { KubeApis } from '../../targets/kube.ts';
import { classifyKubeError, FIELD_MANAGER, statusCode } from '../kube/api.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, type PlanContext, type PlanLine, type StepContext } from '../types.ts';
import { allowedNote, checkAll, checkNamespace, DEFAULT_KUBE_SCOPE, enforce, isPending, type KubeScope, pendingNote, scopeOnTarget, SCOPE_SETTINGS, type ScopeCheck } from '../kube/scope.ts';
import { checkExpiry, checkStorageLocation, chooseBackup } from './backup.ts';
import { copyDrillConfig, createModifierConfigMap, deleteModifierConfigMap, ensureNamespace, ISOLATION_EXCLUDED_RESOURCES, modifierConfigMap, readDrillConfig, VOLUME_RESOURCES } from './drill.ts';
import { drillPlan } from './drill-plan.ts';
import { planRestoreBeforeCluster, syncedPinnedBackup } from './restore-pinned.ts';
import { completedAt, getBackup, getRestore, type Restore, SCHEDULE_LABEL, VELERO } from './objects.ts';
import { plural } from '../../util/text.ts';
import { isIsolated, mappingOf, restoreParams, type RestoreParams, restoreTerms } from './restore-params.ts';

/** Terminal phases that are failures; PartiallyFailed only unless `allowPartial`. */
const FAILED = new Set(['PartiallyFailed', 'Failed', 'FailedValidation']);

interface RestoreNamespaces {
  includedNamespaces?: string[] | undefined;
  namespaceMapping?: Record<string, string> | undefined;
  restoreInto?: string | undefined;
  veleroNamespace: string;
  /** A drill's configuration namespace: its Secrets are read and copied. */
  configFrom?: string | undefined;
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
  if (p.configFrom) checks.push(checkNamespace(effective, p.configFrom));
  const result = checks.length ? checkAll(checks) : ({ ok: true, note: `${env}=*` } as const);
  if (!result.ok) return { ...result, excluded };
  const note = excluded.length ? `${env}=*; not restored: ${excluded.join(', ')}` : result.note;
  return { ok: true, note, excluded };
}

/** Restore names are fixed per run and step, so a re-entered step finds its own restore. */
function restoreName(runId: string, stepId: string): string {
  return `dr-${runId}-${stepId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');
}

const modifierName = (restore: string) => `${restore}-modifiers`;


function resolved(given: z.infer<typeof restoreParams>, target: { veleroNamespace: string }): RestoreParams {
  return { ...given, veleroNamespace: given.veleroNamespace ?? target.veleroNamespace };
}

/** The namespaces the restore may touch, as the plan says it (or what it waits to know). */
function scopeNote(limits: KubeScope, ctx: PlanContext, p: RestoreParams): string {
  const scope = scopeOnTarget(limits, ctx.target);
  const values = [...(p.includedNamespaces ?? []), ...Object.entries(p.namespaceMapping ?? {}).flat(), p.restoreInto, p.veleroNamespace, p.configFrom];
  return allowedNote(values.some(isPending) ? pendingNote(scope, ['namespaces']) : enforce(checkRestoreScope(scope, p)));
}


/**
 * `velero.restore`: creates a Velero Restore from a backup (or the newest
 * completed backup of a schedule, resolved and pinned by the plan), optionally
 * only some namespaces and mapped into others, isolated from production for
 * drills (drill.ts), and waits through its phases.
 * Reads: backups, backup storage locations, restores; for drills the source
 * namespace's workloads and PVCs and the drill configuration.
 * Changes: creates a Restore (`dr-<run>-<step>`); for drills also the drill
 * namespace, its copied configuration and the resource-modifier ConfigMap
 * (`<restore>-modifiers` in Velero's namespace, deleted once the restore ends).
 * Idempotency: a re-entered step finds its restore by name and keeps waiting.
 * Scope: see checkRestoreScope; checked before any call, in plan() and in run().
 */
export function veleroRestoreStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'velero.restore',
    // The backup chosen, the drill's preparation and the Restore create are one checkpoint; the wait after it parks.
    resumable: true,
    summary: 'Restore Kubernetes resources from a Velero backup (drills isolated from production) and wait until it completes',
    params: restoreParams,
    outputs: ['restoreName', 'backupName', 'itemsRestored', 'warnings', 'errors', 'partial'],
    async plan(ctx, given) {
      const p = resolved(given, ctx.target);
      const note = scopeNote(limits, ctx, p);
      const api = await ctx.kube();
      const b = await chooseBackup(api, p.veleroNamespace, p.backup, p.schedule);
      checkExpiry(b, Date.now() + ctx.runTimeoutMs, `this run's ${formatDuration(ctx.runTimeoutMs)} timeout`);
      const location = await checkStorageLocation(api, p.veleroNamespace, b);
      ctx.pin('backup', b.metadata.name);
      const mapping = Object.entries(mappingOf(p)).map(([from, to]) => `${from} → ${to}`);
      const drill = isIsolated(p) ? await drillPlan(api, p, b) : undefined;
      const notIsolated = !drill && mapping.length ? '; NOT isolated (isolate: false): Secrets, ConfigMaps, Ingresses, CronJobs, autoscalers and LoadBalancer Services are restored as in production' : '';
      const lines: PlanLine[] = [
        {
          action: 'create',
          resource: `velero restore from ${b.metadata.name}`,
          detail:
            `restore ${p.includedNamespaces?.join(', ') ?? 'all namespaces'} from backup ${b.metadata.name} (completed ${b.status.completionTimestamp ?? '?'}, ${formatDuration(Date.now() - completedAt(b))} old)` +
            `${mapping.length ? ` into ${mapping.join(', ')}` : ''}; pinned: the run restores exactly this backup, even if a newer one completes before it starts; it expires ${b.status.expiration ?? 'never'}; ${location}` +
            (drill ? `; ${drill.restoreDetail}` : notIsolated) +
            `; ${restoreTerms(p)}${note}`,
        },
        ...(drill?.lines ?? []),
      ];
      return lines;
    },
    async planBeforeCluster(ctx, given, notReady) {
      const p = resolved(given, ctx.target);
      return planRestoreBeforeCluster(ctx, p, notReady, scopeNote(limits, ctx, p));
    },
    async run(ctx, given) {
      const p = resolved(given, ctx.target);
      const scope = scopeOnTarget(limits, ctx.target);
      const allowed = checkRestoreScope(scope, p);
      enforce(allowed);
      const api = await ctx.kube();
      const restore = restoreName(ctx.runId, ctx.stepId);
      const isolated = isIsolated(p);
      // Re-entered after the create (a park, a crash), the backup is not chosen again: the stored name stands.
      // A crash inside repeats it, and the restore found by its name (after the run and step) is adopted.
      let backupName = await ctx.once('create-restore', async () => {
        const found = await getRestore(api, p.veleroNamespace, restore);
        if (found) return found.spec.backupName ?? '';
        if (p.backup === 'latest') ctx.progress(`resolving the newest completed backup of ${p.schedule ?? ''} again (no backup was pinned by the plan)`);
        const b = p.backupCompletedAt ? await syncedPinnedBackup(ctx, api, p.veleroNamespace, p.backup, p.backupCompletedAt) : await chooseBackup(api, p.veleroNamespace, p.backup, p.schedule);
        checkExpiry(b, ctx.deadline, "this step's deadline");
        await checkStorageLocation(api, p.veleroNamespace, b);
        if (isolated) await prepareDrill(ctx, api, p, restore);
        ctx.progress(`creating restore ${restore} from ${b.metadata.name}`);
        await createRestore(ctx, api, p, restore, b.metadata.name, allowed.excluded, isolated);
        return b.metadata.name;
      });
      let existing: Restore | undefined;
      /** Velero reads the modifiers when it validates the restore (leaving New); after that, or once the restore is gone, the ConfigMap is litter. */
      const dropModifiers = async () => {
        if (!isolated) return;
        await ctx
          .once('delete-modifiers', () => deleteModifierConfigMap(api, p.veleroNamespace, modifierName(restore)).then(() => true))
          .catch((err: unknown) => {
            if (ctx.signal.aborted) throw err;
            ctx.logger.warn({ err }, 'could not delete the resource modifier ConfigMap');
          });
      };
      await pollUntil(ctx, {
        what: `Velero restore ${restore}`,
        name: 'restore',
        check: async () => {
          existing = await getRestore(api, p.veleroNamespace, restore);
          if (!existing || (existing.status.phase || 'New') !== 'New') await dropModifiers();
          if (!existing) return { done: false, failed: await vanished(api, p.veleroNamespace, restore, backupName) };
          backupName = existing.spec.backupName ?? backupName;
          const phase = existing.status.phase || 'New';
            if (phase === 'Completed' || (phase === 'PartiallyFailed' && p.allowPartial)) return { done: true };
            if (FAILED.has(phase)) return { done: false, failed: failureMessage(restore, phase, existing) };
            if (phase === 'New' && backupName && !(await getBackup(api, p.veleroNamespace, backupName))) {
              return { done: false, failed: backupGone(restore, backupName) };
            }
          const progress = existing.status.progress;
          const percent = progress?.totalItems ? Math.round(((progress.itemsRestored ?? 0) / progress.totalItems) * 100) : undefined;
          return { done: false, state: phase, ...(percent !== undefined ? { percent } : {}) };
        },
      });
      const status = existing?.status;
      const partial = status?.phase === 'PartiallyFailed';
      if (partial) ctx.progress(`Velero restore ${restore} ended PartiallyFailed, accepted (allowPartial): ${plural(status.warnings ?? 0, 'warning')}, ${plural(status.errors ?? 0, 'error')}`);
      return {
        restoreName: restore,
        backupName,
        itemsRestored: status?.progress?.itemsRestored ?? 0,
        warnings: status?.warnings ?? 0,
        errors: status?.errors ?? 0,
        partial,
      };
    },
  });
}

/** Before an isolated restore: the drill namespaces with their drill configuration, and the resource modifiers. */
async function prepareDrill(ctx: StepContext, api: KubeApis, p: RestoreParams, restore: string): Promise<void> {
  const sources = (p.includedNamespaces ?? []).filter((ns) => ns !== '*');
  const targets = [...new Set(sources.map((ns) => mappingOf(p)[ns] ?? ns))];
  const config = p.configFrom ? await readDrillConfig(api, p.configFrom) : undefined;
  for (const target of targets) {
    await ensureNamespace(api, target, ctx.runId);
    if (config) {
      const copied = await copyDrillConfig(api, config, target, ctx.runId);
      ctx.progress(`copied ${copied} Secrets and ConfigMaps from ${p.configFrom ?? ''} into ${target}`);
    }
  }
  await createModifierConfigMap(api, modifierConfigMap(modifierName(restore), p.veleroNamespace, ctx.runId, sources));
}

async function createRestore(ctx: StepContext, api: KubeApis, p: RestoreParams, restore: string, backupName: string, excludedNamespaces: string[], isolated: boolean): Promise<void> {
  const excludedResources = isolated ? [...ISOLATION_EXCLUDED_RESOURCES, ...(p.includeVolumes ? [] : VOLUME_RESOURCES)] : [];
  const body = {
    apiVersion: 'velero.io/v1',
    kind: 'Restore',
    metadata: { name: restore, namespace: p.veleroNamespace, labels: { 'dr-chatops/run': ctx.runId, ...(p.schedule ? { [SCHEDULE_LABEL]: p.schedule } : {}) } },
    spec: {
      // A named backup, never the schedule: what the plan showed (and pinned) is what Velero restores.
      backupName,
      ...(p.includedNamespaces ? { includedNamespaces: p.includedNamespaces } : {}),
      ...(excludedNamespaces.length ? { excludedNamespaces } : {}),
      ...(excludedResources.length ? { excludedResources } : {}),
      ...(Object.keys(mappingOf(p)).length ? { namespaceMapping: mappingOf(p) } : {}),
      ...(isolated ? { resourceModifier: { kind: 'ConfigMap', name: modifierName(restore) } } : {}),
      existingResourcePolicy: p.existingResourcePolicy,
    },
  };
  try {
    // Strict: a field the CRD does not know is refused instead of silently dropped.
    await api.custom.createNamespacedCustomObject({ ...VELERO, namespace: p.veleroNamespace, plural: 'restores', body, fieldValidation: 'Strict', fieldManager: FIELD_MANAGER });
  } catch (err) {
    if (statusCode(err) !== 409) throw classifyKubeError(err, `creating Velero restore ${restore}`);
  }
}

function failureMessage(restore: string, phase: string, r: Restore): string {
  const s = r.status;
  const reasons = [s.failureReason, ...(s.validationErrors ?? [])].filter(Boolean).join('; ');
  const hint = phase === 'PartiallyFailed' ? '; to accept a partial restore, set allowPartial' : '';
  return `Velero restore ${restore} ended ${phase}: ${plural(s.warnings ?? 0, 'warning')}, ${plural(s.errors ?? 0, 'error')}${reasons ? ` (${reasons})` : ''}; see \`velero restore describe ${restore} --details\`${hint}`;
}

/** A restore that is gone after it was created: deleted with its backup (GC), or by someone. */
async function vanished(api: KubeApis, ns: string, restore: string, backupName: string): Promise<string> {
  const gone = backupName ? !(await getBackup(api, ns, backupName)) : false;
  return gone ? backupGone(restore, backupName) : `Velero restore ${restore} was deleted while it ran (by someone else); check \`velero restore get\` and start again`;
}

/** The same words whichever Velero's GC removed first: the restore or its backup. */
function backupGone(restore: string, backupName: string): string {
  return `Velero restore ${restore} cannot finish: its backup ${backupName} was deleted (Velero's garbage collection deletes an expired backup together with the restores made from it); restore from a newer backup, or extend a backup's TTL before restoring it`;
}
