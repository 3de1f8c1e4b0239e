import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { VeleroBackupStorage } from '../../targets/config.ts';
import { classifyAwsError, isAwsError } from '../rds/aws.ts';
import { PermanentStepError } from '../types.ts';
import { type Backup, BackupSchema, SCHEDULE_LABEL } from './objects.ts';

/**
 * Velero's backups as its backup storage location keeps them, read without a
 * cluster (for a plan whose cluster is not there yet). Velero's layout
 * (pkg/persistence/object_store_layout.go): `<prefix>/backups/<name>/`, each
 * with `velero-backup.json`, the Backup object as Velero last wrote it (with
 * apiVersion and kind; phase Completed once finalized). Only that file is
 * read, never a backup's contents (they hold the cluster's Secrets).
 */

/** `<prefix>/backups/` (`backups/` without a prefix), as Velero lists backups. */
export function backupsPrefix(storage: Pick<VeleroBackupStorage, 'prefix'>): string {
  const prefix = storage.prefix?.replace(/\/+$/, '');
  return prefix ? `${prefix}/backups/` : 'backups/';
}

export function metadataKey(storage: Pick<VeleroBackupStorage, 'prefix'>, backup: string): string {
  return `${backupsPrefix(storage)}${backup}/velero-backup.json`;
}

/** `s3://bucket/prefix/backups/`, as people find it in the console or the CLI. */
export function describeStorage(storage: VeleroBackupStorage): string {
  return `s3://${storage.bucket}/${backupsPrefix(storage)}`;
}

/** The stored Backup: Velero's own object, kind and version checked. */
const StoredBackup = z.looseObject({ apiVersion: z.literal('velero.io/v1'), kind: z.literal('Backup') });

/** A schedule's backups are `<schedule>-<YYYYMMDDHHMMSS>` (Schedule.TimestampedName), so newest last by name. */
const scheduledName = (schedule: string) => new RegExp(`^${schedule.replace(/[.]/g, '\\.')}-\\d{14}$`);

/** How many of a schedule's newest backups are read before the plan gives up finding a completed one. */
const MAX_READS = 20;

/** The names of the backups stored under `<prefix>/backups/<namePrefix>`, every page. */
export async function storedBackupNames(s3: S3Client, storage: VeleroBackupStorage, namePrefix = ''): Promise<string[]> {
  const base = backupsPrefix(storage);
  const names: string[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: `${base}${namePrefix}`, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) }));
    } catch (err) {
      throw storageError(err, `listing the backups in ${describeStorage(storage)}`);
    }
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(base.length).replace(/\/$/, ''));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return names;
}

/** One stored backup's `velero-backup.json`, or undefined when the store has no backup of that name. */
export async function readStoredBackup(s3: S3Client, storage: VeleroBackupStorage, name: string): Promise<Backup | undefined> {
  const key = metadataKey(storage, name);
  let text: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: storage.bucket, Key: key }));
    text = (await res.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    if (isAwsError(err, 'NoSuchKey')) return undefined;
    throw storageError(err, `reading s3://${storage.bucket}/${key}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PermanentStepError(`s3://${storage.bucket}/${key} is not JSON: is this Velero's backup storage location?`);
  }
  const parsed = StoredBackup.safeParse(json);
  const backup = parsed.success ? BackupSchema.safeParse(json) : undefined;
  if (!backup?.success) throw new PermanentStepError(`s3://${storage.bucket}/${key} is not a Velero Backup (velero.io/v1): is this Velero's backup storage location?`);
  return backup.data;
}

/**
 * The backup a restore would use, as the store holds it: the named one, or
 * the newest completed backup of `schedule` (its newest names first, each
 * checked for Completed and the schedule's label).
 */
export async function findStoredBackup(s3: S3Client, storage: VeleroBackupStorage, backup: string, schedule: string | undefined): Promise<Backup> {
  const where = describeStorage(storage);
  if (backup !== 'latest') {
    const found = await readStoredBackup(s3, storage, backup);
    if (!found) throw new PermanentStepError(`there is no Velero backup "${backup}" in ${where}`);
    if (found.status.phase !== 'Completed') throw new PermanentStepError(`backup ${backup} in ${where} is ${found.status.phase ?? 'of no phase'}, not Completed; choose a completed one`);
    return found;
  }
  if (!schedule) throw new PermanentStepError('backup "latest" needs the schedule whose newest backup to use');
  const names = (await storedBackupNames(s3, storage, `${schedule}-`)).filter((n) => scheduledName(schedule).test(n)).sort().reverse();
  const seen: string[] = [];
  for (const name of names.slice(0, MAX_READS)) {
    const found = await readStoredBackup(s3, storage, name);
    if (!found || found.metadata.labels?.[SCHEDULE_LABEL] !== schedule) continue;
    if (found.status.phase === 'Completed') return found;
    seen.push(`${name} (${found.status.phase ?? 'no phase'})`);
  }
  const read = names.length > MAX_READS ? `; only its newest ${String(MAX_READS)} were read` : '';
  throw new PermanentStepError(`schedule ${schedule} has no completed backup in ${where} (${seen.join('; ') || `${String(names.length)} backups`}${read}); name one with backup=<name>`);
}

function storageError(err: unknown, doing: string): Error {
  if (isAwsError(err, 'NoSuchBucket')) return new PermanentStepError(`${doing}: the bucket does not exist (check the target's veleroBackupStorage)`, { cause: err });
  return classifyAwsError(err, doing);
}
