import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import { type ClusterNotReady, isClusterNotReady, type KubeApis } from '../../targets/kube.ts';
import { eksVerdictOf } from '../eks/states.ts';
import type { TargetAccess } from '../../targets/targets.ts';
import { classifyKubeError, K8S_NAME, K8S_NAMESPACE, statusCode } from '../kube/api.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanLine, type StepOutputs } from '../types.ts';
import { describeBackup } from './backup.ts';
import { type Backup, listBackups, newestCompleted, StorageLocationSchema, VELERO } from './objects.ts';

const params = z
  .object({
    /** Velero's namespace; the target's unless given. */
    veleroNamespace: z.string().regex(K8S_NAMESPACE, 'must be a namespace name').optional(),
    /** Also wait for a completed backup of this schedule to be synced from object storage into the cluster. */
    schedule: z.string().regex(K8S_NAME, 'must be a Velero schedule name').optional(),
    withinSeconds: z.number().int().min(1).max(86_400).default(600),
    intervalSeconds: z.number().int().min(1).max(600).default(10),
  })
  .strict();
type VeleroCheckParams = z.infer<typeof params>;

/** A BackupStorageLocation with the flag that makes it the one Velero uses when a backup names none. */
const LocationSchema = StorageLocationSchema.extend({
  spec: z.object({ accessMode: z.string().optional(), default: z.boolean().optional() }).partial().default({}),
});
type Location = z.infer<typeof LocationSchema>;
const LocationList = z.object({ items: z.array(LocationSchema) });

/** What one look found: what is missing, or the location (and backup) that make Velero usable. */
interface Usable {
  missing?: undefined;
  storageLocation: string;
  newestBackup?: Backup | undefined;
}
type Findings = { missing: string } | Usable;

async function namespaceExists(api: KubeApis, ns: string): Promise<boolean> {
  try {
    await api.core.readNamespace({ name: ns });
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw classifyKubeError(err, `reading namespace ${ns}`);
  }
}

/** Every storage location in `ns` (no `limit`: a Velero install has a handful), or undefined when Velero's CRDs are not installed. */
async function storageLocations(api: KubeApis, ns: string): Promise<Location[] | undefined> {
  try {
    return LocationList.parse(await api.custom.listNamespacedCustomObject({ ...VELERO, namespace: ns, plural: 'backupstoragelocations' })).items;
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `listing Velero backup storage locations in ${ns}`);
  }
}

/** The location Velero uses when a backup names none: the one marked default, else the only one. */
function defaultLocation(locations: readonly Location[], ns: string): Location | string {
  const marked = locations.find((l) => l.spec.default === true);
  if (marked) return marked;
  const [only, ...others] = locations;
  if (!only) return `no backup storage location in ${ns}`;
  if (!others.length) return only;
  return `${locations.length} backup storage locations in ${ns} (${locations.map((l) => l.metadata.name).join(', ')}), none marked default (spec.default: true)`;
}

async function inspect(api: KubeApis, ns: string, schedule: string | undefined): Promise<Findings> {
  if (!(await namespaceExists(api, ns))) return { missing: `Velero namespace ${ns} not found` };
  const locations = await storageLocations(api, ns);
  if (!locations) return { missing: 'Velero is not installed: the API server has no backupstoragelocations.velero.io' };
  const location = defaultLocation(locations, ns);
  if (typeof location === 'string') return { missing: location };
  const { name } = location.metadata;
  const { phase, message } = location.status;
  if (phase !== 'Available') return { missing: `backup storage location ${name} is ${phase ?? 'not validated yet'}${message ? `: ${message}` : ''}` };
  if (!schedule) return { storageLocation: name };
  const newestBackup = newestCompleted(await listBackups(api, ns, schedule));
  if (!newestBackup) return { missing: `no completed backup of ${schedule} synced yet` };
  return { storageLocation: name, newestBackup };
}

