import { isTerminal, type PlannedStep, type Run, type StepRecord } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { packLines } from '../limits.ts';
import { type Block, escapeMrkdwn, section, truncate } from './message.ts';

const STEP_EMOJI: Record<StepRecord['state'], string> = {
  pending: ':white_small_square:',
  running: ':arrow_forward:',
  succeeded: ':heavy_check_mark:',
  failed: ':x:',
  skipped: ':fast_forward:',
  cancelled: ':black_square_for_stop:',
};

/** Above a runbook's `always` steps, in plans and live messages. */
const CLEANUP_HEADING = '*Always, however the run ends (cleanup):*';
/** One step's line at most: one long step never crowds out the others. */
const STEP_LINE_LIMIT = 600;
/** A plan too big to show whole shows its steps this short, so more of them fit. */
const COLLAPSED_STEP_LINE_LIMIT = 300;
/** Steps that are always shown, however big the plan: what is happening and what went wrong. */
const ALWAYS_SHOWN: ReadonlySet<StepRecord['state']> = new Set(['running', 'failed']);

/**
 * The plan's steps as sections within `budget` characters of text. A plan
 * that fits is shown whole. A bigger one collapses: the running and failed
 * steps always show (shortened if they must be), then the steps after the
 * running one, the first and the last, as many as fit; each run of steps
 * left out becomes one line saying how many and in what state, and the
 * message says where every step is listed.
 */
export function stepSections(run: Run, now: number, budget: number): Block[] {
  const full = run.plan.map((p) => stepLine(p, run.steps[p.stepId], run, now, STEP_LINE_LIMIT));
  const everything = layout(run, full, new Set(run.plan.keys()));
  if (cost(everything) <= budget) return packLines(everything).map((t) => section(t));

  const lines = run.plan.map((p) => stepLine(p, run.steps[p.stepId], run, now, COLLAPSED_STEP_LINE_LIMIT));
  const must = run.plan.flatMap((p, i) => (ALWAYS_SHOWN.has(run.steps[p.stepId]?.state ?? 'pending') ? [i] : []));
  // The steps that must show take at most half the room; with very many of them, each is shortened.
  const mustRoom = Math.floor(budget / 2);
  const mustCost = must.reduce((n, i) => n + (lines[i]?.length ?? 0) + 1, 0);
  if (mustCost > mustRoom) {
    const each = Math.max(60, Math.floor(mustRoom / Math.max(1, must.length)) - 1);
    for (const i of must) lines[i] = truncate(lines[i] ?? '', each, '…');
  }
  const shown = new Set(must);
  for (const i of candidates(run, must)) {
    shown.add(i);
    if (cost(layout(run, lines, shown)) > budget) {
      shown.delete(i);
      break;
    }
  }
  return packLines(layout(run, lines, shown)).map((t) => section(t));
}

/** Which steps to add, best first: the next ones after the running step, then first and last alternately. */
function candidates(run: Run, must: readonly number[]): number[] {
  const n = run.plan.length;
  const order: number[] = [];
  const running = run.plan.findIndex((p) => run.steps[p.stepId]?.state === 'running');
  if (running >= 0) order.push(running + 1, running + 2);
  for (let head = 0, tail = n - 1; head <= tail; head++, tail--) order.push(head, tail);
  const seen = new Set(must);
  const out: number[] = [];
  for (const i of order) {
    if (i < 0 || i >= n || seen.has(i)) continue;
    seen.add(i);
    out.push(i);
  }
  return out;
}

