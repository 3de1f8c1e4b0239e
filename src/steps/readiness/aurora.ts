import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { type DBCluster, DescribeGlobalClustersCommand, type GlobalCluster } from '@aws-sdk/client-rds';
import { z } from 'zod';
import type { TargetAccess } from '../../targets/targets.ts';
import { formatDuration } from '../../util/duration.ts';
import { plural } from '../../util/text.ts';
import { describeCluster } from '../rds/aws.ts';
import { listSnapshots } from '../rds/restore-snapshot.ts';
import { fail, type ItemSpec, measured, pass, seconds, unknown, warn } from './items.ts';
import type { ItemResult, Readings } from './report.ts';

const MINUTE = 60_000;

export const AuroraChecksSchema = z.object({
  /** Aurora clusters to check; an empty entry (a parameter left out) checks nothing. */
  clusters: z
    .array(z.union([z.literal(''), z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/)]))
    .default([])
    .transform((ids) => ids.filter(Boolean)),
  /** DR-PLAN.md, "RDS Aurora Backup": backup_retention_period = 35. */
  minRetentionDays: z.number().int().min(1).max(35).default(35),
  /** DR-PLAN.md, "Target Objectives": RDS Aurora RPO 5 minutes. */
  maxRestoreLagMinutes: z.number().positive().default(5),
  maxSnapshotAgeHours: z.number().positive().default(26),
  /** DR-PLAN.md, "Disaster Scenarios": a region-wide outage loses at most 15 minutes. */
  maxReplicationLagMinutes: z.number().positive().default(15),
});
export type AuroraChecks = z.infer<typeof AuroraChecksSchema>;

/** Production's database: backups kept, the restorable window, a recent snapshot, deletion protection, its global database. */
export async function primaryAuroraItems(aws: TargetAccess['aws'], checks: AuroraChecks, now: number, timeoutMs: number, readings: Readings): Promise<ItemResult[]> {
  const perCluster = await Promise.all(checks.clusters.map((id) => clusterItems(aws, id, checks, now, timeoutMs, readings)));
  return perCluster.flat();
}

function specsOf(id: string, checks: AuroraChecks) {
  return {
    retention: { id: `aurora.retention.${id}`, area: 'aurora', title: `${id}: automated backups kept long enough`, objective: `≥ ${checks.minRetentionDays} days` },
    window: { id: `aurora.restorable.${id}`, area: 'aurora', title: `${id}: point-in-time restore reaches close to now`, objective: `LatestRestorableTime at most ${checks.maxRestoreLagMinutes} min ago` },
    protection: { id: `aurora.deletion-protection.${id}`, area: 'aurora', title: `${id}: deletion protection on`, objective: 'on' },
    snapshot: { id: `aurora.snapshot.${id}`, area: 'aurora', title: `${id}: a recent snapshot`, objective: `at most ${checks.maxSnapshotAgeHours}h old` },
    global: { id: `aurora.global.${id}`, area: 'aurora', title: `${id}: global database secondaries healthy`, objective: 'every secondary connected' },
  } satisfies Record<string, ItemSpec>;
}

async function clusterItems(aws: TargetAccess['aws'], id: string, checks: AuroraChecks, now: number, timeoutMs: number, readings: Readings): Promise<ItemResult[]> {
  const s = specsOf(id, checks);
  const described = await measured([s.retention, s.window, s.protection, s.global], timeoutMs, async () => {
    const cluster = await describeCluster(aws.rds(), id);
    if (!cluster) {
      return [s.retention, s.window, s.protection, s.global].map((spec) => fail(spec, 'no such cluster', `RDS has no cluster ${id} in this target's region.`, 'Name the production cluster in the readiness-check parameters (cluster=…).'));
    }
    readings.databaseMultiAz = (readings.databaseMultiAz ?? true) && cluster.MultiAZ === true;
    return [retentionItem(s.retention, cluster, checks), windowItem(s.window, cluster, checks, now, readings), protectionItem(s.protection, cluster), await globalItem(s.global, aws, cluster)];
  });
  const snapshot = await measured([s.snapshot], timeoutMs, async () => {
    const newest = (await listSnapshots(aws.rds(), id))[0];
    const created = newest?.SnapshotCreateTime?.getTime();
    if (created === undefined) return [fail(s.snapshot, 'none', `${id} has no available snapshot.`, 'Check that automated backups are on (retention ≥ 1 day), or take one: aws rds create-db-cluster-snapshot.')];
    const age = now - created;
    readings.snapshotAgeSeconds = Math.min(readings.snapshotAgeSeconds ?? seconds(age), seconds(age));
    const value = `${newest?.DBClusterSnapshotIdentifier ?? ''}, ${formatDuration(age)} old`;
    if (age > checks.maxSnapshotAgeHours * 3_600_000) return [fail(s.snapshot, value, `The newest snapshot of ${id} is older than ${checks.maxSnapshotAgeHours}h.`, 'Check the backup window and that automated backups are on.')];
    return [pass(s.snapshot, value, 'Recent enough.')];
  });
  return [...described, ...snapshot];
}

