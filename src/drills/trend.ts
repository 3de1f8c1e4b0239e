import { SCENARIO_IDS, type ScenarioId } from '../incidents/scenarios.ts';
import { formatDuration } from '../util/duration.ts';
import type { DrillResult } from './model.ts';

/**
 * The trend of a scenario's drills (pure; docs/drills.md, "Trend"): the
 * achieved RTOs of its last five drills that recovered, oldest first, and
 * whether the newest is better or worse than the median of the (up to four)
 * before it. Within 5 % of that median it is steady. Drills that did not
 * recover (a main step failed or was cancelled) have no RTO: they count in
 * "passed of the last five", not in the RTOs.
 */

/** How many drills a trend shows. */
export const TREND_SHOWN = 5;
/** The newest RTO within this share of the earlier median is "steady". */
export const STEADY_BAND = 0.05;

export type TrendDirection = 'better' | 'worse' | 'steady';

export interface ScenarioTrend {
  scenario: ScenarioId;
  title: string;
  /** The newest drill of the scenario. */
  last: DrillResult;
  /** Drills recorded for the scenario (within the record's retention). */
  drills: number;
  /** Passing drills among the last TREND_SHOWN. */
  passedOfLast: number;
  /** How many that is of (TREND_SHOWN, or fewer when fewer were recorded). */
  lastCount: number;
  /** Achieved RTOs of the last TREND_SHOWN drills that recovered, oldest first. */
  recentRtoMs: number[];
  /** The newest of those against the median of the ones before it; absent with fewer than two. */
  direction?: TrendDirection;
  /** That median. */
  baselineMs?: number;
  rtoObjectiveMs: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The trend of one scenario's drills (given in any order); undefined without any. */
export function trendOf(drills: readonly DrillResult[]): ScenarioTrend | undefined {
  const newestFirst = [...drills].sort((a, b) => b.startedAt - a.startedAt);
  const last = newestFirst[0];
  if (!last) return undefined;
  const latest = newestFirst.slice(0, TREND_SHOWN);
  const recentRtoMs = newestFirst
    .flatMap((d) => (d.achievedRtoMs === undefined ? [] : [d.achievedRtoMs]))
    .slice(0, TREND_SHOWN)
    .reverse();
  const newest = recentRtoMs.at(-1);
  const earlier = recentRtoMs.slice(0, -1);
  const trend: ScenarioTrend = {
    scenario: last.scenario,
    title: last.scenarioTitle,
    last,
    drills: newestFirst.length,
    passedOfLast: latest.filter((d) => d.passed).length,
    lastCount: latest.length,
    recentRtoMs,
    rtoObjectiveMs: last.rtoObjectiveMs,
  };
  if (newest === undefined || earlier.length === 0) return trend;
  const baselineMs = median(earlier);
  const direction: TrendDirection = newest < baselineMs * (1 - STEADY_BAND) ? 'better' : newest > baselineMs * (1 + STEADY_BAND) ? 'worse' : 'steady';
  return { ...trend, direction, baselineMs };
}

/** Each scenario's trend, in the DR plan's order of scenarios, for those with drills. */
export function trendsOf(drills: readonly DrillResult[]): ScenarioTrend[] {
  return SCENARIO_IDS.flatMap((scenario) => {
    const trend = trendOf(drills.filter((d) => d.scenario === scenario));
    return trend ? [trend] : [];
  });
}

const ARROWS: Readonly<Record<TrendDirection, string>> = {
  better: '↓ better than',
  worse: '↑ worse than',
  steady: `→ steady, within ${String(STEADY_BAND * 100)}% of`,
};

/** `RTO 40m → 42m → 35m, ↓ better than the median of the 2 before (41m)`, in plain text. */
export function trendText(trend: ScenarioTrend): string {
  if (trend.recentRtoMs.length === 0) return 'no drill recovered yet: no RTO to compare';
  const series = `RTO ${trend.recentRtoMs.map((ms) => formatDuration(ms)).join(' → ')}`;
  if (!trend.direction || trend.baselineMs === undefined) return `${series} (the first that recovered: nothing to compare yet)`;
  const before = trend.recentRtoMs.length - 1;
  return `${series}, ${ARROWS[trend.direction]} the median of the ${before === 1 ? 'one' : String(before)} before (${formatDuration(trend.baselineMs)})`;
}

/** `RTO 42m of 24h` or `RTO not achieved (objective 24h)`. */
export function rtoText(d: Pick<DrillResult, 'achievedRtoMs' | 'rtoObjectiveMs'>): string {
  return d.achievedRtoMs === undefined ? `RTO not achieved (objective ${formatDuration(d.rtoObjectiveMs)})` : `RTO ${formatDuration(d.achievedRtoMs)} of ${formatDuration(d.rtoObjectiveMs)}`;
}

/** `RPO 5m of 1h` or `RPO not measured (objective 1h)`. */
export function rpoText(d: Pick<DrillResult, 'measuredRpoMs' | 'rpoObjectiveMs'>): string {
  const objective = d.rpoObjectiveMs === 0 ? '0s' : formatDuration(d.rpoObjectiveMs);
  return d.measuredRpoMs === undefined ? `RPO not measured (objective ${objective})` : `RPO ${d.measuredRpoMs === 0 ? '0s' : formatDuration(d.measuredRpoMs)} of ${objective}`;
}
