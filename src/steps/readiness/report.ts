import { z } from 'zod';

/**
 * What the readiness checklist reports (docs/readiness.md): each item of the
 * DR plan's "Before Disaster" list, per target, with what was measured, the
 * objective and why; and the readings a live RPO is computed from. Steps
 * return it as JSON in their `report` output; the readiness history, the
 * drift notices, the metrics and the views parse it with these schemas.
 */

/** `unknown`: the API could not be asked (or did not answer in time): never counted as a pass. */
export const ITEM_STATUSES = ['pass', 'warn', 'fail', 'unknown'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export const ITEM_AREAS = ['velero', 'aurora', 'images', 'secrets', 'terraform', 'dns', 'dr-region', 'bot', 'drills'] as const;
export type ItemArea = (typeof ITEM_AREAS)[number];

export const ItemResultSchema = z.object({
  /** Stable across checks, unique within a target: `velero.schedule.hourly-backup`, `aurora.retention.prod-aurora`. */
  id: z.string().regex(/^[a-z][\w.:/-]{0,199}$/),
  area: z.enum(ITEM_AREAS),
  /** What is checked, in the plan's words: "Velero schedule hourly-backup as the plan writes it". */
  title: z.string().max(200),
  status: z.enum(ITEM_STATUSES),
  /** What was measured: "newest completed backup 1h 4m old", "kept 7 days"; "not measured" when unknown. */
  value: z.string().max(500),
  /** What the plan asks: "≤ 2h", "≥ 35 days". */
  objective: z.string().max(200),
  /** Why the item has its status, in words an on-call engineer can act on. */
  reason: z.string().max(1_000),
  /** How to put it right (fail, warn, unknown). */
  fix: z.string().max(500).optional(),
});
export type ItemResult = z.infer<typeof ItemResultSchema>;

/**
 * Measurements a live RPO is computed from, in seconds of data a recovery
 * started now would lose; absent: not measured (unknown, never zero).
 */
export const ReadingsSchema = z.object({
  /** now − the Aurora cluster's LatestRestorableTime: what a point-in-time restore loses. */
  pitrLagSeconds: z.number().nonnegative().optional(),
  /** The Aurora global database's replication lag (AuroraGlobalDBRPOLag): what a region failover loses. */
  globalLagSeconds: z.number().nonnegative().optional(),
  /** Age of the newest automated or manual snapshot of the cluster. */
  snapshotAgeSeconds: z.number().nonnegative().optional(),
  /** Age of the newest completed backup of the production namespace's schedule (hourly). */
  namespaceBackupAgeSeconds: z.number().nonnegative().optional(),
  /** Age of the newest completed whole-cluster backup (daily). */
  clusterBackupAgeSeconds: z.number().nonnegative().optional(),
  /** Age of the newest completed backup the DR cluster's Velero sees (what a rebuild there restores). */
  drVisibleBackupAgeSeconds: z.number().nonnegative().optional(),
  /** The database keeps its data across AZs (Aurora storage: six copies in three AZs) and has a reader in another AZ. */
  databaseMultiAz: z.boolean().optional(),
});
export type Readings = z.infer<typeof ReadingsSchema>;

export const TargetReportSchema = z.object({
  target: z.string(),
  /** The part the target plays: production (primary) or the DR region's standby. */
  role: z.enum(['primary', 'dr']),
  checkedAt: z.number(),
  items: ItemResultSchema.array(),
  readings: ReadingsSchema,
});
export type TargetReport = z.infer<typeof TargetReportSchema>;

/** A scenario's live RPO: the data a recovery started now would lose, against the plan's objective. */
export const ExposureSchema = z.object({
  scenario: z.string(),
  title: z.string(),
  /** Absent: not measurable from the readings (unknown). */
  exposureSeconds: z.number().nonnegative().optional(),
  objectiveSeconds: z.number().nonnegative(),
  status: z.enum(ITEM_STATUSES),
  /** Which reading gives it, or why it is unknown. */
  basis: z.string().max(500),
});
export type Exposure = z.infer<typeof ExposureSchema>;

/** The whole check: every target's items and the estate's live RPO per scenario. */
export const ReadinessReportSchema = z.object({
  checkedAt: z.number(),
  targets: TargetReportSchema.array(),
  exposures: ExposureSchema.array(),
});
export type ReadinessReport = z.infer<typeof ReadinessReportSchema>;

/** Parses a `report` output; undefined when it is not one (an older run, another step). */
export function parseReadinessReport(raw: unknown): ReadinessReport | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = ReadinessReportSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
