import type { Runbook } from '../../runbooks/schema.ts';
import type { Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { context, escapeMrkdwn, header, section, type SlackMessage } from './message.ts';

/** `/dr runbooks`: every runbook with its parameters and approval needs. */
export function renderRunbookList(runbooks: Iterable<Runbook>, slash: string): SlackMessage {
  const lines = [...runbooks].map((rb) => {
    const approval = rb.approval.required === 0 ? 'no approval' : `${rb.approval.required} approval${rb.approval.required > 1 ? 's' : ''}`;
    const params = Object.entries(rb.params)
      .map(([k, spec]) => `\`${k}\`${spec.default === undefined ? ' (required)' : ''}`)
      .join(', ');
    return `• *${escapeMrkdwn(rb.id)}* — ${escapeMrkdwn(rb.title)} (${approval})${params ? `\n   ${params}` : ''}`;
  });
  return {
    text: `${lines.length} runbooks`,
    blocks: [header('Runbooks'), ...chunk(lines).map((t) => section(t)), context(`Run one: \`${slash} run <runbook> key=value …\` · add your own in commands/`)],
  };
}

/** `/dr runs`: recent runs, newest first. */
export function renderRunList(runs: readonly Run[], slash: string): SlackMessage {
  if (runs.length === 0) return { text: 'No runs yet.' };
  const lines = runs.map((r) => {
    const took = r.startedAt && r.finishedAt ? ` in ${formatDuration(r.finishedAt - r.startedAt)}` : '';
    return `\`${r.id}\` *${escapeMrkdwn(r.runbookId)}* — ${r.state.replace('_', ' ')}${took} · <@${r.requester.id}> · ${new Date(r.createdAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  });
  return { text: `${runs.length} recent runs`, blocks: [header('Recent runs'), ...chunk(lines).map((t) => section(t)), context(`Details: \`${slash} show <run>\``)] };
}

/** Groups lines into section-sized texts. */
function chunk(lines: readonly string[], limit = 2_900): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const last = out.at(-1);
    if (last !== undefined && last.length + line.length + 1 <= limit) out[out.length - 1] = `${last}\n${line}`;
    else out.push(line);
  }
  return out;
}