function retentionItem(spec: ItemSpec, cluster: DBCluster, checks: AuroraChecks): ItemResult {
  const days = cluster.BackupRetentionPeriod ?? 0;
  const value = `kept ${plural(days, 'day')}`;
  if (days < checks.minRetentionDays) {
    return fail(spec, value, `Point-in-time restores reach back ${plural(days, 'day')} only; the plan keeps ${checks.minRetentionDays}.`, `aws rds modify-db-cluster --db-cluster-identifier ${cluster.DBClusterIdentifier ?? ''} --backup-retention-period ${checks.minRetentionDays} --apply-immediately`);
  }
  return pass(spec, value, 'As the plan asks.');
}

function windowItem(spec: ItemSpec, cluster: DBCluster, checks: AuroraChecks, now: number, readings: Readings): ItemResult {
  const latest = cluster.LatestRestorableTime?.getTime();
  if (latest === undefined) return fail(spec, 'no restorable time', 'RDS reports no LatestRestorableTime: point-in-time restore is not possible.', 'Turn automated backups on (backup retention ≥ 1 day).');
  const lag = Math.max(0, now - latest);
  readings.pitrLagSeconds = Math.max(readings.pitrLagSeconds ?? 0, seconds(lag));
  const value = `${formatDuration(lag)} behind now`;
  if (lag > checks.maxRestoreLagMinutes * MINUTE) {
    return fail(spec, value, `A point-in-time restore now would lose ${formatDuration(lag)} of data; the plan allows ${checks.maxRestoreLagMinutes} min.`, 'Look at the cluster\'s events (aws rds describe-events) for backup or log-shipping trouble.');
  }
  return pass(spec, value, 'Within the plan\'s RPO.');
}

function protectionItem(spec: ItemSpec, cluster: DBCluster): ItemResult {
  if (cluster.DeletionProtection === true) return pass(spec, 'on', 'The cluster cannot be deleted by mistake.');
  return fail(spec, 'off', 'The production cluster can be deleted by one API call.', `aws rds modify-db-cluster --db-cluster-identifier ${cluster.DBClusterIdentifier ?? ''} --deletion-protection --apply-immediately`);
}

async function globalItem(spec: ItemSpec, aws: TargetAccess['aws'], cluster: DBCluster): Promise<ItemResult> {
  const global = await globalOf(aws, cluster);
  if (!global) return pass(spec, 'not in a global database', 'Nothing to check (region failover then restores from backups).');
  const secondaries = (global.GlobalClusterMembers ?? []).filter((m) => m.IsWriter !== true);
  const unhealthy = secondaries.filter((m) => m.SynchronizationStatus !== undefined && m.SynchronizationStatus !== 'connected');
  const value = `${global.GlobalClusterIdentifier ?? ''} ${global.Status ?? ''}, ${plural(secondaries.length, 'secondary', 'secondaries')}`;
  if (secondaries.length === 0) return fail(spec, value, `Global database ${global.GlobalClusterIdentifier ?? ''} has no secondary: nothing to fail over to.`, 'Add the DR region\'s cluster to the global database.');
  if (global.Status !== 'available' || unhealthy.length) {
    const names = unhealthy.map((m) => `${m.DBClusterArn ?? ''} ${m.SynchronizationStatus ?? ''}`).join(', ');
    return fail(spec, value, `Global database ${global.GlobalClusterIdentifier ?? ''} is ${global.Status ?? 'unknown'}${names ? `; not connected: ${names}` : ''}.`, 'Look at the global database in the RDS console; a secondary in pending-resync catches up by itself, one that stays there needs AWS support.');
  }
  return pass(spec, value, 'Every secondary is connected.');
}

