import { z } from 'zod';
import { SCENARIO_IDS } from '../incidents/scenarios.ts';
import { STEP_STATES } from '../runs/model.ts';

/**
 * A drill as the drill record keeps it (docs/drills.md, "Drill scoring"):
 * one ended, non-dry run of a runbook with `drill: true`, scored against its
 * scenario's RTO and RPO. Stored as JSON in Redis (store.ts); the views, the
 * CLI, the report file, the metrics and the readiness check read it.
 */

/** The outcomes a recorded drill can have: a run that ended after it started. */
export const DRILL_OUTCOMES = ['succeeded', 'failed', 'cancelled'] as const;
export type DrillOutcome = (typeof DRILL_OUTCOMES)[number];

/** The output a step gives to report the RPO it measured, in seconds (sql.check, report.rpo). */
export const MEASURED_RPO_OUTPUT = 'measuredRpoSeconds';

export const DrillStepSchema = z.object({
  stepId: z.string(),
  name: z.string(),
  use: z.string(),
  /** A cleanup step (the runbook's `always:`): not part of the recovery the RTO measures. */
  cleanup: z.boolean().optional(),
  state: z.enum(STEP_STATES),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  /** From its first start to its end: retries and waits count. */
  durationMs: z.number().optional(),
  error: z.string().optional(),
});
export type DrillStep = z.infer<typeof DrillStepSchema>;

/** What a drill achieved, without its steps: what lists, trends and gauges read. */
export const DrillResultSchema = z.object({
  runId: z.string(),
  runbookId: z.string(),
  runbookTitle: z.string(),
  scenario: z.enum(SCENARIO_IDS),
  scenarioTitle: z.string(),
  outcome: z.enum(DRILL_OUTCOMES),
  /** The run's channel (its report file goes there) and whether it is private (listed only there). */
  channelId: z.string().optional(),
  private: z.boolean().optional(),
  startedAt: z.number(),
  finishedAt: z.number(),
  /** The whole run, cleanup included. */
  durationMs: z.number(),
  /** From the run's start to the end of its last main step; absent when a main step did not succeed. */
  achievedRtoMs: z.number().optional(),
  rtoObjectiveMs: z.number(),
  /** The largest `measuredRpoSeconds` any step gave, in ms; absent: not measured. */
  measuredRpoMs: z.number().optional(),
  /** The step that measured it. */
  rpoStepId: z.string().optional(),
  rpoObjectiveMs: z.number(),
  passed: z.boolean(),
  /** Why it did not pass; empty when it passed. */
  reasons: z.array(z.string()),
  /** What a pass leaves unproven ("RPO not measured"). */
  notes: z.array(z.string()),
  recordedAt: z.number(),
});
export type DrillResult = z.infer<typeof DrillResultSchema>;

/** A drill with each of its steps: what the report file shows. */
export const DrillRecordSchema = DrillResultSchema.extend({ steps: z.array(DrillStepSchema) });
export type DrillRecord = z.infer<typeof DrillRecordSchema>;

/** The result part of a record (what the lists keep apart from the steps). */
export function resultOf(record: DrillRecord): DrillResult {
  // A zod object drops the keys it does not name: the steps.
  return DrillResultSchema.parse(record);
}
