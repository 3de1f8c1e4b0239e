/**
 * Slack's checks on a message body, as the fake Slack applies them to
 * chat.postMessage, chat.update, chat.postEphemeral and response_url posts.
 * The numbers are written here on their own (not imported from
 * src/slack/limits.ts), so that a wrong number in the bot is caught, not shared.
 *
 * - Per element (documented, docs.slack.dev Block Kit reference): 50 blocks,
 *   section text 3,000, fields 10 × 2,000, header 150 (plain_text), context 10
 *   elements, actions 25 elements, button text 75 / value 2,000 / action_id
 *   255, block_id 255, confirm title 100 / text 300 / buttons 30, and no
 *   empty text: `invalid_blocks`, with the place in `detail`.
 * - All text in the blocks together (not documented): refusals are reported
 *   from about 11,300 characters (slackapi/bolt-js #2509, #2867); the fake
 *   refuses above 11,000 with `msg_blocks_too_long`, so the bot's own budget
 *   (9,000) has a margin and a test can still show a refusal.
 * - Top-level `text`: over 40,000 `msg_too_long`; over 4,000 Slack advises
 *   against it (a warning, not a refusal).
 */

export const FAKE_BLOCK_TEXT_REFUSED_ABOVE = 11_000;
const MAX_BLOCKS = 50;
const TEXT_REFUSED_ABOVE = 40_000;
const TEXT_ADVISED_MAX = 4_000;

export interface MessageCheck {
  /** Slack's error code when it would refuse the message. */
  error?: string;
  /** Where and why, as Slack's `response_metadata.messages` says it. */
  detail?: string;
  warnings: string[];
}

type Json = Record<string, unknown>;

export function checkMessage(payload: { text?: unknown; blocks?: unknown }): MessageCheck {
  const warnings: string[] = [];
  const { text, blocks } = payload;
  if (blocks === undefined && (typeof text !== 'string' || text === '')) return { error: 'no_text', warnings };
  if (typeof text === 'string') {
    if (text.length > TEXT_REFUSED_ABOVE) return { error: 'msg_too_long', detail: `text has ${text.length} characters (at most ${TEXT_REFUSED_ABOVE})`, warnings };
    if (text.length > TEXT_ADVISED_MAX) warnings.push(`text has ${text.length} characters; Slack advises at most ${TEXT_ADVISED_MAX}`);
  }
  if (blocks === undefined) return { warnings };
  if (!Array.isArray(blocks)) return { error: 'invalid_blocks', detail: 'blocks is not an array', warnings };
  if (blocks.length > MAX_BLOCKS) return { error: 'invalid_blocks', detail: `${blocks.length} blocks (at most ${MAX_BLOCKS})`, warnings };
  for (const [i, block] of blocks.entries()) {
    const problem = isRecord(block) ? blockProblem(block) : 'not an object';
    if (problem) return { error: 'invalid_blocks', detail: `[ERROR] ${problem} [json-pointer:/blocks/${i}]`, warnings };
  }
  const total = textLength(blocks);
  if (total > FAKE_BLOCK_TEXT_REFUSED_ABOVE) return { error: 'msg_blocks_too_long', detail: `blocks hold ${total} characters of text`, warnings };
  return { warnings };
}

/** All text objects' characters in the blocks: sections, fields, headers, context, buttons, confirm dialogs. */
export function textLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + textLength(v), 0);
  if (!isRecord(value)) return 0;
  if ((value.type === 'plain_text' || value.type === 'mrkdwn') && typeof value.text === 'string') return value.text.length;
  return Object.values(value).reduce((n: number, v) => n + textLength(v), 0);
}

function blockProblem(block: Json): string | undefined {
  if (typeof block.block_id === 'string' && block.block_id.length > 255) return 'block_id longer than 255';
  switch (block.type) {
    case 'section': {
      const fields = Array.isArray(block.fields) ? block.fields : undefined;
      if (block.text === undefined && !fields) return 'section needs text or fields';
      if (block.text !== undefined) {
        const problem = textProblem(block.text, 3_000);
        if (problem) return `section text: ${problem}`;
      }
      if (fields && fields.length > 10) return `section has ${fields.length} fields (at most 10)`;
      for (const f of fields ?? []) {
        const problem = textProblem(f, 2_000);
        if (problem) return `section field: ${problem}`;
      }
      return isRecord(block.accessory) && block.accessory.type === 'button' ? buttonProblem(block.accessory) : undefined;
    }
    case 'header': {
      const problem = textProblem(block.text, 150);
      if (problem) return `header text: ${problem}`;
      return isRecord(block.text) && block.text.type !== 'plain_text' ? 'header text must be plain_text' : undefined;
    }
    case 'context': {
      const elements = Array.isArray(block.elements) ? block.elements : [];
      if (elements.length === 0 || elements.length > 10) return `context has ${elements.length} elements (1 to 10)`;
      for (const e of elements) {
        if (isRecord(e) && e.type === 'image') continue;
        const problem = textProblem(e, 3_000);
        if (problem) return `context element: ${problem}`;
      }
      return undefined;
    }
    case 'actions': {
      const elements = Array.isArray(block.elements) ? block.elements : [];
      if (elements.length === 0 || elements.length > 25) return `actions has ${elements.length} elements (1 to 25)`;
      for (const e of elements) {
        const problem = isRecord(e) && e.type === 'button' ? buttonProblem(e) : undefined;
        if (problem) return problem;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function buttonProblem(button: Json): string | undefined {
  const text = textProblem(button.text, 75);
  if (text) return `button text: ${text}`;
  if (typeof button.value === 'string' && button.value.length > 2_000) return 'button value longer than 2000';
  if (typeof button.action_id === 'string' && button.action_id.length > 255) return 'action_id longer than 255';
  if (button.confirm === undefined) return undefined;
  if (!isRecord(button.confirm)) return 'confirm is not an object';
  const limits: [string, number][] = [['title', 100], ['text', 300], ['confirm', 30], ['deny', 30]];
  for (const [key, max] of limits) {
    if (key === 'deny' && button.confirm.deny === undefined) continue;
    const problem = textProblem(button.confirm[key], max);
    if (problem) return `confirm ${key}: ${problem}`;
  }
  return undefined;
}

function textProblem(value: unknown, max: number): string | undefined {
  if (!isRecord(value) || (value.type !== 'plain_text' && value.type !== 'mrkdwn') || typeof value.text !== 'string') return 'not a text object';
  if (value.text.length === 0) return 'empty text';
  if (value.text.length > max) return `must be less than ${max + 1} characters (has ${value.text.length})`;
  return undefined;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
