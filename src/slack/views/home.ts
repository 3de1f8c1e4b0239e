import type { Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { type Block, context, escapeMrkdwn, header, section } from './message.ts';

/** The App Home tab: what needs attention now. Pure. */
export function renderHome(runs: readonly Run[], now: number, slash: string): { type: 'home'; blocks: Block[] } {
  const running = runs.filter((r) => r.state === 'running' || r.state === 'approved');
  const waiting = runs.filter((r) => r.state === 'awaiting_approval' && r.expiresAt > now);
  const line = (r: Run, detail: string) =>
    `• \`${r.id}\` *${escapeMrkdwn(r.runbookTitle)}*${r.message ? ` in <#${r.message.channel}>` : ''} — ${detail} · requested by <@${r.requester.id}>`;
  const blocks: Block[] = [
    header('Disaster recovery'),
    section(
      running.length
        ? `*Runs in progress*\n${running.slice(0, 20).map((r) => line(r, `${r.state}, ${formatDuration(now - (r.startedAt ?? r.createdAt))} so far`)).join('\n')}`
        : '*Runs in progress*\nNone.',
    ),
    section(
      waiting.length
        ? `*Awaiting approval*\n${waiting.slice(0, 20).map((r) => line(r, `${r.approvals.length} of ${r.policy.required} approvals, expires in ${formatDuration(r.expiresAt - now)}`)).join('\n')}`
        : '*Awaiting approval*\nNone.',
    ),
    context(`Start with \`${slash} help\`. Runs you can act on have their buttons on their message in the channel.`),
  ];
  return { type: 'home', blocks };
}
