import { changedSteps, isTerminal, type Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { escapeMrkdwn } from '../../util/mrkdwn.ts';

/** What the "Already changed" list of a run's ending reply may take of its text (the rest: title, error, audit line). */
const ENDING_CHANGED_LIMIT = 1_500;

/**
 * The steps that changed something before a run ended, as `a`, `b`: as many
 * as fit in `limit` characters, then how many more and where every step is
 * listed. `nothing` when none did. Pure.
 */
export function alreadyChanged(run: Run, limit: number): string {
  const done = changedSteps(run).filter((s) => s.state === 'succeeded').map((s) => `\`${s.stepId}\``);
  if (done.length === 0) return 'nothing';
  const all = done.join(', ');
  if (all.length <= limit) return all;
  const more = (n: number) => ` and ${String(n)} more (every step: \`/dr show ${run.id} page 1\` or \`npm run dr -- status ${run.id}\`)`;
  const room = limit - more(done.length).length;
  const kept: string[] = [];
  let used = 0;
  for (const id of done) {
    const cost = id.length + (kept.length ? 2 : 0);
    if (used + cost > room) break;
    kept.push(id);
    used += cost;
  }
  return `${kept.join(', ')}${more(done.length - kept.length)}`;
}

/** The threaded reply at a run's end (and its state in one line when its message cannot be shown). */
export function endingText(run: Run): string {
  const took = run.startedAt && run.finishedAt ? ` in ${formatDuration(run.finishedAt - run.startedAt)}` : '';
  const title = `*${escapeMrkdwn(run.runbookTitle)}* (run \`${run.id}\`)`;
  switch (run.state) {
    case 'succeeded':
      return `:large_green_circle: ${title} succeeded${took}.${run.dryRun ? ' It was a dry run: nothing changed.' : ''}`;
    case 'failed':
      return `:red_circle: ${title} failed${run.failure?.stepId ? ` at \`${run.failure.stepId}\`` : ''}: ${escapeMrkdwn(run.failure?.message ?? 'unknown error')}\nAlready changed: ${alreadyChanged(run, ENDING_CHANGED_LIMIT)}. Audit: \`/dr audit ${run.id}\``;
    case 'cancelled':
      return `:black_square_for_stop: ${title} was cancelled${run.decision ? ` by ${run.decision.by.via === 'slack' ? `<@${run.decision.by.id}>` : escapeMrkdwn(run.decision.by.name ?? run.decision.by.id)}` : ''}.`;
    case 'expired':
      return `:alarm_clock: ${title} expired: nobody approved it in time. Request it again for a fresh plan.`;
    case 'rejected':
      return `:no_entry: ${title} was rejected${run.decision ? ` by <@${run.decision.by.id}>` : ''}${run.decision?.reason ? `: ${escapeMrkdwn(run.decision.reason)}` : ''}.`;
    default:
      return `${title} is ${run.state}.`;
  }
}

/** A run's state in one line of text, for when its full message cannot be shown. */
export function stateText(run: Run): string {
  if (isTerminal(run.state)) return endingText(run);
  return `*${escapeMrkdwn(run.runbookTitle)}* (run \`${run.id}\`) is ${run.state.replace(/_/g, ' ')}. Its message could not be shown here; follow it with \`/dr show ${run.id}\`.`;
}