async function globalOf(aws: TargetAccess['aws'], cluster: DBCluster): Promise<GlobalCluster | undefined> {
  let marker: string | undefined;
  do {
    const res = await aws.rds().send(new DescribeGlobalClustersCommand(marker ? { Marker: marker } : {}));
    const found = (res.GlobalClusters ?? []).find((g) => (g.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === cluster.DBClusterArn));
    if (found) return found;
    marker = res.Marker;
  } while (marker);
  return undefined;
}

/**
 * The DR side: its cluster available, and how far it is behind
 * (AuroraGlobalDBRPOLag, else AuroraGlobalDBReplicationLag: API-FACTS 8.1),
 * read from the DR region's CloudWatch, newest datapoint of the last 10 minutes.
 */
export async function drAuroraItems(aws: TargetAccess['aws'], checks: AuroraChecks, now: number, timeoutMs: number, readings: Readings): Promise<ItemResult[]> {
  const all = await Promise.all(
    checks.clusters.map(async (id) => {
      const available: ItemSpec = { id: `aurora.dr-available.${id}`, area: 'aurora', title: `${id}: the DR database is available`, objective: 'available' };
      const lag: ItemSpec = { id: `aurora.replication-lag.${id}`, area: 'aurora', title: `${id}: replication lag within the region-outage RPO`, objective: `≤ ${checks.maxReplicationLagMinutes} min` };
      const state = await measured([available], timeoutMs, async () => {
        const cluster = await describeCluster(aws.rds(), id);
        if (!cluster) return [fail(available, 'no such cluster', `RDS has no cluster ${id} in the DR region.`, 'Name the DR cluster in the readiness-check parameters (drCluster=…).')];
        if (cluster.Status !== 'available') return [fail(available, cluster.Status ?? 'unknown', `The DR database is ${cluster.Status ?? 'in an unknown state'}.`, 'Look at the cluster\'s events in the DR region.')];
        return [pass(available, 'available', 'Ready to take over.')];
      });
      const measuredLag = await measured([lag], timeoutMs, async (signal) => {
        const ms = await replicationLagMs(aws, id, now, signal);
        if (ms === undefined) return [unknown(lag, 'CloudWatch has no AuroraGlobalDBRPOLag or AuroraGlobalDBReplicationLag datapoint for it in the last 10 minutes (is it a global database secondary?).', 'Check that the cluster is a secondary of the global database and that the bot may call cloudwatch:GetMetricData.')];
        readings.globalLagSeconds = Math.max(readings.globalLagSeconds ?? 0, seconds(ms));
        const value = formatDuration(ms);
        if (ms > checks.maxReplicationLagMinutes * MINUTE) return [fail(lag, value, `A region failover now would lose ${value} of data; the plan allows ${checks.maxReplicationLagMinutes} min.`, 'Look at the write load and the secondary\'s instance size; a lag that keeps growing needs the secondary scaled up.')];
        if (ms > (checks.maxReplicationLagMinutes * MINUTE) / 2) return [warn(lag, value, 'More than half the region-outage RPO.', 'Watch the lag; scale the secondary up if it keeps growing.')];
        return [pass(lag, value, 'Within the plan\'s RPO.')];
      });
      return [...state, ...measuredLag];
    }),
  );
  return all.flat();
}

async function replicationLagMs(aws: TargetAccess['aws'], cluster: string, now: number, signal: AbortSignal): Promise<number | undefined> {
  const query = (id: string, metric: string) => ({
    Id: id,
    MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: metric, Dimensions: [{ Name: 'DBClusterIdentifier', Value: cluster }] }, Period: 60, Stat: 'Maximum' },
  });
  const res = await aws.cloudwatch().send(
    new GetMetricDataCommand({
      StartTime: new Date(now - 10 * MINUTE),
      EndTime: new Date(now),
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [query('rpolag', 'AuroraGlobalDBRPOLag'), query('replicationlag', 'AuroraGlobalDBReplicationLag')],
    }),
    { abortSignal: signal },
  );
  const newest = (id: string) => res.MetricDataResults?.find((r) => r.Id === id)?.Values?.[0];
  // Empty values mean no data, not zero (API-FACTS 8.8).
  return newest('rpolag') ?? newest('replicationlag');
}