/** The cluster's APIs, or why the cluster cannot be reached yet; a cluster that never will be fails. */
async function reach(ctx: TargetAccess): Promise<{ api: KubeApis } | { notReady: ClusterNotReady }> {
  try {
    return { api: await ctx.kube() };
  } catch (err) {
    if (!isClusterNotReady(err)) throw err;
    if (eksVerdictOf('cluster', err.state) === 'failure') throw new PermanentStepError(`${err.message}: Velero there cannot be checked`, { cause: err });
    return { notReady: err };
  }
}

const namespaceOf = (ctx: TargetAccess, p: VeleroCheckParams) => p.veleroNamespace ?? ctx.target.veleroNamespace;
const placeOf = (ctx: TargetAccess) => ctx.target.cluster ?? `target ${ctx.target.name}`;

function wanted(ns: string, p: VeleroCheckParams): string {
  return `Velero namespace ${ns}, its default backup storage location Available${p.schedule ? `, a completed backup of ${p.schedule} synced` : ''}`;
}

function usable(ns: string, f: Usable, schedule: string | undefined): string {
  const backup = f.newestBackup ? `; newest completed backup of ${schedule ?? ''}: ${describeBackup(f.newestBackup)}` : '';
  return `Velero in ${ns} is usable: backup storage location ${f.storageLocation} Available${backup}`;
}

/**
 * `velero.check`: Velero is installed and usable in the target's cluster
 * (typically a cluster just created, before a restore into it): its namespace,
 * its default backup storage location Available, and optionally a completed
 * backup of a schedule synced from object storage. Waits for all of that.
 * Reads: namespace, backupstoragelocations (list), backups (list). Changes nothing.
 * Idempotency: reads only; a re-entered step simply looks again.
 */
export function veleroCheckStep() {
  return defineStep({
    id: 'velero.check',
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
    summary: 'Check that Velero is installed and usable (storage location Available, backups synced); wait for it',
    params,
    outputs: ['storageLocation', 'newestBackup'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const ns = namespaceOf(ctx, p);
      const resource = `velero in ${placeOf(ctx)}`;
      const within = formatDuration(p.withinSeconds * 1_000);
      const reached = await reach(ctx);
      if ('notReady' in reached) {
        const { cluster, state } = reached.notReady;
        const now = state === 'not found' ? 'it does not exist yet' : `it is ${state} now`;
        return [{ action: 'wait', resource, detail: `checks once EKS cluster ${cluster} is up (${now}): ${wanted(ns, p)}, waiting up to ${within}` }];
      }
      const found = await inspect(reached.api, ns, p.schedule);
      const detail = found.missing === undefined ? usable(ns, found, p.schedule) : `${wanted(ns, p)}; now: ${found.missing}; the run waits up to ${within} for it`;
      return [{ action: 'check', resource, detail }];
    },
    async run(ctx, p) {
      const ns = namespaceOf(ctx, p);
      const interval = p.intervalSeconds * 1_000;
      let found: Findings | undefined;
      await pollUntil(
        ctx,
        {
          what: `Velero in ${placeOf(ctx)}`,
          name: 'velero',
          // The step's own limit, from the wait's first look (kept across parks), within the engine's deadline for it.
          withinMs: p.withinSeconds * 1_000,
          firstDelayMs: interval,
          maxDelayMs: interval,
          check: async () => {
            const reached = await reach(ctx);
            if ('notReady' in reached) return { done: false, state: reached.notReady.message };
            found = await inspect(reached.api, ns, p.schedule);
            return found.missing === undefined ? { done: true } : { done: false, state: found.missing };
          },
        },
      );
      // pollUntil returns only after a look found Velero usable.
      if (!found || found.missing !== undefined) throw new Error('the wait for Velero ended without Velero usable');
      ctx.progress(usable(ns, found, p.schedule));
      const outputs: StepOutputs = { storageLocation: found.storageLocation };
      if (found.newestBackup) outputs.newestBackup = found.newestBackup.metadata.name;
      return outputs;
    },
  });
}
