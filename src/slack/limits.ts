import { capText, truncate } from '../util/text.ts';

/**
 * Slack's message limits, in one place, and the helpers that keep every view
 * inside them. Pure. Per-element limits are documented (docs.slack.dev,
 * Block Kit reference); the total is not: see MESSAGE_BLOCK_TEXT_BUDGET.
 */

/** Blocks in one message (chat.postMessage, chat.update, response_url). */
export const MESSAGE_BLOCKS_LIMIT = 50;
/** Blocks in a modal or the App Home tab. */
export const VIEW_BLOCKS_LIMIT = 100;
/**
 * Our budget for all text in one message's blocks. Slack refuses a message
 * whose blocks hold too much text in total (`msg_blocks_too_long`); this is not
 * documented, and refusals are reported from about 11,300 characters while the
 * largest accepted report is about 9,600 (slackapi/bolt-js #2509, #2867).
 * 9,000 keeps a margin below everything seen accepted.
 */
export const MESSAGE_BLOCK_TEXT_BUDGET = 9_000;
/** Slack advises at most this much top-level `text` (chat.postMessage docs); longer may be split or refused. */
export const TEXT_RECOMMENDED_LIMIT = 4_000;
/** Past this Slack truncates top-level `text` (changelog 2018-04); the fake refuses with `msg_too_long`. */
export const TEXT_HARD_LIMIT = 40_000;

export const SECTION_TEXT_LIMIT = 3_000;
export const SECTION_FIELDS_LIMIT = 10;
export const SECTION_FIELD_TEXT_LIMIT = 2_000;
export const HEADER_TEXT_LIMIT = 150;
export const CONTEXT_ELEMENTS_LIMIT = 10;
export const ACTIONS_ELEMENTS_LIMIT = 25;
export const BUTTON_TEXT_LIMIT = 75;
export const BUTTON_VALUE_LIMIT = 2_000;
export const ACTION_ID_LIMIT = 255;
export const BLOCK_ID_LIMIT = 255;
export const CONFIRM_TITLE_LIMIT = 100;
export const CONFIRM_TEXT_LIMIT = 300;
export const CONFIRM_BUTTON_LIMIT = 30;
export const OPTION_TEXT_LIMIT = 75;
export const HINT_TEXT_LIMIT = 150;
export const MODAL_TITLE_LIMIT = 24;
export const PRIVATE_METADATA_LIMIT = 3_000;

/** What fitBlocks keeps a list of blocks within. */
export interface BlockLimits {
  blocks: number;
  text: number;
}
export const MESSAGE_LIMITS: BlockLimits = { blocks: MESSAGE_BLOCKS_LIMIT, text: MESSAGE_BLOCK_TEXT_BUDGET };
export const VIEW_LIMITS: BlockLimits = { blocks: VIEW_BLOCKS_LIMIT, text: MESSAGE_BLOCK_TEXT_BUDGET };

/**
 * The text a person reads in blocks, as Slack counts it towards its total:
 * every text object (`plain_text` or `mrkdwn`) anywhere in them: section text
 * and fields, headers, context elements, buttons, confirm dialogs, options.
 */
export function blockTextLength(blocks: readonly unknown[] | undefined): number {
  let total = 0;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    if ((record.type === 'plain_text' || record.type === 'mrkdwn') && typeof record.text === 'string') {
      total += record.text.length;
      return;
    }
    for (const v of Object.values(record)) visit(v);
  };
  visit(blocks ?? []);
  return total;
}

/**
 * Splits `text` into parts of at most `limit` characters on line boundaries,
 * numbered `(1/3) ` when there is more than one. A line longer than a part is
 * cut into pieces. For long top-level texts (threads, post-mortems).
 */
