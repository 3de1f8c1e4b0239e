import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { formatDuration } from '../../util/duration.ts';
import { classifyKubeError, statusCode } from '../kube/api.ts';
import { type Backup, completedAt, getBackup, getStorageLocation, listBackups, VELERO } from '../velero/objects.ts';
import { fail, type ItemSpec, measured, pass, seconds } from './items.ts';
import type { ItemResult, Readings } from './report.ts';

const HOUR = 3_600_000;

/** A Velero schedule as the DR plan writes it (DR-PLAN.md, "Backup Strategy"). */
export const PlannedScheduleSchema = z.object({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/),
  /** Cron, as in the Schedule's spec.schedule. */
  schedule: z.string().min(1).max(100),
  includedNamespaces: z.array(z.string().min(1)).min(1),
  /** The backups' time to live (Go duration: 168h). */
  ttl: z.string().regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'must be a duration like 168h'),
  /** The newest completed backup must be younger than this. */
  maxAgeHours: z.number().positive(),
});
export type PlannedSchedule = z.infer<typeof PlannedScheduleSchema>;

/** The DR plan's two schedules: hourly for the production namespace (7 days), daily for everything (30 days). */
export const PLAN_SCHEDULES: PlannedSchedule[] = [
  { name: 'hourly-backup', schedule: '0 * * * *', includedNamespaces: ['production'], ttl: '168h', maxAgeHours: 2 },
  { name: 'daily-full-backup', schedule: '0 2 * * *', includedNamespaces: ['*'], ttl: '720h', maxAgeHours: 26 },
];

export const VeleroChecksSchema = z.object({
  /** Velero's namespace; the target's when left out. */
  namespace: z.string().optional(),
  schedules: z.array(PlannedScheduleSchema).default(PLAN_SCHEDULES),
  storageLocation: z.string().min(1).default('default'),
  /** The DR side: backups (names, comma separated: the primary's `backups` output) its Velero must see. */
  expectBackups: z.string().default(''),
});
export type VeleroChecks = z.infer<typeof VeleroChecksSchema>;

const ScheduleObject = z.object({
  spec: z
    .object({
      schedule: z.string().optional(),
      paused: z.boolean().optional(),
      template: z.object({ includedNamespaces: z.array(z.string()).nullable().optional(), ttl: z.string().optional() }).partial().default({}),
    })
    .partial()
    .default({}),
  status: z.object({ phase: z.string().optional(), validationErrors: z.array(z.string()).nullable().optional() }).partial().default({}),
});

const FIX_SCHEDULES = 'Apply the DR plan\'s velero-schedules.yaml (DR-PLAN.md, "Backup Strategy") in Velero\'s namespace.';

