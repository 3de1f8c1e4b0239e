import type { LatestReadiness } from '../../readiness/store.ts';
import type { Exposure, ItemResult, ItemStatus, ReadinessReport, TargetReport } from '../../steps/readiness/report.ts';
import { formatDuration } from '../../util/duration.ts';
import { plural } from '../../util/text.ts';
import { fitBlocks, linesWithin, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, packLines } from '../limits.ts';
import { type Block, context, escapeMrkdwn, header, section, type SlackMessage, truncate } from './message.ts';

/** Cut to `limit`, marked with an ellipsis: a list line, not the whole text (a notice has that). */
const cut = (text: string, limit: number) => truncate(text, limit, '…');

/**
 * The readiness checklist and the live RPO as Slack text: in a readiness
 * run's message, the App Home and `/dr check status`. Pure. Failing items
 * come first, with why and how to fix; what does not fit is counted
 * ("… 12 more items: 12 pass"), never silently dropped.
 */

export const STATUS_EMOJI: Readonly<Record<ItemStatus, string>> = {
  fail: ':red_circle:',
  unknown: ':white_circle:',
  warn: ':large_yellow_circle:',
  pass: ':large_green_circle:',
};

/** Worst first: what needs someone comes before what is fine. `unknown` is never a pass. */
const STATUS_ORDER: readonly ItemStatus[] = ['fail', 'unknown', 'warn', 'pass'];

/** Caps on one item's parts as listed (a notice shows them whole). */
const TITLE_LIMIT = 120;
const VALUE_LIMIT = 160;
const REASON_LIMIT = 300;
const FIX_LIMIT = 240;
/** Targets listed at most; the rest are counted. */
const TARGETS_SHOWN = 8;
/** Room kept for the "… n more" note under a list. */
const NOTE_ROOM = 90;

/** `2026-12-07 10:30 UTC` */
export function whenText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Seconds of data as people say them: `0s`, `42s`, `1h 5m`. */
export function secondsText(seconds: number): string {
  if (seconds <= 0) return '0s';
  if (seconds < 1) return '< 1s';
  return formatDuration(Math.round(seconds) * 1_000);
}

function countsText(items: readonly ItemResult[]): string {
  const parts = STATUS_ORDER.flatMap((s) => {
    const n = items.filter((i) => i.status === s).length;
    return n ? [`${STATUS_EMOJI[s]} ${n} ${s}`] : [];
  });
  return parts.length ? parts.join(' · ') : 'no items';
}

function byStatus(items: readonly ItemResult[]): ItemResult[] {
  return [...items].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status));
}

/** One item: emoji, title, measured value, objective; and for anything but a pass, why and how to fix it. */
function itemText(item: ItemResult): string {
  const head = `${STATUS_EMOJI[item.status]} *${escapeMrkdwn(cut(item.title, TITLE_LIMIT))}* — ${escapeMrkdwn(cut(item.value, VALUE_LIMIT))} · objective ${escapeMrkdwn(cut(item.objective, TITLE_LIMIT))}`;
  if (item.status === 'pass') return head;
  const why = `\n      _Why:_ ${escapeMrkdwn(cut(item.reason, REASON_LIMIT))}`;
  return `${head}${why}${item.fix ? `\n      _Fix:_ ${escapeMrkdwn(cut(item.fix, FIX_LIMIT))}` : ''}`;
}

/**
 * Lines within `budget` characters, in their order; those left out are
 * counted by status on a last line.
 */
function within(lines: readonly { text: string; status: ItemStatus }[], budget: number, noun = 'item'): string[] {
  const { kept } = linesWithin(lines.map((l) => l.text), Math.max(0, budget - NOTE_ROOM));
  const left = lines.slice(kept.length);
  if (left.length === 0) return kept;
  const counts = STATUS_ORDER.flatMap((s) => {
    const n = left.filter((l) => l.status === s).length;
    return n ? [`${n} ${s}`] : [];
  });
  return [...kept, `_… ${plural(left.length, `more ${noun}`)}: ${counts.join(', ')}_`];
}

export interface ChecklistOptions {
  /** Only what is not a pass (the App Home): passes are counted in the heading. */
  attentionOnly?: boolean;
  /** For "checked 12m ago". */
  now?: number;
}

/** A target's heading and its items, failing first, within `budget` characters. */
export function checklistLines(target: TargetReport, budget: number, options: ChecklistOptions = {}): string[] {
  const age = options.now === undefined ? '' : ` (${formatDuration(Math.max(0, options.now - target.checkedAt))} ago)`;
  const heading = `*${escapeMrkdwn(target.target)}* (${target.role === 'primary' ? 'primary' : 'DR'}) · checked ${whenText(target.checkedAt)}${age} · ${countsText(target.items)}`;
  const items = byStatus(target.items).filter((i) => !options.attentionOnly || (i.status !== 'pass'));
  if (target.items.length === 0) return [heading, '_No items were checked on this target._'];
  if (items.length === 0) return [heading, 'Every item passes.'];
  return [heading, ...within(items.map((i) => ({ text: itemText(i), status: i.status })), budget - heading.length - 1)];
}

