import type { Runbook } from '../../runbooks/schema.ts';
import type { Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { fitBlocks, linesWithin, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, packLines } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { type Block, context, escapeMrkdwn, header, section, type SlackMessage } from './message.ts';

/** Room kept for the header and the footer out of the message's text budget. */
const FRAME_ROOM = 500;
const LINE_LIMIT = 500;

/**
 * `/dr runbooks`: every runbook with its parameters and approval needs. Too
 * many for one message, it drops the parameters (`/dr help run` and the plan
 * show them), and past that lists as many as fit and says how many more.
 */
export function renderRunbookList(runbooks: Iterable<Runbook>, slash: string): SlackMessage {
  const all = [...runbooks];
  const line = (rb: Runbook, withParams: boolean) => {
    const approval = rb.approval.required === 0 ? 'no approval' : `${rb.approval.required} approval${rb.approval.required > 1 ? 's' : ''}`;
    const params = Object.entries(rb.params)
      .map(([k, spec]) => `\`${k}\`${spec.default === undefined ? ' (required)' : ''}`)
      .join(', ');
    // Only the exceptions are named: most runbooks are normal.
    const priority = rb.priority === 'normal' ? '' : ` · ${rb.priority}`;
    return capText(`• *${escapeMrkdwn(rb.id)}* — ${escapeMrkdwn(rb.title)} (${approval}${priority})${withParams && params ? `\n   ${params}` : ''}`, LINE_LIMIT);
  };
  const room = MESSAGE_BLOCK_TEXT_BUDGET - FRAME_ROOM;
  let lines = all.map((rb) => line(rb, true));
  let note = '';
  if (textOf(lines) > room) {
    lines = all.map((rb) => line(rb, false));
    note = ` · parameters not shown: \`${slash} run <runbook>\` names any it needs`;
  }
  const { kept, omitted } = linesWithin(lines, room);
  if (omitted) note += ` · ${omitted} more not shown: \`npm run dr -- runbooks\` lists them all`;
  return {
    text: `${all.length} runbooks`,
    blocks: within([header('Runbooks'), ...packLines(kept).map((t) => section(t)), context(`Run one: \`${slash} run <runbook> key=value …\` · add your own in commands/${note}`)]),
  };
}

/** `/dr runs`: recent runs, newest first. */
export function renderRunList(runs: readonly Run[], slash: string): SlackMessage {
  if (runs.length === 0) return { text: 'No runs yet.' };
  const lines = runs.map((r) => {
    const took = r.startedAt && r.finishedAt ? ` in ${formatDuration(r.finishedAt - r.startedAt)}` : '';
    return capText(`\`${r.id}\` *${escapeMrkdwn(r.runbookId)}* — ${r.state.replace('_', ' ')}${took} · <@${r.requester.id}> · ${new Date(r.createdAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`, LINE_LIMIT);
  });
  const { kept, omitted } = linesWithin(lines, MESSAGE_BLOCK_TEXT_BUDGET - FRAME_ROOM);
  const more = omitted ? ` · ${omitted} older not shown: \`npm run dr -- runs\`` : '';
  return { text: `${runs.length} recent runs`, blocks: within([header('Recent runs'), ...packLines(kept).map((t) => section(t)), context(`Details: \`${slash} show <run>\`${more}`)]) };
}

function textOf(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + l.length + 1, 0);
}

function within(blocks: Block[]): Block[] {
  return fitBlocks(blocks, MESSAGE_LIMITS);
}
