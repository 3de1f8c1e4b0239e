import { z } from 'zod';
import type { KubeApis } from '../clients.ts';
import { classifyKubeError } from '../kube/api.ts';

/** Velero's custom resources, parsed at the boundary (the client returns untyped JSON). */
const Meta = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
});

export const BackupSchema = z.object({
  metadata: Meta,
  spec: z.object({ includedNamespaces: z.array(z.string()).optional(), ttl: z.string().optional() }).partial().default({}),
  status: z
    .object({
      phase: z.string().optional(),
      completionTimestamp: z.string().optional(),
      startTimestamp: z.string().optional(),
      expiration: z.string().optional(),
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
      validationErrors: z.array(z.string()).optional(),
      progress: z.object({ totalItems: z.number().optional(), itemsRestored: z.number().optional() }).optional(),
    })
    .default({}),
});
export type Restore = z.infer<typeof RestoreSchema>;

export const VELERO = { group: 'velero.io', version: 'v1' } as const;
export const SCHEDULE_LABEL = 'velero.io/schedule-name';

/** Backups in Velero's namespace (of one schedule, if given), newest completion first. */
export async function listBackups(api: KubeApis, veleroNamespace: string, schedule?: string): Promise<Backup[]> {
  let raw: unknown;
  try {
    raw = await api.custom.listNamespacedCustomObject({
      ...VELERO,
      namespace: veleroNamespace,
      plural: 'backups',
      ...(schedule ? { labelSelector: `${SCHEDULE_LABEL}=${schedule}` } : {}),
    });
  } catch (err) {
    throw classifyKubeError(err, `listing Velero backups in ${veleroNamespace}`);
  }
  const items = z.object({ items: z.array(BackupSchema) }).parse(raw).items;
  return items.sort((a, b) => completedAt(b) - completedAt(a));
}

export function completedAt(b: Backup): number {
  const t = b.status.completionTimestamp ?? b.status.startTimestamp ?? b.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

export function newestCompleted(backups: readonly Backup[]): Backup | undefined {
  return backups.find((b) => b.status.phase === 'Completed');
}
