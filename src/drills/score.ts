import type { ScenarioId, ScenarioTargets } from '../incidents/scenarios.ts';
import type { Run, StepRecord } from '../runs/model.ts';
import { formatDuration } from '../util/duration.ts';
import { capText } from '../util/text.ts';
import { measuredRpo } from '../reports/recovery.ts';
import { DRILL_OUTCOMES, type DrillOutcome, type DrillRecord, type DrillStep, MEASURED_RPO_OUTPUT } from './model.ts';

/** Caps on what a run's messages bring into the record (a failure quotes an API's answer). */
const REASON_LIMIT = 400;
const STEP_ERROR_LIMIT = 300;

/**
 * Scores an ended drill run against its scenario's objectives (pure;
 * docs/drills.md, "Drill scoring"):
 *
 * - achieved RTO: from the run's start to the end of its last main step
 *   (cleanup `always:` steps excluded: recovery was done then); none when a
 *   main step did not succeed;
 * - measured RPO: the largest `measuredRpoSeconds` output of any step; none
 *   when no step gave one ("RPO not measured");
 * - pass: the run succeeded, the achieved RTO is within the objective, and the
 *   measured RPO (when there is one) too. Otherwise each reason is said.
 *
 * Undefined for what is no drill that ran: a dry run, a run that has not
 * ended, one that ended before it started (rejected, expired, or cancelled
 * while it waited).
 */
export function scoreDrill(run: Run, scenario: ScenarioId, objectives: ScenarioTargets, now: number): DrillRecord | undefined {
  if (run.dryRun || run.startedAt === undefined || !isDrillOutcome(run.state)) return undefined;
  const startedAt = run.startedAt;
  const finishedAt = run.finishedAt ?? now;
  const steps = run.plan.map((p) => drillStep(p, run.steps[p.stepId]));
  const main = steps.filter((s) => !s.cleanup);
  const recovered = main.length > 0 && main.every((s) => s.state === 'succeeded');
  const achievedRtoMs = recovered ? Math.max(0, Math.max(...main.map((s) => s.finishedAt ?? startedAt)) - startedAt) : undefined;
  const rpo = measuredRpo(run);
  const objective = objectives[scenario];

  const reasons: string[] = [];
  const notes: string[] = [];
  if (run.state !== 'succeeded') reasons.push(endingReason(run, run.state));
  if (achievedRtoMs !== undefined && achievedRtoMs > objective.rtoMs) {
    reasons.push(`RTO missed: recovered in ${formatDuration(achievedRtoMs)}, the objective is ${formatDuration(objective.rtoMs)}`);
  }
  if (rpo && rpo.ms > objective.rpoMs) {
    reasons.push(`RPO missed: ${formatDuration(rpo.ms)} of data lost (measured by step ${rpo.stepId}), the objective is ${objectiveText(objective.rpoMs)}`);
  }
  if (!rpo) notes.push(`RPO not measured: no step reported ${MEASURED_RPO_OUTPUT}`);

  const channelId = run.message?.channel ?? run.origin.channelId;
  return {
    runId: run.id,
    runbookId: run.runbookId,
    runbookTitle: run.runbookTitle,
    scenario,
    scenarioTitle: objective.title,
    outcome: run.state,
    ...(channelId ? { channelId } : {}),
    ...(run.origin.private ? { private: true } : {}),
    startedAt,
    finishedAt,
    durationMs: Math.max(0, finishedAt - startedAt),
    ...(achievedRtoMs === undefined ? {} : { achievedRtoMs }),
    rtoObjectiveMs: objective.rtoMs,
    ...(rpo ? { measuredRpoMs: rpo.ms, rpoStepId: rpo.stepId } : {}),
    rpoObjectiveMs: objective.rpoMs,
    passed: reasons.length === 0,
    reasons,
    notes,
    recordedAt: now,
    steps,
  };
}

function isDrillOutcome(state: Run['state']): state is DrillOutcome {
  return (DRILL_OUTCOMES as readonly string[]).includes(state);
}

/** An objective of zero reads as such ("0s"), not as "0ms". */
function objectiveText(ms: number): string {
  return ms === 0 ? '0s (no data loss)' : formatDuration(ms);
}

function drillStep(planned: Run['plan'][number], record: StepRecord | undefined): DrillStep {
  const startedAt = record?.startedAt;
  const finishedAt = record?.finishedAt;
  return {
    stepId: planned.stepId,
    name: planned.name,
    use: planned.use,
    ...(planned.always ? { cleanup: true } : {}),
    state: record?.state ?? 'pending',
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
    ...(startedAt !== undefined && finishedAt !== undefined ? { durationMs: Math.max(0, finishedAt - startedAt) } : {}),
    ...(record?.error ? { error: capText(record.error, STEP_ERROR_LIMIT) } : {}),
  };
}

/** Why a run that did not succeed fails its drill: the step and what happened, or who cancelled it. */
function endingReason(run: Run, outcome: Exclude<DrillOutcome, 'succeeded'>): string {
  if (outcome === 'failed') {
    const where = run.failure?.stepId ? ` at step ${run.failure.stepId}` : '';
    return capText(`the run failed${where}: ${run.failure?.message ?? 'no reason was recorded'}`, REASON_LIMIT);
  }
  const ending = run.ending?.outcome === 'cancelled' ? run.ending : undefined;
  const step = ending?.stepId ?? run.plan.find((p) => !p.always && run.steps[p.stepId]?.state === 'cancelled')?.stepId;
  const where = step ? ` ${ending?.interrupted === false ? 'before' : 'during'} step ${step}` : '';
  const decision = run.decision ?? run.cancelRequested;
  const by = decision ? ` by ${decision.by.name ?? decision.by.id}` : '';
  const why = decision?.reason ? ` (${decision.reason})` : '';
  return capText(`the run was cancelled${where}${by}${why}`, REASON_LIMIT);
}