export function splitText(text: string, limit: number): string[] {
  if (text.length <= limit) return [text];
  // Reserve room for the number; grow the reservation if there are more parts than it allowed.
  for (let digits = 1; ; digits++) {
    const marker = `(${'9'.repeat(digits)}/${'9'.repeat(digits)}) `.length;
    const parts = packLines(hardWrap(text.split('\n'), limit - marker), limit - marker);
    if (String(parts.length).length <= digits) return parts.map((p, i) => `(${i + 1}/${parts.length}) ${p}`);
  }
}

/** Lines longer than `limit` cut into pieces of at most `limit`, by grapheme cluster. */
function hardWrap(lines: readonly string[], limit: number): string[] {
  const out: string[] = [];
  for (const line of lines) {
    let rest = line;
    while (rest.length > limit) {
      const piece = truncate(rest, limit, '');
      out.push(piece);
      rest = rest.slice(piece.length);
    }
    out.push(rest);
  }
  return out;
}

/** Groups lines into as few texts of at most `limit` characters as their order allows; a longer line is cut. */
export function packLines(lines: readonly string[], limit = SECTION_TEXT_LIMIT): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const last = out.at(-1);
    if (last !== undefined && last.length + line.length + 1 <= limit) out[out.length - 1] = `${last}\n${line}`;
    else out.push(capText(line, limit));
  }
  return out;
}

/**
 * Keeps as many of `lines` as fit in `budget` characters (newlines counted),
 * from the start or, with `from: 'end'`, from the end. Returns the kept lines
 * in their order and how many were left out.
 */
export function linesWithin(lines: readonly string[], budget: number, from: 'start' | 'end' = 'start'): { kept: string[]; omitted: number } {
  const order = from === 'start' ? lines : [...lines].reverse();
  const kept: string[] = [];
  let used = 0;
  for (const line of order) {
    const cost = line.length + (kept.length ? 1 : 0);
    if (used + cost > budget) break;
    kept.push(line);
    used += cost;
  }
  if (from === 'end') kept.reverse();
  return { kept, omitted: lines.length - kept.length };
}

type TextObject = { type: 'plain_text' | 'mrkdwn'; text: string };

/**
 * The last line of defence, after a view has laid itself out within the
 * limits: too many blocks drops the middle ones (the first and the last,
 * where views keep buttons and footers, stay) for one context note; too much
 * text shortens the longest texts, each with a note of how much was cut.
 * A view that fits is returned unchanged.
 */
export function fitBlocks<B extends object>(blocks: readonly B[], limits: BlockLimits = MESSAGE_LIMITS): B[] {
  let out: B[] = [...blocks];
  if (out.length > limits.blocks) {
    const keepHead = Math.ceil((limits.blocks - 1) / 2);
    const keepTail = limits.blocks - 1 - keepHead;
    const dropped = out.length - keepHead - keepTail;
    const note = { type: 'context', elements: [{ type: 'mrkdwn', text: `… ${dropped} more blocks not shown` }] } as unknown as B;
    out = [...out.slice(0, keepHead), note, ...out.slice(out.length - keepTail)];
  }
  let excess = blockTextLength(out) - limits.text;
  if (excess <= 0) return out;
  out = structuredClone(out);
  const texts = textObjects(out).sort((a, b) => b.text.length - a.text.length);
  for (const t of texts) {
    if (excess <= 0) break;
    // Shorten the longest first; never below a readable stub.
    const target = Math.max(80, t.text.length - excess);
    if (target >= t.text.length) continue;
    const before = t.text.length;
    t.text = t.type === 'plain_text' ? truncate(t.text, target, '…') : capText(t.text, target);
    excess -= before - t.text.length;
  }
  return out;
}

function textObjects(value: unknown, found: TextObject[] = []): TextObject[] {
  if (Array.isArray(value)) {
    for (const v of value) textObjects(v, found);
  } else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if ((record.type === 'plain_text' || record.type === 'mrkdwn') && typeof record.text === 'string') found.push(record as TextObject);
    else for (const v of Object.values(record)) textObjects(v, found);
  }
  return found;
}
