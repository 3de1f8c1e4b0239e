import type { MeasuredLag } from '../steps/types.ts';
import type { ReadinessStore } from './store.ts';

/** The readiness item that measures a DR cluster's replication lag (src/steps/readiness/aurora.ts). */
const lagItemId = (cluster: string) => `aurora.replication-lag.${cluster}`;

/**
 * The global database's replication lag to `cluster` as the readiness checks
 * last measured it: the newest report whose lag item for that cluster was
 * measured (not `unknown`), with the report's reading (the largest lag of its
 * DR clusters: never less than this one's). A newer check that could not
 * measure it (CloudWatch silent once the primary is gone) does not hide the
 * earlier measurement: then the newest region-outage live RPO that was
 * measured (the same reading, kept for 7 days) is told. Undefined when no
 * check within the retention measured it: the caller says "unknown", never zero.
 */
export async function lastReplicationLag(store: ReadinessStore, cluster: string): Promise<MeasuredLag | undefined> {
  const { targets } = await store.latest();
  let newest: MeasuredLag | undefined;
  let checked = false;
  for (const { report } of targets) {
    const item = report.items.find((i) => i.id === lagItemId(cluster));
    if (!item) continue;
    checked = true;
    const seconds = report.readings.globalLagSeconds;
    if (item.status === 'unknown' || seconds === undefined) continue;
    if (!newest || report.checkedAt > newest.measuredAt) newest = { seconds, measuredAt: report.checkedAt, source: `target ${report.target}` };
  }
  if (newest || !checked) return newest;
  const measured = (await store.exposures('region-outage')).filter((r) => r.exposureSeconds !== undefined).at(-1);
  return measured?.exposureSeconds === undefined ? undefined : { seconds: measured.exposureSeconds, measuredAt: measured.at, source: "the region outage's live RPO" };
}
