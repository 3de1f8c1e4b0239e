import { z } from 'zod';
import { SCENARIO_IDS, SCENARIOS, type ScenarioId } from '../../incidents/scenarios.ts';
import { formatDuration } from '../../util/duration.ts';
import type { DrillSummary, StepContext } from '../types.ts';
import { fail, type ItemSpec, measured, pass, unknown } from './items.ts';
import type { ItemResult } from './report.ts';

const DAY_MS = 24 * 3_600_000;

/** Scenarios whose drills restore data: their drills are restore tests. */
export const RESTORE_TEST_SCENARIOS: readonly ScenarioId[] = ['data-corruption', 'accidental-deletion'];

export const DrillChecksSchema = z.object({
  /** Scenarios that need a passing drill; DR-PLAN.md tests every scenario's recovery. */
  scenarios: z.array(z.enum(SCENARIO_IDS)).default([...SCENARIO_IDS]),
  /** How recent that passing drill must be. */
  withinDays: z.number().int().min(1).max(730).default(90),
  /** Scenarios whose drills count as restore tests, for "restore time of the last restore test". */
  restoreScenarios: z.array(z.enum(SCENARIO_IDS)).min(1).default([...RESTORE_TEST_SCENARIOS]),
});
export type DrillChecks = z.infer<typeof DrillChecksSchema>;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Days, as the objective is written; a drill of today in hours. */
const ageText = (ms: number) => (ms < 2 * DAY_MS ? formatDuration(Math.max(0, ms)) : `${Math.floor(ms / DAY_MS)} days`);
const FIX_DRILL = (scenario: ScenarioId) => `Run a drill of this scenario: a runbook with \`drill: true\` and \`scenario: ${scenario}\` (the quarterly dr-drill is complete-infrastructure-loss); it is recorded when it ends.`;
const FIX_RESTORE = 'Run a restore test (a drill runbook of a data-corruption or accidental-deletion scenario, such as restore-test), then fix what made it slow or fail.';

/**
 * The drill record's items (docs/drills.md, "In the readiness check"), read
 * through `ctx.drillHistory`: a passing drill of each scenario within
 * `withinDays` (`drills.recent.<scenario>`), and the last restore test's
 * achieved RTO within its objective (`drills.restore-time`). Without the
 * record (a worker that cannot read it) every item is unknown, never a pass.
 */
export async function drillItems(ctx: Pick<StepContext, 'drillHistory'>, checks: DrillChecks, now: number, timeoutMs: number): Promise<ItemResult[]> {
  const recentSpecs = checks.scenarios.map((scenario) => ({ scenario, spec: recentSpec(scenario, checks.withinDays) }));
  const restore: ItemSpec = { id: 'drills.restore-time', area: 'drills', title: 'The last restore test restored within its RTO', objective: "achieved RTO ≤ the scenario's RTO" };
  const specs = [...recentSpecs.map((r) => r.spec), restore];
  const history = ctx.drillHistory;
  if (!history) return specs.map((spec) => unknown(spec, 'This worker cannot read the drill record.', 'Run the check on a bot worker (npm start or --role worker): it reads the drill record.'));
  return measured(specs, timeoutMs, async () => {
    const drills = [...(await history())].sort((a, b) => b.startedAt - a.startedAt);
    return [
      ...recentSpecs.map(({ scenario, spec }) => recentItem(spec, scenario, drills.filter((d) => d.scenario === scenario), checks.withinDays, now)),
      restoreItem(restore, drills.find((d) => (checks.restoreScenarios as readonly string[]).includes(d.scenario))),
    ];
  });
}

function recentSpec(scenario: ScenarioId, withinDays: number): ItemSpec {
  return {
    id: `drills.recent.${scenario}`,
    area: 'drills',
    title: `A successful drill of ${SCENARIOS[scenario].title} within ${withinDays} days`,
    objective: `a passing drill within ${withinDays} days`,
  };
}

/** `drills`: the scenario's, newest first. */
function recentItem(spec: ItemSpec, scenario: ScenarioId, drills: readonly DrillSummary[], withinDays: number, now: number): ItemResult {
  const title = SCENARIOS[scenario].title;
  const passing = drills.find((d) => d.passed && d.startedAt >= now - withinDays * DAY_MS);
  if (passing) {
    return pass(spec, `passed ${day(passing.startedAt)} (${ageText(now - passing.startedAt)} ago)`, `The last passing drill of ${title} is run ${passing.runId} of ${passing.runbookId}.`);
  }
  const last = drills[0];
  if (!last) return fail(spec, 'no drill recorded', `No drill of ${title} has been recorded (the record keeps 2 years).`, FIX_DRILL(scenario));
  const lastText = last.passed ? `passed, more than ${withinDays} days ago` : `failed: ${last.reasons.join('; ') || 'no reason recorded'}`;
  return fail(spec, `none passed within ${withinDays} days; the last ${day(last.startedAt)} ${last.passed ? 'passed' : 'failed'}`, `The last drill of ${title} (run ${last.runId} of ${last.runbookId}, ${day(last.startedAt)}) ${lastText}.`, FIX_DRILL(scenario));
}

function restoreItem(spec: ItemSpec, last: DrillSummary | undefined): ItemResult {
  if (!last) return fail(spec, 'no restore test recorded', 'No drill of a data-corruption or accidental-deletion scenario (a restore test) has been recorded: how long a restore takes is unknown.', FIX_RESTORE);
  const when = `run ${last.runId} of ${last.runbookId}, ${day(last.startedAt)}`;
  const objective = formatDuration(last.rtoObjectiveMs);
  if (last.achievedRtoMs === undefined) {
    return fail(spec, `the last restore test did not restore (${day(last.startedAt)})`, `The last restore test (${when}) did not complete its recovery: ${last.reasons.join('; ') || 'no reason recorded'}.`, FIX_RESTORE);
  }
  const value = `restored in ${formatDuration(last.achievedRtoMs)} of ${objective} (${day(last.startedAt)})`;
  if (last.achievedRtoMs > last.rtoObjectiveMs) return fail(spec, value, `The last restore test (${when}) took longer than the RTO of ${objective}.`, FIX_RESTORE);
  return pass(spec, value, `The last restore test (${when}) restored within the RTO.`);
}
