/**
 * Text functions every surface shares. Pure.
 *
 * - `truncate()`: the one cut, for Slack views and public text alike. It cuts
 *   between grapheme clusters only (Intl.Segmenter), so an emoji ZWJ
 *   sequence, a flag, a surrogate pair or a letter with its combining marks is
 *   kept whole or dropped whole, never split.
 * - `publicText()`: the one cleaner for text that leaves for the public status
 *   page (see templates/README.md, "Public text").
 */

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The grapheme clusters of `text` (what a person counts as characters). */
export function graphemes(text: string): string[] {
  return Array.from(graphemeSegmenter.segment(text), (s) => s.segment);
}

/**
 * Cuts `text` to at most `limit` UTF-16 code units, `note` included, and ends
 * it with `note` when something was cut. Slack's and Statuspage's limits count
 * characters; a result within `limit` code units is within them however they
 * count. Only whole grapheme clusters are kept.
 */
export function truncate(text: string, limit: number, note = '… (truncated)'): string {
  if (text.length <= limit) return text;
  if (note.length > limit) return truncate(text, limit, '');
  const room = limit - note.length;
  let kept = '';
  for (const { segment } of graphemeSegmenter.segment(text)) {
    if (kept.length + segment.length > room) break;
    kept += segment;
  }
  return kept + note;
}

/** Bidirectional controls: embeddings, overrides, isolates, and the invisible direction marks. */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/**
 * Zero-width and invisible characters: zero-width space, non-joiner and
 * joiner, word joiner, the BOM, the invisible math operators (U+2061–2064)
 * and the deprecated format characters (U+206A–206F).
 */
const INVISIBLE = /[\u200B-\u200D\u2060-\u2064\u206A-\u206F\uFEFF]/g;
/** C0 and C1 control characters other than the ordinary whitespace ones (tab, line feed, …). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000E-\u001F\u007F-\u009F]/g;
/** Slack markup: `<target>` or `<target|label>` (mentions, `<!channel>`, channels, links). */
const SLACK_MARKUP = /<([^<>\s|]*)(?:\|([^<>]*))?>/g;
/** An entity Slack encodes user text with. */
const ENTITY = /&(lt|gt|amp);/g;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&' };

/** Statuspage's limit for an incident name. */
export const PUBLIC_NAME_LIMIT = 255;
/** Our cap on a status page update's body: a few sentences, never a log. */
export const PUBLIC_BODY_LIMIT = 2_000;

export interface PublicTextOptions {
  /** At most this many UTF-16 code units, cut by grapheme cluster with `…`. Default: PUBLIC_NAME_LIMIT. */
  max?: number;
  /** Keep line breaks (a whole update body); otherwise everything is one line. */
  multiline?: boolean;
}

/**
 * Text that may go on the public status page, from any value:
 * - control characters, bidi controls (U+202A–202E, U+2066–2069, U+200E,
 *   U+200F, U+061C) and zero-width characters (U+200B–200D, U+2060, U+FEFF)
 *   removed; tabs and line breaks become spaces (kept as line breaks only
 *   with `multiline`);
 * - Slack markup removed: mentions (`<@U…>`), `<!channel>` / `<!here>` /
 *   user groups and `<#C…|channel>` links vanish with their labels (people and
 *   internal channels are never named publicly), a link `<url|label>` becomes
 *   its label and `<url>` its address; Slack's `&lt;` `&gt;` count as the
 *   characters they stand for, `&amp;` becomes `&`, and any `<` or `>` left
 *   becomes a space, so nothing can read as markup or HTML on the page;
 * - `*`, `_` and `~` are kept: they cannot mention or link, and names like
 *   `db_primary` need them;
 * - runs of spaces collapsed, trimmed, and cut to `max` by grapheme cluster.
 * Idempotent: cleaning clean text changes nothing.
 */
export function publicText(value: string, options: PublicTextOptions = {}): string {
  const max = options.max ?? PUBLIC_NAME_LIMIT;
  let text = value.toWellFormed().replace(BIDI_CONTROLS, '').replace(INVISIBLE, '').replace(CONTROL, '');
  // Decode until stable: `&amp;lt;` is a `<` typed as an entity, and must not survive as one.
  for (let before = ''; before !== text; ) {
    before = text;
    text = text.replace(ENTITY, (_m, name: string) => ENTITIES[name] ?? '');
  }
  text = text
    .replace(SLACK_MARKUP, (_m, target: string, label: string | undefined) => {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return ` ${label?.trim() ? label : target} `;
      // Mentions, @channel/@here, user groups, channels, and anything else in angle brackets.
      return ' ';
    })
    .replace(/[<>]/g, ' ');
  text = options.multiline
    ? text
        .replace(/\r\n?|[\u2028\u2029]/g, '\n')
        .split('\n')
        .map((line) => line.replace(/\s+/g, ' ').trim())
        .join('\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim()
    : text.replace(/\s+/g, ' ').trim();
  return truncate(text, max, '…');
}

/** `1 pod`, `3 pods`, `0 pods`: a count with its noun, singular only for one. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

/**
 * Cuts `text` to at most `limit` characters, saying how much was cut:
 * `… (1,234 more characters)` at the end, or with `where: 'middle'` (errors,
 * whose cause is often at the end) `… (1,234 characters cut) …` between the
 * start and the end. Cuts between grapheme clusters only.
 */
export function capText(text: string, limit: number, where: 'end' | 'middle' = 'end'): string {
  if (text.length <= limit) return text;
  // The note's length depends on the number it carries; the largest possible number sizes it.
  const noteFor = (cut: number) => (where === 'end' ? `… (${cut.toLocaleString('en-US')} more characters)` : ` … (${cut.toLocaleString('en-US')} characters cut) … `);
  const room = limit - noteFor(text.length).length;
  if (room <= 0) return truncate(text, limit, '…');
  if (where === 'end') {
    const kept = truncate(text, room, '');
    return kept + noteFor(text.length - kept.length);
  }
  const head = truncate(text, Math.ceil((room * 2) / 3), '');
  const tail = lastGraphemes(text, room - head.length);
  return head + noteFor(text.length - head.length - tail.length) + tail;
}

/** The end of `text`, at most `limit` characters of whole grapheme clusters. */
function lastGraphemes(text: string, limit: number): string {
  let tail = '';
  for (const g of graphemes(text).reverse()) {
    if (tail.length + g.length > limit) break;
    tail = g + tail;
  }
  return tail;
}
