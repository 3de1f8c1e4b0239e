import type { Run } from '../runs/model.ts';
import { parseReadinessReport, type ReadinessReport } from '../steps/readiness/report.ts';

/** The step whose `report` output is a readiness run's whole result (src/steps/readiness/report.ts). */
export const READINESS_SUMMARY_STEP = 'readiness.summary';

/** Steps whose `report` output the readiness report holds: shown as the checklist, not as raw JSON. */
export const READINESS_REPORT_STEPS: ReadonlySet<string> = new Set(['readiness.checklist', READINESS_SUMMARY_STEP]);

/** A run's readiness report and the step that gave it. */
export interface RunReadiness {
  stepId: string;
  report: ReadinessReport;
}

/** Whether the run has a `readiness.summary` step at all (its report may still be missing or unparsable). */
export function summaryStepOf(run: Pick<Run, 'plan'>): string | undefined {
  return run.plan.find((p) => p.use === READINESS_SUMMARY_STEP)?.stepId;
}

/**
 * The report of a readiness run, read from its `readiness.summary` step's
 * `report` output; undefined for any other run, a run whose summary has not
 * succeeded (a dry run: skipped), or an output that is not a report.
 */
export function readinessReportOf(run: Pick<Run, 'plan' | 'steps'>): RunReadiness | undefined {
  const stepId = summaryStepOf(run);
  if (stepId === undefined) return undefined;
  const step = run.steps[stepId];
  if (step?.state !== 'succeeded') return undefined;
  const report = parseReadinessReport(step.outputs?.report);
  return report ? { stepId, report } : undefined;
}
