import type { ReadinessTransition } from '../../readiness/transitions.ts';
import { formatDuration } from '../../util/duration.ts';
import { capText } from '../../util/text.ts';
import { fitBlocks, HEADER_TEXT_LIMIT, MESSAGE_LIMITS } from '../limits.ts';
import { code, context, escapeMrkdwn, section, type SlackMessage, truncate } from './message.ts';
import { STATUS_EMOJI, whenText } from './readiness.ts';

/** Caps on a notice's parts; the report's own limits are larger than a notice needs. */
const VALUE_LIMIT = 500;
const REASON_LIMIT = 1_000;
const FIX_LIMIT = 600;

/**
 * The drift notice of one readiness item, posted once in the readiness
 * channel. Red: what failed, where, since when, the measured value against
 * the objective, why, and how to fix it. Green: what recovered and how long
 * it was red. Pure.
 */
export function renderReadinessNotice(t: ReadinessTransition, slash: string): SlackMessage {
  const title = escapeMrkdwn(t.item.title);
  const where = `on ${code(t.target)} (${t.role === 'primary' ? 'primary' : 'DR'})`;
  const measured = `*Measured:* ${escapeMrkdwn(capText(t.item.value, VALUE_LIMIT))} · *objective:* ${escapeMrkdwn(t.item.objective)}`;
  if (t.kind === 'red') {
    const lines = [`${STATUS_EMOJI.fail} *Readiness: ${title} turned red* ${where}`, measured, `*Why:* ${escapeMrkdwn(capText(t.item.reason, REASON_LIMIT))}`];
    if (t.item.fix) lines.push(`*Fix:* ${escapeMrkdwn(capText(t.item.fix, FIX_LIMIT))}`);
    const before = t.previous ? `it was ${t.previous} at the check before` : 'its first check';
    const lastPass = t.lastPassAt !== undefined ? `; last passed ${whenText(t.lastPassAt)}` : '';
    const foot = `Failing since ${whenText(t.redSince)} (${before}${lastPass}) · item ${code(t.item.id)} · latest of every item: \`${slash} check status\``;
    return notice(`Readiness: ${t.item.title} turned red on ${t.target}`, lines, foot);
  }
  const lines = [`${STATUS_EMOJI.pass} *Readiness: ${title} passes again* ${where}`, measured];
  const foot = `It was red for ${formatDuration(Math.max(0, t.at - t.redSince))}, since ${whenText(t.redSince)} · item ${code(t.item.id)} · latest of every item: \`${slash} check status\``;
  return notice(`Readiness: ${t.item.title} passes again on ${t.target}`, lines, foot);
}

function notice(fallback: string, lines: string[], foot: string): SlackMessage {
  return {
    text: escapeMrkdwn(truncate(fallback, HEADER_TEXT_LIMIT * 2)),
    blocks: fitBlocks([section(lines.join('\n')), context(foot)], MESSAGE_LIMITS),
  };
}
