import type { Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { fitBlocks, linesWithin, SECTION_TEXT_LIMIT, VIEW_LIMITS } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { type Block, context, escapeMrkdwn, header, section } from './message.ts';
import type { ScheduleView } from '../../schedules/model.ts';
import { scheduleLine } from './schedules.ts';
import type { LatestReadiness } from '../../readiness/store.ts';
import { readinessHomeBlocks } from './readiness.ts';
import type { DrillResult } from '../../drills/model.ts';
import { drillsHomeBlocks } from './drills.ts';

/** Runs listed per section at most; the rest are counted. */
const RUNS_PER_SECTION = 20;
const LINE_LIMIT = 400;

/** The App Home tab: what needs attention now, and the schedules with their last and next runs. Pure. */
export function renderHome(
  runs: readonly Run[],
  now: number,
  slash: string,
  schedules: readonly ScheduleView[] = [],
  readiness?: LatestReadiness,
  drills?: readonly DrillResult[],
): { type: 'home'; blocks: Block[] } {
  const running = runs.filter((r) => r.state === 'running' || r.state === 'approved');
  const waiting = runs.filter((r) => r.state === 'awaiting_approval' && r.expiresAt > now);
  const line = (r: Run, detail: string) =>
    capText(`• \`${r.id}\` *${escapeMrkdwn(r.runbookTitle)}*${r.message ? ` in <#${r.message.channel}>` : ''} — ${detail} · requested by <@${r.requester.id}>`, LINE_LIMIT);
  const blocks: Block[] = [
    header('Disaster recovery'),
    section(list('*Runs in progress*', running.map((r) => line(r, `${r.state}, ${formatDuration(now - (r.startedAt ?? r.createdAt))} so far`)))),
    section(list('*Awaiting approval*', waiting.map((r) => line(r, `${r.approvals.length} of ${r.policy.required} approvals, expires in ${formatDuration(r.expiresAt - now)}`)))),
    // The latest readiness check per target and the live RPO (absent when it could not be read).
    ...(readiness ? readinessHomeBlocks(readiness, now, slash) : []),
    // The last drill of each scenario (absent when the record could not be read).
    ...(drills ? drillsHomeBlocks(drills, now, slash) : []),
    section(list('*Schedules*', schedules.map((s) => scheduleLine(s, now)))),
    context(`Start with \`${slash} help\`. Runs you can act on have their buttons on their message in the channel.`),
  ];
  return { type: 'home', blocks: fitBlocks(blocks, VIEW_LIMITS) };
}

/** A heading and its lines within one section, counting those left out. */
function list(heading: string, lines: readonly string[]): string {
  if (lines.length === 0) return `${heading}\nNone.`;
  const room = SECTION_TEXT_LIMIT - heading.length - 40;
  const { kept, omitted } = linesWithin(lines.slice(0, RUNS_PER_SECTION), room);
  const more = omitted + Math.max(0, lines.length - RUNS_PER_SECTION);
  return `${heading}\n${kept.join('\n')}${more ? `\n_… and ${more} more_` : ''}`;
}