/** The lines to show: shown steps in order, each run of hidden ones as one line, cleanup under its heading. */
function layout(run: Run, lines: readonly string[], shown: ReadonlySet<number>): string[] {
  const out: string[] = [];
  let gap: number[] = [];
  let headingDone = false;
  const closeGap = () => {
    if (gap.length) out.push(gapLine(run, gap));
    gap = [];
  };
  run.plan.forEach((p, i) => {
    // A hidden run of steps never spans main and cleanup steps: the heading sits between them.
    if (p.always && !headingDone) {
      closeGap();
      out.push(CLEANUP_HEADING);
      headingDone = true;
    }
    if (shown.has(i)) {
      closeGap();
      out.push(lines[i] ?? '');
    } else gap.push(i);
  });
  closeGap();
  if (shown.size < run.plan.length) out.push(`_Every step: \`/dr show ${run.id} page 1\` (of ${stepPageCount(run)}) or \`npm run dr -- status ${run.id}\`_`);
  return joinHeadings(out);
}

/** Steps per page of `/dr show <run> page N`: fixed, so page N means the same steps each time it is asked for. */
export const STEPS_PER_PAGE = 15;
/** 15 lines of at most 500 characters leave the page's header and footer room within the message budget. */
const PAGE_STEP_LINE_LIMIT = 500;

export function stepPageCount(run: Pick<Run, 'plan'>): number {
  return Math.max(1, Math.ceil(run.plan.length / STEPS_PER_PAGE));
}

/** One page of a run's steps, every step on it shown, numbered as in the plan. `page` counts from 1 and is in range. */
export function stepPageLines(run: Run, page: number, now: number): string[] {
  const first = (page - 1) * STEPS_PER_PAGE;
  return run.plan.slice(first, first + STEPS_PER_PAGE).map((p, i) => {
    const line = stepLine(p, run.steps[p.stepId], run, now, PAGE_STEP_LINE_LIMIT);
    const cleanup = p.always && !run.plan[first + i - 1]?.always ? `${CLEANUP_HEADING}\n` : '';
    return `${cleanup}${first + i + 1}. ${line}`;
  });
}

/** The heading goes on the line of the first cleanup item, as one line of text. */
function joinHeadings(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === CLEANUP_HEADING && i + 1 < lines.length) {
      out.push(`${line}\n${lines[i + 1] ?? ''}`);
      i++;
    } else out.push(line);
  }
  return out;
}

/** `_… 12 more steps (3 done, 9 to do)_` */
function gapLine(run: Run, indices: readonly number[]): string {
  const counts = new Map<string, number>();
  for (const i of indices) {
    const state = run.steps[run.plan[i]?.stepId ?? '']?.state ?? 'pending';
    const word = state === 'succeeded' ? 'done' : state === 'pending' ? (isTerminal(run.state) ? 'not run' : 'to do') : state;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const breakdown = [...counts].map(([word, n]) => `${n} ${word}`).join(', ');
  return `_… ${indices.length} more step${indices.length === 1 ? '' : 's'} (${breakdown})_`;
}

function cost(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + l.length + 1, 0);
}

function stepLine(p: PlannedStep, s: StepRecord | undefined, run: Run, now: number, limit: number): string {
  const state = s?.state ?? 'pending';
  const name = `*${escapeMrkdwn(p.name)}*`;
  let detail: string;
  switch (state) {
    case 'pending':
      detail = isTerminal(run.state) ? 'not run' : p.lines.map((l) => escapeMrkdwn(l.detail)).join('; ');
      break;
    case 'running':
      detail = `${formatDuration(now - (s?.startedAt ?? now))}${s?.progress ? ` — ${escapeMrkdwn(s.progress.message)}` : ''}${s && s.attempts > 1 ? ` (attempt ${s.attempts})` : ''}`;
      break;
    case 'succeeded':
      detail = `done in ${formatDuration((s?.finishedAt ?? now) - (s?.startedAt ?? now))}`;
      break;
    case 'skipped':
      detail = s?.wouldDo ? `would ${s.wouldDo.map((l) => escapeMrkdwn(l.detail)).join('; ')}` : 'skipped';
      break;
    default:
      detail = escapeMrkdwn(s?.error ?? state);
  }
  return truncate(`${STEP_EMOJI[state]} ${name} — ${detail}`, limit);
}
