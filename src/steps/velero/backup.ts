import { formatDuration } from '../../util/duration.ts';
import type { KubeApis } from '../../targets/kube.ts';
import { PermanentStepError } from '../types.ts';
import { type Backup, completedAt, getBackup, getStorageLocation, listBackups, newestCompleted, storageLocationOf } from './objects.ts';

export function describeBackup(b: Backup, now = Date.now()): string {
  return `${b.metadata.name} (${b.status.phase ?? '?'}, ${formatDuration(now - completedAt(b))} old)`;
}

/**
 * The backup to restore: the named one (one GET), or the newest completed one
 * of the schedule (every page of the list). Only a completed backup will do.
 */
export async function chooseBackup(api: KubeApis, ns: string, backup: string, schedule: string | undefined): Promise<Backup> {
  if (backup !== 'latest') {
    const found = await getBackup(api, ns, backup);
    if (!found) {
      const newest = (await listBackups(api, ns)).slice(0, 5).map((b) => describeBackup(b));
      throw new PermanentStepError(`there is no Velero backup "${backup}"; the newest are: ${newest.join('; ') || 'none'}`);
    }
    if (found.status.phase !== 'Completed') throw new PermanentStepError(`backup ${describeBackup(found)} did not complete; choose a completed one`);
    return found;
  }
  const backups = await listBackups(api, ns, schedule);
  const newest = newestCompleted(backups);
  if (!newest) throw new PermanentStepError(`schedule ${schedule ?? ''} has no completed backup (backups: ${backups.slice(0, 5).map((b) => describeBackup(b)).join('; ') || 'none'})`);
  return newest;
}

/**
 * Velero's garbage collection deletes a backup once `status.expiration` has
 * passed, and with it every Restore made from it: a restore still running then
 * vanishes. So the backup must outlive `until` (the end of the run).
 */
export function checkExpiry(b: Backup, until: number, why: string, now = Date.now()): void {
  const expiration = b.status.expiration ? Date.parse(b.status.expiration) : Number.NaN;
  if (Number.isNaN(expiration) || expiration > until) return;
  const when = expiration <= now ? `expired at ${b.status.expiration ?? ''}` : `expires at ${b.status.expiration ?? ''} (in ${formatDuration(expiration - now)})`;
  throw new PermanentStepError(
    `backup ${b.metadata.name} ${when}, within ${why}: Velero's garbage collection deletes it and the restore made from it; ` +
      `choose another backup, or extend its TTL first (\`kubectl -n <velero namespace> patch backup ${b.metadata.name} --type merge -p '{"status":{"expiration":"<later time>"}}'\`)`,
  );
}

/** Velero refuses to restore from a location it cannot reach (FailedValidation); say so before anything is created. */
export async function checkStorageLocation(api: KubeApis, ns: string, b: Backup): Promise<string> {
  const name = storageLocationOf(b);
  const location = await getStorageLocation(api, ns, name);
  if (!location) throw new PermanentStepError(`backup ${b.metadata.name} is in backup storage location ${name}, which does not exist in ${ns}; Velero cannot read the backup`);
  const phase = location.status.phase ?? 'unknown';
  if (phase !== 'Available') {
    throw new PermanentStepError(
      `backup storage location ${name} (of backup ${b.metadata.name}) is ${phase}${location.status.message ? `: ${location.status.message}` : ''}; Velero cannot read the backup until it is Available (\`velero backup-location get ${name}\`)`,
    );
  }
  return `storage location ${name} Available`;
}

/** Volume snapshots the backup holds (native and CSI): without any, restored PVCs have no data of their own. */
export function volumeSnapshots(b: Backup): number {
  return (b.status.volumeSnapshotsCompleted ?? 0) + (b.status.csiVolumeSnapshotsCompleted ?? 0);
}
