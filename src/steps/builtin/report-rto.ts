import { z } from 'zod';
import { SCENARIO_IDS, type ScenarioTargets } from '../../incidents/scenarios.ts';
import { formatDuration } from '../../util/duration.ts';
import { defineStep } from '../types.ts';

/**
 * `report.rto`: how long the run has taken so far against a scenario's RTO
 * target (DR-PLAN.md) — the number a drill exists to measure. Changes nothing.
 */
export const reportRtoStep = (targets: ScenarioTargets) =>
  defineStep({
  id: 'report.rto',
  targetless: true,
  summary: "Report the run's duration against a scenario's RTO",
  params: z.object({ scenario: z.enum(SCENARIO_IDS) }),
  outputs: ['elapsed', 'rto', 'withinRto', 'summary'],
  plan: (_ctx, p) =>
    Promise.resolve([{ action: 'check' as const, resource: 'run', detail: `compare the run's duration with the RTO of ${targets[p.scenario].title} (${formatDuration(targets[p.scenario].rtoMs)})` }]),
  run(ctx, p) {
    const elapsed = Date.now() - ctx.runStartedAt;
    const { rtoMs, title } = targets[p.scenario];
    const summary = `took ${formatDuration(elapsed)} against the ${title} RTO of ${formatDuration(rtoMs)} (${((elapsed / rtoMs) * 100).toFixed(1)}%)`;
    ctx.progress(summary);
    return Promise.resolve({ elapsed: formatDuration(elapsed), rto: formatDuration(rtoMs), withinRto: elapsed <= rtoMs, summary });
  },
  });
