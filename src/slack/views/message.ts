import { truncate } from '../../util/text.ts';
import { code, escapeMrkdwn, plainFromMrkdwn } from '../../util/mrkdwn.ts';
import { HEADER_TEXT_LIMIT, SECTION_TEXT_LIMIT } from '../limits.ts';

/**
 * The one Slack escaping module: every view, fallback `text` and error shown
 * in Slack escapes user values with `escapeMrkdwn`, puts them in code spans
 * with `code`, and cuts with `truncate` (by grapheme cluster).
 */
export { code, escapeMrkdwn, plainFromMrkdwn, truncate };

/** A Slack message body: fallback text (notifications, screen readers) plus optional blocks. */
export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

/** The subset of Block Kit the bot renders. Kept structural so views stay pure data. */
export type Block =
  | { type: 'section'; text: MarkdownText; block_id?: string; accessory?: Button }
  | { type: 'header'; text: PlainText }
  | { type: 'context'; elements: MarkdownText[] }
  | { type: 'actions'; block_id?: string; elements: Button[] }
  | { type: 'divider' };

export interface Button {
  type: 'button';
  text: PlainText;
  action_id: string;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: { title: PlainText; text: MarkdownText; confirm: PlainText; deny: PlainText };
}

export interface MarkdownText {
  type: 'mrkdwn';
  text: string;
}
export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

/** Kept here too for the views' and tests' imports; the limits live in ../limits.ts. */
export { HEADER_TEXT_LIMIT, SECTION_TEXT_LIMIT };

export function mrkdwn(text: string): MarkdownText {
  return { type: 'mrkdwn', text: truncate(text, SECTION_TEXT_LIMIT) };
}

export function section(text: string): Block {
  return { type: 'section', text: mrkdwn(text) };
}

export function header(text: string): Block {
  return { type: 'header', text: { type: 'plain_text', text: truncate(text, HEADER_TEXT_LIMIT), emoji: true } };
}

export function context(text: string): Block {
  return { type: 'context', elements: [mrkdwn(text)] };
}

