import type { ScenarioId, ScenarioTargets } from '../../incidents/scenarios.ts';
import type { Exposure, ItemStatus, Readings, TargetReport } from './report.ts';

/**
 * The live RPO: for each scenario of the plan, how much data a recovery
 * started now would lose, from the checklist's readings (docs/readiness.md,
 * "Live RPO"). A reading that was not measured makes the exposure unknown,
 * never zero.
 */
export function exposures(reports: readonly TargetReport[], objectives: ScenarioTargets): Exposure[] {
  const primary = merged(reports.filter((r) => r.role === 'primary'));
  const dr = merged(reports.filter((r) => r.role === 'dr'));
  const rows: { scenario: ScenarioId; seconds: number | undefined; basis: string }[] = [
    singleAz(primary),
    regionOutage(dr),
    { scenario: 'data-corruption', seconds: primary.pitrLagSeconds, basis: basisOf(primary.pitrLagSeconds, 'a point-in-time restore to the latest restorable time (now − LatestRestorableTime)', "the database's restorable time") },
    accidentalDeletion(primary),
    infrastructureLoss(primary, dr),
  ];
  return rows.map(({ scenario, seconds, basis }) => {
    const objectiveSeconds = Math.round(objectives[scenario].rpoMs / 1_000);
    const status: ItemStatus = seconds === undefined ? 'unknown' : seconds <= objectiveSeconds ? 'pass' : 'fail';
    return { scenario, title: objectives[scenario].title, ...(seconds !== undefined ? { exposureSeconds: seconds } : {}), objectiveSeconds, status, basis };
  });
}

const NUMERIC_READINGS = ['pitrLagSeconds', 'globalLagSeconds', 'snapshotAgeSeconds', 'namespaceBackupAgeSeconds', 'clusterBackupAgeSeconds', 'drVisibleBackupAgeSeconds'] as const;

/** One role's readings across its targets: the worst (largest loss) of each. */
function merged(reports: readonly TargetReport[]): Readings {
  const out: Readings = {};
  for (const key of NUMERIC_READINGS) {
    const values = reports.map((r) => r.readings[key]).filter((v): v is number => v !== undefined);
    if (values.length) out[key] = Math.max(...values);
  }
  const multiAz = reports.map((r) => r.readings.databaseMultiAz).filter((v): v is boolean => v !== undefined);
  if (multiAz.length) out.databaseMultiAz = multiAz.every(Boolean);
  return out;
}

function basisOf(value: number | undefined, how: string, what: string): string {
  return value === undefined ? `unknown: ${what} was not measured` : how;
}

/** Aurora keeps six copies in three AZs: an AZ lost loses no committed data when a reader in another AZ takes over. */
function singleAz(primary: Readings) {
  const seconds = primary.databaseMultiAz === undefined ? undefined : primary.databaseMultiAz ? 0 : undefined;
  const basis =
    primary.databaseMultiAz === undefined
      ? 'unknown: the database was not read'
      : primary.databaseMultiAz
        ? 'Aurora storage spans three AZs and a reader in another AZ takes over: no committed data is lost'
        : 'unknown: the database has no reader in another AZ (MultiAZ false), so an AZ loss means a restore';
  return { scenario: 'single-az-failure' as const, seconds, basis };
}

function regionOutage(dr: Readings) {
  return { scenario: 'region-outage' as const, seconds: dr.globalLagSeconds, basis: basisOf(dr.globalLagSeconds, "the global database's replication lag to the DR region (AuroraGlobalDBRPOLag)", "the DR database's replication lag") };
}

/** Deleted Kubernetes objects come back from the newest namespace backup; deleted rows from a point-in-time restore. */
function accidentalDeletion(primary: Readings) {
  const parts = [primary.namespaceBackupAgeSeconds, primary.pitrLagSeconds];
  const known = parts.every((p) => p !== undefined);
  return {
    scenario: 'accidental-deletion' as const,
    seconds: known ? Math.max(...(parts)) : undefined,
    basis: known ? 'the older of the newest production-namespace Velero backup and the database\'s restorable time' : 'unknown: the newest namespace backup or the database\'s restorable time was not measured',
  };
}

/** A rebuild elsewhere restores the newest backup the DR cluster sees, and the DR database (replica, else the newest snapshot). */
function infrastructureLoss(primary: Readings, dr: Readings) {
  const database = dr.globalLagSeconds ?? primary.snapshotAgeSeconds;
  const parts = [dr.drVisibleBackupAgeSeconds, database];
  const known = parts.every((p) => p !== undefined);
  return {
    scenario: 'complete-infrastructure-loss' as const,
    seconds: known ? Math.max(...(parts)) : undefined,
    basis: known
      ? `the older of the newest backup the DR cluster's Velero sees and the database (${dr.globalLagSeconds !== undefined ? 'replication lag' : 'newest snapshot'})`
      : "unknown: the backups the DR cluster sees or the database's copy was not measured",
  };
}
