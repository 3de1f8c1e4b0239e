import { approvalText } from '../../schedules/approval.ts';
import { describeCadence, type ScheduleView } from '../../schedules/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { capText, truncate } from '../../util/text.ts';
import { fitBlocks, linesWithin, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, packLines } from '../limits.ts';
import { code, context, escapeMrkdwn, header, section, type SlackMessage } from './message.ts';

const LINE_LIMIT = 900;
const PROBLEM_LIMIT = 200;

/** `2026-12-07 14:30 UTC`. */
function utc(at: number): string {
  return `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A duration as people glance at it: to the minute past a minute. */
function roughly(ms: number): string {
  return formatDuration(ms >= 60_000 ? Math.round(ms / 60_000) * 60_000 : ms);
}

/** What the last fire did: its run and that run's state now, or why it made none. */
function lastText(s: ScheduleView, now: number): string {
  const last = s.last;
  if (!last) return 'not run yet';
  const when = `${roughly(Math.max(0, now - last.at))} ago`;
  const problem = last.problem ? ` — ${truncate(last.problem.split('\n')[0] ?? '', PROBLEM_LIMIT)}` : '';
  if (!last.runId) return `no run ${when}${problem}`;
  return `\`${last.runId}\` ${(s.lastState ?? 'gone').replace('_', ' ')}, ${when}${problem}`;
}

function nextText(s: ScheduleView, now: number): string {
  if (s.paused) return '*paused*';
  if (s.approval && s.approval.state !== 'approved') return 'fires once approved';
  if (s.next === undefined) return 'not planned';
  return `next ${s.next <= now ? 'now' : `in ${roughly(s.next - now)}`} (${utc(s.next)})`;
}

/**
 * One schedule on one line: id, runbook, cadence, parameters, channel, who
 * made it, the last run (state, when) and the next.
 */
export function scheduleLine(s: ScheduleView, now: number): string {
  const params = Object.entries(s.params).map(([k, v]) => code(`${k}=${String(v)}`)).join(' ');
  const where = s.channel ? ` → <#${s.channel.id}>` : '';
  const by = s.createdBy.via === 'system' ? 'config' : `<@${s.createdBy.id}>`;
  const red = s.skipWhenRed?.length ? ` · skipped while red: ${s.skipWhenRed.map((id) => code(id)).join(' ')}` : '';
  const approval = s.approval ? `\n   ${approvalText(s.approval)}` : '';
  return capText(
    `• \`${s.id}\` *${escapeMrkdwn(s.runbookId)}* ${escapeMrkdwn(describeCadence(s.cadence))}${params ? ` ${params}` : ''}${where} · by ${by}${red}${approval}\n   last: ${lastText(s, now)} · ${nextText(s, now)}`,
    LINE_LIMIT,
  );
}

/** `/dr schedule list`. */
export function renderScheduleList(schedules: readonly ScheduleView[], now: number, slash: string): SlackMessage {
  const add = `Add one: \`${slash} schedule add <runbook> every 30m [#channel]\` (cron in UTC; a changing runbook's fires once two approvers \`${slash} schedule approve <id>\`).`;
  if (schedules.length === 0) return { text: `No schedules yet. ${add}` };
  const { kept, omitted } = linesWithin(
    schedules.map((s) => scheduleLine(s, now)),
    MESSAGE_BLOCK_TEXT_BUDGET - 600,
  );
  const more = omitted ? ` · ${omitted} more not shown: \`npm run dr -- schedule list\` lists them all` : '';
  return {
    text: `${schedules.length} schedule${schedules.length === 1 ? '' : 's'}`,
    blocks: fitBlocks([header('Schedules'), ...packLines(kept).map((t) => section(t)), context(`${add} Pause, resume or delete: \`${slash} schedule pause <id>\`${more}`)], MESSAGE_LIMITS),
  };
}

/** The answer to an add, pause, resume or delete, with the schedule as `list` shows it. */
export function renderScheduleChange(headline: string, schedule: ScheduleView, now: number): SlackMessage {
  const text = `${headline}\n${scheduleLine(schedule, now)}`;
  return { text, blocks: [section(text)] };
}