/** The live RPO, one line per scenario: exposure against objective, status, and what it is measured from. */
export function rpoLines(exposures: readonly Exposure[], budget: number): string[] {
  const heading = '*Live RPO* — the data a recovery started now would lose:';
  if (exposures.length === 0) return [heading, '_No scenario was measured._'];
  const sorted = [...exposures].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status));
  const lines = sorted.map((e) => ({
    status: e.status,
    text: `${STATUS_EMOJI[e.status]} *${escapeMrkdwn(cut(e.title, TITLE_LIMIT))}* — ${e.exposureSeconds === undefined ? 'not measured' : secondsText(e.exposureSeconds)} · objective ${secondsText(e.objectiveSeconds)} · _${escapeMrkdwn(cut(e.basis, REASON_LIMIT))}_`,
  }));
  return [heading, ...within(lines, budget - heading.length - 1, 'scenario')];
}

/** Sections of a list of targets, each within its share of `budget`; targets past TARGETS_SHOWN are counted. */
function targetBlocks(targets: readonly TargetReport[], budget: number, options: ChecklistOptions): Block[] {
  const shown = targets.slice(0, TARGETS_SHOWN);
  const each = Math.floor(budget / Math.max(1, shown.length));
  const blocks = shown.flatMap((t) => packLines(checklistLines(t, each, options)).map((text) => section(text)));
  if (targets.length > shown.length) blocks.push(context(`… ${plural(targets.length - shown.length, 'more target')} not shown`));
  return blocks;
}

/** Text of a message's parts other than the readiness (header, notes): kept aside from the budget. */
const FRAME_ROOM = 600;
const RPO_SHARE = 1_800;

/**
 * `/dr check status`: the latest stored check of each target and the live
 * RPO, without running a new check.
 */
export function renderReadinessStatus(latest: LatestReadiness, now: number, slash: string): SlackMessage {
  if (latest.targets.length === 0 && !latest.exposures) {
    return { text: `No readiness check has been recorded yet. \`${slash} check\` runs one.`, blocks: [section(`:information_source: No readiness check has been recorded yet (the last 7 days are kept). \`${slash} check\` runs one.`)] };
  }
  const rpo = latest.exposures ? rpoLines(latest.exposures.exposures, RPO_SHARE) : [];
  const budget = MESSAGE_BLOCK_TEXT_BUDGET - FRAME_ROOM - rpo.join('\n').length;
  const failing = latest.targets.reduce((n, t) => n + t.report.items.filter((i) => i.status === 'fail').length, 0);
  const blocks: Block[] = [
    header('Readiness: the latest check'),
    ...targetBlocks(latest.targets.map((t) => t.report), budget, { now }),
    ...(rpo.length ? [section(`${rpo.join('\n')}\n_measured ${whenText(latest.exposures?.checkedAt ?? now)}_`)] : []),
    context(`Stored results, no new check: \`${slash} check\` runs a fresh one. Failing items first.`),
  ];
  const summary = failing ? `${plural(failing, 'item')} failing` : 'no item failing';
  return { text: `Readiness: ${summary} (latest check)`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

/** Room the App Home gives readiness, leaving the rest to runs and schedules. */
const HOME_READINESS_BUDGET = 3_600;
const HOME_RPO_SHARE = 1_200;

/** The App Home's "Readiness" part: per target its counts and what is not passing, then the live RPO. */
export function readinessHomeBlocks(latest: LatestReadiness, now: number, slash: string): Block[] {
  if (latest.targets.length === 0 && !latest.exposures) {
    return [section(`*Readiness*\nNo check yet. \`${slash} check\` runs one; \`${slash} check status\` shows the latest.`)];
  }
  const rpo = latest.exposures ? rpoLines(latest.exposures.exposures, HOME_RPO_SHARE) : [];
  return [
    section('*Readiness* (latest check per target)'),
    ...targetBlocks(latest.targets.map((t) => t.report), HOME_READINESS_BUDGET - rpo.join('\n').length, { attentionOnly: true, now }),
    ...(rpo.length ? [section(rpo.join('\n'))] : []),
  ];
}

/** A readiness run's report in its run message, instead of the raw output: within `budget` characters. */
export function readinessRunBlocks(report: ReadinessReport, budget: number): Block[] {
  const rpo = rpoLines(report.exposures, Math.min(RPO_SHARE, Math.floor(budget / 3)));
  return [
    ...targetBlocks(report.targets, budget - rpo.join('\n').length - 1, {}),
    section(rpo.join('\n')),
  ];
}
