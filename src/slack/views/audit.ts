import type { AuditEntry, Run } from '../../runs/model.ts';
import { context, escapeMrkdwn, header, section, type SlackMessage, SECTION_TEXT_LIMIT } from './message.ts';

/** Slack allows 50 blocks per message; header and footer take two. */
const MAX_ENTRY_BLOCKS = 45;

/** `/dr audit <run>`: the run's append-only audit log, oldest first. */
export function renderAudit(run: Run, entries: readonly AuditEntry[]): SlackMessage {
  const lines = entries.map((e) => {
    const who = (e.actor.via === 'slack' ? `<@${e.actor.id}>` : escapeMrkdwn(e.actor.name ?? e.actor.id)) + (e.actor.via === 'cli' ? ` via cli${e.actor.osUser ?? e.actor.host ? ` (${escapeMrkdwn(`${e.actor.osUser ?? '?'}@${e.actor.host ?? '?'}`)})` : ''}` : '');
    const detail = e.detail ? ` — ${escapeMrkdwn(e.detail)}` : '';
    return `\`${new Date(e.at).toISOString().replace('.000Z', 'Z')}\` ${who} *${escapeMrkdwn(e.action)}*${detail}`;
  });
  // Pack lines into as few sections as fit; keep the newest entries if there are too many.
  const sections: string[] = [];
  for (const line of lines) {
    const last = sections.at(-1);
    if (last !== undefined && last.length + line.length + 1 <= SECTION_TEXT_LIMIT) sections[sections.length - 1] = `${last}\n${line}`;
    else sections.push(line);
  }
  const dropped = Math.max(0, sections.length - MAX_ENTRY_BLOCKS);
  const shown = sections.slice(dropped);
  return {
    text: `Audit of run ${run.id} (${escapeMrkdwn(run.runbookId)}): ${entries.length} entries`,
    blocks: [
      header(`Audit: run ${run.id} · ${run.runbookTitle}`),
      ...shown.map((s) => section(s)),
      context(
        `${entries.length} entries · state *${run.state.replace('_', ' ')}*${dropped ? ` · oldest ${dropped} sections not shown: \`npm run dr -- audit ${run.id}\` has them all` : ''}`,
      ),
    ],
  };
}
