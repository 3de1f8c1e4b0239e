import type { AuditEntry, Run } from '../../runs/model.ts';
import { fitBlocks, linesWithin, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, packLines } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { context, escapeMrkdwn, header, section, type SlackMessage } from './message.ts';

/** One entry's line at most: a long detail (an error) never crowds out the others. */
const ENTRY_LINE_LIMIT = 500;
/** Room kept for the header and the footer out of the message's text budget. */
const FRAME_ROOM = 600;

/**
 * `/dr audit <run>`: the run's append-only audit log, oldest first. When it
 * does not all fit in one message, the newest entries are shown and the
 * footer says how many older ones are left out and where they all are.
 */
export function renderAudit(run: Run, entries: readonly AuditEntry[]): SlackMessage {
  const lines = entries.map((e) => {
    const who = (e.actor.via === 'slack' ? `<@${e.actor.id}>` : escapeMrkdwn(e.actor.name ?? e.actor.id)) + (e.actor.via === 'cli' ? ` via cli${e.actor.osUser ?? e.actor.host ? ` (${escapeMrkdwn(`${e.actor.osUser ?? '?'}@${e.actor.host ?? '?'}`)})` : ''}` : '');
    const detail = e.detail ? ` — ${escapeMrkdwn(e.detail)}` : '';
    return capText(`\`${new Date(e.at).toISOString().replace('.000Z', 'Z')}\` ${who} *${escapeMrkdwn(e.action)}*${detail}`, ENTRY_LINE_LIMIT);
  });
  const { kept, omitted } = linesWithin(lines, MESSAGE_BLOCK_TEXT_BUDGET - FRAME_ROOM, 'end');
  const blocks = [
    header(`Audit: run ${run.id} · ${run.runbookTitle}`),
    ...packLines(kept).map((s) => section(s)),
    context(
      `${entries.length} entries · state *${run.state.replace('_', ' ')}*${omitted ? ` · oldest ${omitted} entries not shown: \`npm run dr -- audit ${run.id}\` has them all` : ''}`,
    ),
  ];
  return { text: `Audit of run ${run.id} (${escapeMrkdwn(run.runbookId)}): ${entries.length} entries`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}
