import { formatDuration } from '../../util/duration.ts';
import type { ClusterNotReady, KubeApis } from '../../targets/kube.ts';
import { pollUntil } from '../poll.ts';
import { PermanentStepError, type PlanContext, type PlanLine, type StepContext } from '../types.ts';
import { checkExpiry } from './backup.ts';
import { describeStorage, findStoredBackup } from './object-store.ts';
import { type Backup, completedAt, getBackup, SCHEDULE_LABEL } from './objects.ts';
import { isIsolated, mappingOf, type RestoreParams, restoreTerms } from './restore-params.ts';

/**
 * A restore into a cluster that is not there yet (a replacement cluster being
 * created): the plan finds the backup where it survives, the target's Velero
 * backup storage (the bucket the new cluster's Velero will sync from), and
 * pins it with its completion time; the run waits until the new cluster's
 * Velero has synced exactly that backup. Without a backup storage to read,
 * the plan takes only a backup named in the request: approvers never sign
 * off on a backup nobody could name.
 */
export async function planRestoreBeforeCluster(ctx: PlanContext, p: RestoreParams, notReady: ClusterNotReady, allowed: string): Promise<PlanLine[]> {
  const now = notReady.state === 'not found' ? 'does not exist yet' : `is ${notReady.state}`;
  const cluster = `EKS cluster ${notReady.cluster}`;
  const what = `restore ${p.includedNamespaces?.join(', ') ?? 'all namespaces'}`;
  const mapping = Object.entries(mappingOf(p)).map(([from, to]) => `${from} → ${to}`);
  const into = mapping.length ? ` into ${mapping.join(', ')}` : '';
  const drill = isIsolated(p) ? '; isolated drill: what it restores, leaves out and copies is read from the cluster once it is there' : '';
  const storage = ctx.target.veleroBackupStorage;
  if (!storage) {
    if (p.backup === 'latest') throw new PermanentStepError(noBackupSource(ctx.target.name, cluster, now, p.schedule));
    return [
      {
        action: 'create',
        resource: `velero restore from ${p.backup}`,
        detail:
          `${what} from backup ${p.backup}${into}, as named in the request; not verified now: ${cluster} ${now} and target ${ctx.target.name} has no veleroBackupStorage to read it from; ` +
          `the run restores it only if the new cluster's Velero has synced it by then, completed and outliving the run${drill}; ${restoreTerms(p)}${allowed}`,
      },
    ];
  }
  const b = await findStoredBackup(ctx.aws.s3(), storage, p.backup, p.schedule);
  checkExpiry(b, Date.now() + ctx.runTimeoutMs, `this run's ${formatDuration(ctx.runTimeoutMs)} timeout`);
  ctx.pin('backup', b.metadata.name);
  if (b.status.completionTimestamp) ctx.pin('backupCompletedAt', b.status.completionTimestamp);
  const schedule = b.metadata.labels?.[SCHEDULE_LABEL];
  return [
    {
      action: 'create',
      resource: `velero restore from ${b.metadata.name}`,
      detail:
        `${what} from backup ${b.metadata.name} (${schedule ? `schedule ${schedule}, ` : ''}Completed ${b.status.completionTimestamp ?? '?'}, ${formatDuration(Date.now() - completedAt(b))} old, expires ${b.status.expiration ?? 'never'}), ` +
        `found in ${describeStorage(storage)} while ${cluster} ${now}${into}; pinned: once the cluster is ACTIVE and its Velero has synced this backup, ` +
        `the run restores exactly it (not a newer one, not another backup of that name)${drill}; ${restoreTerms(p)}${allowed}`,
    },
  ];
}

function noBackupSource(target: string, cluster: string, now: string, schedule: string | undefined): string {
  return (
    `${cluster} ${now}, so its Velero cannot say which backup is the newest of ${schedule ?? 'the schedule'}, and target ${target} has no veleroBackupStorage to read it from. ` +
    `Nothing was planned. Name the backup: backup=${schedule ?? 'schedule'}-YYYYMMDDHHMMSS (\`velero backup get\` where the bucket is synced, or \`npm run dr -- backups --target\` with a surviving target), ` +
    `or configure veleroBackupStorage {bucket, prefix, region} on target ${target} (docs/targets.md) so the plan finds and pins it.`
  );
}

/**
 * The backup the plan pinned from the object store, once the cluster's Velero
 * has synced it; one of that name that completed at another time is another
 * backup, and is refused.
 */
export async function syncedPinnedBackup(ctx: StepContext, api: KubeApis, ns: string, name: string, completed: string): Promise<Backup> {
  let found: Backup | undefined;
  await pollUntil(ctx, {
    what: `Velero to sync backup ${name}`,
    name: 'backup-sync',
    firstDelayMs: 2_000,
    maxDelayMs: 15_000,
    check: async () => {
      found = await getBackup(api, ns, name);
      return found ? { done: true } : { done: false, state: `not in Velero's namespace ${ns} yet (Velero syncs its storage location every minute)` };
    },
  });
  if (!found) throw new Error(`the wait for backup ${name} ended without it`);
  const actual = found.status.completionTimestamp;
  if (!actual || Date.parse(actual) !== Date.parse(completed)) {
    throw new PermanentStepError(
      `backup ${name} in the cluster completed at ${actual ?? 'no time'}, but the approved plan pinned the backup of that name that completed at ${completed}: it is not the approved backup, and nothing was restored; plan the restore again`,
    );
  }
  if (found.status.phase !== 'Completed') throw new PermanentStepError(`backup ${name} in the cluster is ${found.status.phase ?? 'of no phase'}, not Completed; nothing was restored`);
  return found;
}