async function getSchedule(api: KubeApis, namespace: string, name: string): Promise<z.infer<typeof ScheduleObject> | undefined> {
  try {
    return ScheduleObject.parse(await api.custom.getNamespacedCustomObject({ ...VELERO, namespace, plural: 'schedules', name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, `reading Velero schedule ${name}`);
  }
}

/** Go's duration as Velero writes it back (`168h0m0s`), in ms. */
function goDuration(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(text);
  if (!m) return undefined;
  return (Number(m[1] ?? 0) * 3_600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1_000;
}

const sameNamespaces = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((n, i) => n === [...b].sort()[i]);

/** Production's side: each planned schedule as written, its newest backups, and the storage location. */
export async function primaryVeleroItems(kube: () => Promise<KubeApis>, namespace: string, checks: VeleroChecks, now: number, timeoutMs: number, readings: Readings): Promise<{ items: ItemResult[]; backups: string[] }> {
  const backups: string[] = [];
  const perSchedule = await Promise.all(
    checks.schedules.map(async (planned) => {
      const written: ItemSpec = {
        id: `velero.schedule.${planned.name}`,
        area: 'velero',
        title: `Velero schedule ${planned.name} exists as the plan writes it`,
        objective: `"${planned.schedule}", namespaces ${planned.includedNamespaces.join(', ')}, TTL ${planned.ttl}`,
      };
      const fresh: ItemSpec = {
        id: `velero.backup.${planned.name}`,
        area: 'velero',
        title: `Newest backup of ${planned.name} completed and fresh`,
        objective: `Completed, at most ${planned.maxAgeHours}h old`,
      };
      return measured([written, fresh], timeoutMs, async () => {
        const api = await kube();
        const [schedule, list] = await Promise.all([getSchedule(api, namespace, planned.name), listBackups(api, namespace, planned.name)]);
        const items = [scheduleItem(written, planned, schedule), backupItem(fresh, planned, list, now)];
        const newest = list.find((b) => b.status.phase === 'Completed');
        if (newest) {
          backups.push(newest.metadata.name);
          const age = seconds(now - completedAt(newest));
          if (planned.includedNamespaces.includes('*')) readings.clusterBackupAgeSeconds = Math.min(readings.clusterBackupAgeSeconds ?? age, age);
          else readings.namespaceBackupAgeSeconds = Math.min(readings.namespaceBackupAgeSeconds ?? age, age);
        }
        return items;
      });
    }),
  );
  return { items: [...perSchedule.flat(), ...(await storageItems(kube, namespace, checks, timeoutMs))], backups };
}

function scheduleItem(spec: ItemSpec, planned: PlannedSchedule, schedule: z.infer<typeof ScheduleObject> | undefined): ItemResult {
  if (!schedule) return fail(spec, 'missing', `Velero has no schedule ${planned.name}: nothing is backed up on it.`, FIX_SCHEDULES);
  const found = schedule.spec;
  const namespaces = found.template?.includedNamespaces ?? [];
  const value = `"${found.schedule ?? ''}", namespaces ${namespaces.join(', ') || 'none'}, TTL ${found.template?.ttl ?? 'Velero default (720h)'}${found.paused ? ', paused' : ''}`;
  const problems: string[] = [];
  if (found.paused) problems.push('it is paused');
  if (schedule.status.phase === 'FailedValidation') problems.push(`Velero refused it: ${(schedule.status.validationErrors ?? []).join('; ') || 'FailedValidation'}`);
  if (found.schedule !== planned.schedule) problems.push(`it runs on "${found.schedule ?? ''}", not "${planned.schedule}"`);
  if (!sameNamespaces(namespaces, planned.includedNamespaces)) problems.push(`it backs up ${namespaces.join(', ') || 'no namespace'}, not ${planned.includedNamespaces.join(', ')}`);
  // Velero's default TTL is 720h when the template names none.
  const ttl = goDuration(found.template?.ttl ?? '720h');
  if (ttl !== goDuration(planned.ttl)) problems.push(`its backups live ${found.template?.ttl ?? '720h (default)'}, not ${planned.ttl}`);
  if (problems.length) return fail(spec, value, `Schedule ${planned.name} differs from the plan: ${problems.join('; ')}.`, FIX_SCHEDULES);
  return pass(spec, value, 'As the plan writes it.');
}

function backupItem(spec: ItemSpec, planned: PlannedSchedule, list: readonly Backup[], now: number): ItemResult {
  const newest = list.find((b) => b.status.phase === 'Completed');
  // The newest backup of any phase (started most recently) tells whether the schedule is failing now.
  const latest = [...list].sort((a, b) => started(b) - started(a))[0];
  if (!newest) {
    const last = latest ? `; the newest, ${latest.metadata.name}, is ${latest.status.phase ?? 'without a phase'}` : '';
    return fail(spec, 'no completed backup', `Schedule ${planned.name} has no completed backup${last}.`, `Look at \`velero backup describe ${latest?.metadata.name ?? '<name>'} --details\` and Velero's logs; the schedule must produce Completed backups.`);
  }
  const age = now - completedAt(newest);
  const value = `${newest.metadata.name}, ${formatDuration(age)} old`;
  if (latest && latest !== newest && started(latest) > completedAt(newest) && /Failed/.test(latest.status.phase ?? '')) {
    return fail(spec, `${value}; newest ${latest.metadata.name} ${latest.status.phase ?? ''}`, `The newest backup of ${planned.name} (${latest.metadata.name}) ended ${latest.status.phase ?? ''}: the next restore would use older data.`, `Look at \`velero backup describe ${latest.metadata.name} --details\` and \`velero backup logs ${latest.metadata.name}\`.`);
  }
  if (age > planned.maxAgeHours * HOUR) {
    return fail(spec, value, `The newest completed backup of ${planned.name} is older than ${planned.maxAgeHours}h: the schedule has stopped producing backups.`, 'Check that Velero is running and the schedule is not paused (`velero schedule get`).');
  }
  return pass(spec, value, 'Completed and fresh.');
}

function started(b: Backup): number {
  const t = b.status.startTimestamp ?? b.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

async function storageItems(kube: () => Promise<KubeApis>, namespace: string, checks: VeleroChecks, timeoutMs: number): Promise<ItemResult[]> {
  const spec: ItemSpec = { id: `velero.location.${checks.storageLocation}`, area: 'velero', title: `Backup storage location ${checks.storageLocation} available`, objective: 'Available' };
  return measured([spec], timeoutMs, async () => {
    const location = await getStorageLocation(await kube(), namespace, checks.storageLocation);
    if (!location) return [fail(spec, 'missing', `Velero has no backup storage location ${checks.storageLocation}.`, 'Create it as `velero install` does (DR-PLAN.md, "Backup Strategy").')];
    const phase = location.status.phase ?? 'unknown';
    if (phase !== 'Available') {
      return [fail(spec, phase, `Velero cannot reach the bucket: ${location.status.message ?? 'no message'}. Backups written now fail.`, "Check the bucket, its region and Velero's credentials (`velero backup-location get`).")];
    }
    return [pass(spec, phase, 'Velero validated it.')];
  });
}

/** The DR side: its Velero sees the primary's newest backups (a rebuild in the DR region restores from them). */
export async function drVeleroItems(kube: () => Promise<KubeApis>, namespace: string, checks: VeleroChecks, now: number, timeoutMs: number, readings: Readings): Promise<ItemResult[]> {
  const names = checks.expectBackups.split(',').map((n) => n.trim()).filter(Boolean);
  const spec: ItemSpec = { id: 'velero.dr-sees-backups', area: 'velero', title: "The DR cluster's Velero sees production's newest backups", objective: names.length ? names.join(', ') : "production's newest backups" };
  const location = await storageItems(kube, namespace, checks, timeoutMs);
  const seen = await measured([spec], timeoutMs, async () => {
    const api = await kube();
    if (names.length === 0) return [fail(spec, 'nothing to compare', 'Production has no completed backup to look for (see its Velero items).', "Fix production's backups first.")];
    const found = await Promise.all(names.map((n) => getBackup(api, namespace, n)));
    const missing = names.filter((_, i) => found[i]?.status.phase !== 'Completed');
    const visible = found.filter((b): b is Backup => b?.status.phase === 'Completed');
    const newest = Math.max(0, ...visible.map(completedAt));
    if (newest > 0) readings.drVisibleBackupAgeSeconds = seconds(now - newest);
    if (missing.length) {
      return [fail(spec, `${visible.length} of ${names.length} seen`, `Not seen (or not Completed) by the DR cluster's Velero: ${missing.join(', ')}.`, 'Point its backup storage location at the same bucket (read-only) and let it sync (`velero backup-location get`; the sync period is 1 minute by default).')];
    }
    return [pass(spec, `${names.length} of ${names.length} seen`, 'The DR cluster can restore them.')];
  });
  return [...location, ...seen];
}
