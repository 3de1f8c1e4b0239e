import { z } from 'zod';
import type { ScenarioTargets } from '../../incidents/scenarios.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { exposures } from './exposure.ts';
import { type ReadinessReport, type TargetReport, TargetReportSchema } from './report.ts';

/**
 * `readiness.summary`: joins the checklist of every target (the `report`
 * outputs of `readiness.checklist` steps) into one report with the live RPO
 * of each scenario (exposure.ts). Its `report` output is what the readiness
 * history, drift notices, metrics and views read. The run succeeds when the
 * check ran: items that fail are in the report, and told as drift.
 */
export const readinessSummaryStep = (objectives: ScenarioTargets) =>
  defineStep({
    id: 'readiness.summary',
    targetless: true,
    summary: "Join the targets' checklists and compute the live RPO per scenario",
    params: z.object({ reports: z.array(z.string()).min(1) }),
    outputs: ['report', 'passed', 'warned', 'failed', 'unknown'],
    plan: (_ctx, p) => Promise.resolve([{ action: 'check' as const, resource: 'readiness', detail: `join ${p.reports.length} target checklists and compute the data a recovery started now would lose, per scenario` }]),
    run(ctx, p) {
      const targets = p.reports.map(parseTargetReport);
      const report: ReadinessReport = { checkedAt: Math.max(...targets.map((t) => t.checkedAt)), targets, exposures: exposures(targets, objectives) };
      const items = targets.flatMap((t) => t.items);
      const count = (status: string) => items.filter((i) => i.status === status).length;
      const summary = `${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail, ${count('unknown')} unknown`;
      ctx.progress(summary);
      return Promise.resolve({ report: JSON.stringify(report), passed: count('pass'), warned: count('warn'), failed: count('fail'), unknown: count('unknown') });
    },
  });

function parseTargetReport(raw: string): TargetReport {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new PermanentStepError('a report to join is not JSON: pass the `report` output of a readiness.checklist step');
  }
  const parsed = TargetReportSchema.safeParse(json);
  if (!parsed.success) throw new PermanentStepError(`a report to join is not a readiness.checklist report: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}
