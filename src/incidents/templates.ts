import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { PUBLIC_BODY_LIMIT, PUBLIC_NAME_LIMIT, publicText } from '../util/text.ts';

export const PLACEHOLDERS = [
  'title', 'status', 'scenario', 'impact', 'affected_services', 'started_at', 'current_status', 'public_message',
  'actions_taken', 'next_steps', 'etr', 'next_update_in', 'commander', 'rto_target', 'rpo_target', 'rto_remaining',
  'resolved_at', 'duration', 'rto_achieved', 'rto_verdict', 'rpo_achieved', 'rpo_verdict', 'incident_id', 'severity',
  'timeline', 'during_checklist',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateValues = Partial<Record<Placeholder, string>>;

/**
 * Values the bot builds as Slack markup itself (mentions, lists), escaping
 * the user text inside: inserted as they are in Slack messages. They are
 * internal: no status page template may name them.
 */
const BOT_MARKUP: ReadonlySet<Placeholder> = new Set(['commander', 'actions_taken', 'next_steps', 'timeline', 'during_checklist']);

/**
 * The only placeholders a status page template may name: the incident's
 * title, its state and the bot's fixed public sentence for it, the affected
 * services, and times. Everything else is internal (what changed, impact,
 * commander, actions, runs, targets, ids): naming it in a `statuspage-*`
 * template stops the start, so internal text cannot reach the public page.
 */
export const PUBLIC_PLACEHOLDERS: ReadonlySet<Placeholder> = new Set(['title', 'status', 'public_message', 'affected_services', 'next_update_in', 'started_at', 'resolved_at', 'duration']);

export const TEMPLATE_FILES = {
  declared: 'incident-declared.md',
  update: 'incident-update.md',
  resolved: 'incident-resolved.md',
  statuspageDeclared: 'statuspage-declared.txt',
  statuspageUpdate: 'statuspage-update.txt',
  statuspageResolved: 'statuspage-resolved.txt',
  statuspageName: 'statuspage-name.txt',
  postmortem: 'postmortem.md',
  checklistDuring: 'checklist-during.md',
  checklistAfter: 'checklist-after.md',
} as const;
export type ChecklistKind = 'checklistDuring' | 'checklistAfter';
export type TemplateKind = keyof typeof TEMPLATE_FILES;

/** Templates that may be missing (a TEMPLATES_DIR from before they existed): their built-in text. */
const OPTIONAL: Partial<Record<TemplateKind, string>> = { statuspageName: '{{title}}' };

const isPublic = (kind: TemplateKind): boolean => kind.startsWith('statuspage');

export class TemplateError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Message templates are invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'TemplateError';
    this.problems = problems;
  }
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/**
 * The incident message templates, loaded and checked at start: a template that
 * names an unknown placeholder stops the start with file and name. A file with
 * the same name in `overrideDir` replaces the shipped one.
 */
export class Templates {
  private readonly texts: Record<TemplateKind, string>;

  private constructor(texts: Record<TemplateKind, string>) {
    this.texts = texts;
  }

  static load(dir: string, overrideDir?: string): Templates {
    const problems: string[] = [];
    const texts = {} as Record<TemplateKind, string>;
    for (const [kind, file] of Object.entries(TEMPLATE_FILES) as [TemplateKind, string][]) {
      const override = overrideDir ? join(overrideDir, file) : undefined;
      const path = override && existsSync(override) ? override : join(dir, file);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        const fallback = OPTIONAL[kind];
        if (fallback === undefined) {
          problems.push(`${path}: missing (every message kind needs its template)`);
          continue;
        }
        text = fallback;
      }
      for (const m of text.matchAll(PLACEHOLDER)) {
        const name = m[1] ?? '';
        const line = text.slice(0, m.index).split('\n').length;
        if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
          problems.push(`${path}:${line}: unknown placeholder {{${name}}} (known: ${PLACEHOLDERS.join(', ')})`);
        } else if (isPublic(kind) && !PUBLIC_PLACEHOLDERS.has(name as Placeholder)) {
          problems.push(`${path}:${line}: {{${name}}} is internal and cannot go on the public status page (public: ${[...PUBLIC_PLACEHOLDERS].join(', ')})`);
        }
      }
      texts[kind] = text.trim();
      if (kind.startsWith('checklist') && checklistItems(text).length === 0) problems.push(`${path}: a checklist needs at least one \`- [ ] item\` line`);
      if (kind.startsWith('checklist') && checklistItems(text).length > CHECKLIST_ITEMS_LIMIT) problems.push(`${path}: a checklist has at most ${String(CHECKLIST_ITEMS_LIMIT)} items (it has ${String(checklistItems(text).length)}); split it or move details into the runbooks`);
    }
    if (problems.length) throw new TemplateError(problems);
    return new Templates(texts);
  }

  /**
   * Fills a template. Values are escaped for Slack (`mrkdwn`: no mentions, no
   * broken formatting). A status page template takes public placeholders only
   * (checked at load), each value cleaned by `publicText`, and the result is
   * cleaned again as a whole: the incident name is one line of at most 255
   * characters, a body at most PUBLIC_BODY_LIMIT.
   */
  render(kind: TemplateKind, values: TemplateValues): string {
    if (isPublic(kind)) {
      const filled = this.texts[kind].replace(PLACEHOLDER, (_m, name: Placeholder) => (PUBLIC_PLACEHOLDERS.has(name) ? publicText(values[name] ?? '—') : ''));
      return kind === 'statuspageName' ? publicText(filled, { max: PUBLIC_NAME_LIMIT }) : publicText(filled, { max: PUBLIC_BODY_LIMIT, multiline: true });
    }
    return this.texts[kind].replace(PLACEHOLDER, (_m, name: Placeholder) => {
      const value = values[name] ?? '—';
      return BOT_MARKUP.has(name) ? value : escapeMrkdwn(value);
    });
  }

  /** The items of a checklist template, in order. */
  checklist(kind: ChecklistKind): string[] {
    return checklistItems(this.texts[kind]);
  }

  /** A checklist's heading: its first line that is not an item. */
  checklistTitle(kind: ChecklistKind): string {
    return this.texts[kind].split('\n').find((l) => l.trim() && !CHECKLIST_ITEM.test(l))?.replace(/^#+\s*/, '').trim() ?? 'Checklist';
  }
}

/** Items in one checklist: posted in messages of 25, so at most 8 messages in the channel. */
export const CHECKLIST_ITEMS_LIMIT = 200;

const CHECKLIST_ITEM = /^\s*[-*]\s*\[[ xX]?\]\s+(.+)$/;

function checklistItems(text: string): string[] {
  return text.split('\n').flatMap((l) => {
    const item = CHECKLIST_ITEM.exec(l)?.[1]?.trim();
    return item ? [item] : [];
  });
}
