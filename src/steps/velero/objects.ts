import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { classifyKubeError, statusCode } from '../kube/api.ts';

/** Velero's custom resources, parsed at the boundary (the client returns untyped JSON). */
const Meta = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
});

export const BackupSchema = z.object({
  metadata: Meta,
  spec: z
    .object({
      includedNamespaces: z.array(z.string()).nullable().optional(),
      ttl: z.string().optional(),
      /** Where the backup's data lives; Velero uses the location named `default` when empty. */
      storageLocation: z.string().optional(),
      snapshotVolumes: z.boolean().nullable().optional(),
    })
    .partial()
    .default({}),
  status: z
    .object({
      phase: z.string().optional(),
      completionTimestamp: z.string().nullable().optional(),
      startTimestamp: z.string().nullable().optional(),
      /** When Velero's garbage collection deletes the backup, and every Restore made from it. */
      expiration: z.string().nullable().optional(),
      volumeSnapshotsCompleted: z.number().optional(),
      csiVolumeSnapshotsCompleted: z.number().optional(),
    })
    .default({}),
});
export type Backup = z.infer<typeof BackupSchema>;

export const RestoreSchema = z.object({
  metadata: Meta,
  spec: z.object({ backupName: z.string().optional(), scheduleName: z.string().optional() }).partial().default({}),
  status: z
    .object({
      phase: z.string().optional(),
      warnings: z.number().optional(),
      errors: z.number().optional(),
      failureReason: z.string().optional(),
      validationErrors: z.array(z.string()).nullable().optional(),
      progress: z.object({ totalItems: z.number().optional(), itemsRestored: z.number().optional() }).nullable().optional(),
    })
    .default({}),
});
export type Restore = z.infer<typeof RestoreSchema>;

/** A BackupStorageLocation: Velero validates it periodically and marks it Available or Unavailable. */
export const StorageLocationSchema = z.object({
  metadata: Meta,
  spec: z.object({ accessMode: z.string().optional() }).partial().default({}),
  status: z.object({ phase: z.string().optional(), message: z.string().optional(), lastValidationTime: z.string().nullable().optional() }).partial().default({}),
});
export type StorageLocation = z.infer<typeof StorageLocationSchema>;

export const VELERO = { group: 'velero.io', version: 'v1' } as const;
export const SCHEDULE_LABEL = 'velero.io/schedule-name';
/** The page size kubectl asks for (`--chunk-size` default). */
export const LIST_PAGE_SIZE = 500;

const Page = z.object({ metadata: z.object({ continue: z.string().optional() }).partial().default({}), items: z.array(z.unknown()) });

/** Backups in Velero's namespace (of one schedule, if given), every page of the list, newest completion first. */
export async function listBackups(api: KubeApis, veleroNamespace: string, schedule?: string): Promise<Backup[]> {
  const items: Backup[] = [];
  let token: string | undefined;
  do {
    let raw: unknown;
    try {
      raw = await api.custom.listNamespacedCustomObject({
        ...VELERO,
        namespace: veleroNamespace,
        plural: 'backups',
        limit: LIST_PAGE_SIZE,
        ...(token ? { _continue: token } : {}),
        ...(schedule ? { labelSelector: `${SCHEDULE_LABEL}=${schedule}` } : {}),
      });
    } catch (err) {
      throw classifyKubeError(err, `listing Velero backups in ${veleroNamespace}`);
    }
    const page = Page.parse(raw);
    items.push(...page.items.map((item) => BackupSchema.parse(item)));
    token = page.metadata.continue || undefined;
  } while (token);
  return items.sort((a, b) => completedAt(b) - completedAt(a));
}

/** One backup by name (a GET, not a list), or undefined when Velero has none of that name. */
export async function getBackup(api: KubeApis, veleroNamespace: string, name: string): Promise<Backup | undefined> {
  try {
    return BackupSchema.parse(await api.custom.getNamespacedCustomObject({ ...VELERO, namespace: veleroNamespace, plural: 'backups', name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading Velero backup ${name}`);
  }
}

export async function getRestore(api: KubeApis, veleroNamespace: string, name: string): Promise<Restore | undefined> {
  try {
    return RestoreSchema.parse(await api.custom.getNamespacedCustomObject({ ...VELERO, namespace: veleroNamespace, plural: 'restores', name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading Velero restore ${name}`);
  }
}

export async function getStorageLocation(api: KubeApis, veleroNamespace: string, name: string): Promise<StorageLocation | undefined> {
  try {
    return StorageLocationSchema.parse(await api.custom.getNamespacedCustomObject({ ...VELERO, namespace: veleroNamespace, plural: 'backupstoragelocations', name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading Velero backup storage location ${name}`);
  }
}

/** The storage location a backup is in: Velero's `default` when the backup names none. */
export function storageLocationOf(b: Backup): string {
  return b.spec.storageLocation || 'default';
}

export function completedAt(b: Backup): number {
  const t = b.status.completionTimestamp ?? b.status.startTimestamp ?? b.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

export function newestCompleted(backups: readonly Backup[]): Backup | undefined {
  return backups.find((b) => b.status.phase === 'Completed');
}
