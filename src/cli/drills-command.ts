/**
 * `npm run dr -- drills [<scenario>]`: the drill record, as `/dr drills`
 * shows it in Slack: the drills newest first, each with pass or fail, the
 * achieved RTO and measured RPO against the objectives and why it failed;
 * then the trend per scenario. Reads only: needs no key. The terminal is
 * no conversation: drills of private channels are listed too.
 */
import type { DrillResult } from '../drills/model.ts';
import type { DrillStore } from '../drills/store.ts';
import { rpoText, rtoText, STEADY_BAND, TREND_SHOWN, trendsOf, trendText } from '../drills/trend.ts';
import { SCENARIO_IDS, type ScenarioId } from '../incidents/scenarios.ts';
import { closestMatch } from '../util/closest.ts';
import { formatDuration } from '../util/duration.ts';
import { plural } from '../util/text.ts';
import { utc } from './render.ts';

export interface DrillsCliDeps {
  drills: Pick<DrillStore, 'results'>;
  out: (line: string) => void;
  /** How many drills are listed (--limit). */
  limit: number;
}

/** `words`: what follows `drills`. `usageError(text)` makes the CLI's usage refusal (exit code 2). */
export async function drillsCommand(words: readonly string[], deps: DrillsCliDeps, usageError: (text: string) => Error): Promise<number> {
  const scenario = scenarioArg(words, usageError);
  const all = await deps.drills.results(scenario ? { scenario } : {});
  renderDrills(all, deps.limit, scenario).forEach(deps.out);
  return 0;
}

function scenarioArg(words: readonly string[], usageError: (text: string) => Error): ScenarioId | undefined {
  const [word, ...extra] = words;
  if (word === undefined) return undefined;
  if (extra.length) throw usageError(`drills takes at most one scenario; unexpected: ${extra.join(' ').slice(0, 80)}`);
  const scenario = word.toLowerCase();
  if ((SCENARIO_IDS as readonly string[]).includes(scenario)) return scenario as ScenarioId;
  const close = closestMatch(scenario, SCENARIO_IDS);
  throw usageError(`drills: ${word.slice(0, 60)} is not a scenario of the DR plan${close ? ` (did you mean ${close}?)` : ''}; scenarios: ${SCENARIO_IDS.join(', ')}`);
}

/** The drills newest first (at most `limit`), then the trend of each scenario. Times are UTC. */
export function renderDrills(all: readonly DrillResult[], limit: number, scenario?: ScenarioId): string[] {
  if (all.length === 0) {
    return [scenario ? `No drill of ${scenario} has been recorded (the last 2 years are kept).` : 'No drill has been recorded yet. Each run of a runbook with `drill: true` that ends is recorded (npm run dr -- run dr-drill).'];
  }
  const shown = all.slice(0, limit);
  const lines = [`Drills${scenario ? ` of ${scenario}` : ''}, newest first (2 years are kept, at most 200 per scenario):`];
  for (const d of shown) {
    lines.push(`${utc(d.startedAt)}  ${d.passed ? 'PASS' : 'FAIL'}  ${d.runId}  ${d.runbookId}  ${d.scenario}  ${rtoText(d)}  ${rpoText(d)}  (took ${formatDuration(d.durationMs)})`);
    if (!d.passed) lines.push(`    why: ${d.reasons.join('; ')}`);
  }
  if (all.length > shown.length) lines.push(`… and ${plural(all.length - shown.length, 'older drill')} (--limit N shows more)`);
  lines.push(
    '',
    `Trend per scenario: the achieved RTOs of the last ${TREND_SHOWN} drills that recovered, oldest first; the arrow compares the newest with the median of the ones before it (within ${String(STEADY_BAND * 100)}%: steady).`,
  );
  for (const t of trendsOf(all)) {
    lines.push(`${t.scenario}: last ${t.last.passed ? 'passed' : 'failed'} ${utc(t.last.startedAt)}; ${trendText(t)}; objective ${formatDuration(t.rtoObjectiveMs)}; ${t.passedOfLast} of the last ${plural(t.lastCount, 'drill')} passed`);
  }
  return lines;
}
