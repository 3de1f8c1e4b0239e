import type { Run } from '../runs/model.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { formatDuration } from '../util/duration.ts';
import type { IncidentState } from './model.ts';

export interface RunDigest {
  /** Slack mrkdwn lines, user text escaped. */
  actionsTaken: string[];
  nextSteps: string[];
}

/** The restore point a run used (a restore step's `restorePoint` output), if any. */
export function restorePointOf(run: Run): string | undefined {
  for (const p of [...run.plan].reverse()) {
    const point = run.steps[p.stepId]?.outputs?.restorePoint;
    if (typeof point === 'string' && point) return point;
  }
  return undefined;
}

/**
 * "Actions taken" and "next steps" for the incident summary, from the runs
 * requested in its channel (oldest first) and the incident's state. Pure.
 */
export function digestRuns(runs: readonly Run[], state: IncidentState, now: number): RunDigest {
  const actionsTaken: string[] = [];
  const nextSteps: string[] = [];
  for (const run of runs) {
    if (run.dryRun) continue;
    const title = `*${escapeMrkdwn(run.runbookTitle)}* (\`${run.id}\`)`;
    const ran = run.startedAt !== undefined ? formatDuration((run.finishedAt ?? now) - run.startedAt) : '';
    switch (run.state) {
      case 'succeeded': {
        const point = restorePointOf(run);
        actionsTaken.push(`:white_check_mark: ${title} succeeded in ${ran}${point ? ` — restored to ${escapeMrkdwn(point)}` : ''}`);
        break;
      }
      case 'failed': {
        const step = run.plan.find((p) => p.stepId === run.failure?.stepId)?.name ?? run.failure?.stepId;
        actionsTaken.push(`:x: ${title} failed${step ? ` at _${escapeMrkdwn(step)}_` : ''}: ${escapeMrkdwn((run.failure?.message ?? 'no reason given').slice(0, 200))}`);
        nextSteps.push(`Decide on the failed ${title}: fix the cause and run it again, or choose another runbook.`);
        break;
      }
      case 'running':
      case 'approved': {
        const current = run.plan.findIndex((p) => run.steps[p.stepId]?.state === 'running');
        const at = current >= 0 ? `, step ${current + 1}/${run.plan.length} (${escapeMrkdwn(run.plan[current]?.name ?? '')})` : '';
        actionsTaken.push(`:arrows_counterclockwise: ${title} running for ${ran || '0s'}${at}`);
        nextSteps.push(`Follow ${title} to its end.`);
        break;
      }
      case 'cancelled':
        if (run.startedAt !== undefined) actionsTaken.push(`:black_square_for_stop: ${title} cancelled after ${ran}`);
        break;
      case 'awaiting_approval':
      case 'planned':
        nextSteps.push(`Approve or reject ${title}, requested by <@${run.requester.id}>.`);
        break;
      case 'expired':
      case 'rejected':
        break;
    }
  }
  if (nextSteps.length === 0) nextSteps.push(DEFAULT_NEXT_STEP[state](actionsTaken.length > 0));
  return { actionsTaken, nextSteps };
}

const DEFAULT_NEXT_STEP: Record<IncidentState, (acted: boolean) => string> = {
  investigating: () => 'Find the cause; `/dr runbooks` lists the recovery procedures, `/dr check` the readiness.',
  identified: (acted) => (acted ? 'Verify the service, then `/dr status monitoring "…"`.' : 'Start the recovery: `/dr restore …`, `/dr rollback …` or `/dr failover`.'),
  monitoring: () => 'Watch error rates and latency; `/dr status resolved "…"` once stable.',
  resolved: () => 'Hold the post-mortem and work through the After Recovery checklist.',
};
