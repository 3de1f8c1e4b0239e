import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeMrkdwn } from '../slack/views/message.ts';

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
 * the user text inside: inserted as they are in Slack messages, and reduced
 * to plain words on the public page.
 */
const BOT_MARKUP: ReadonlySet<Placeholder> = new Set(['commander', 'actions_taken', 'next_steps', 'timeline', 'during_checklist']);

export const TEMPLATE_FILES = {
  declared: 'incident-declared.md',
  update: 'incident-update.md',
  resolved: 'incident-resolved.md',
  statuspageDeclared: 'statuspage-declared.txt',
  statuspageUpdate: 'statuspage-update.txt',
  statuspageResolved: 'statuspage-resolved.txt',
  postmortem: 'postmortem.md',
  checklistDuring: 'checklist-during.md',
  checklistAfter: 'checklist-after.md',
} as const;
export type ChecklistKind = 'checklistDuring' | 'checklistAfter';
export type TemplateKind = keyof typeof TEMPLATE_FILES;

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
        problems.push(`${path}: missing (every message kind needs its template)`);
        continue;
      }
      for (const m of text.matchAll(PLACEHOLDER)) {
        const name = m[1] ?? '';
        if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
          const line = text.slice(0, m.index).split('\n').length;
          problems.push(`${path}:${line}: unknown placeholder {{${name}}} (known: ${PLACEHOLDERS.join(', ')})`);
        }
      }
      texts[kind] = text.trim();
      if (kind.startsWith('checklist') && checklistItems(text).length === 0) problems.push(`${path}: a checklist needs at least one \`- [ ] item\` line`);
    }
    if (problems.length) throw new TemplateError(problems);
    return new Templates(texts);
  }

  /**
   * Fills a template. Values are escaped for Slack (`mrkdwn`: no mentions, no
   * broken formatting) or flattened for the public page (`plain`).
   */
  render(kind: TemplateKind, values: TemplateValues): string {
    const plain = kind.startsWith('statuspage');
    return this.texts[kind].replace(PLACEHOLDER, (_m, name: Placeholder) => {
      const value = values[name] ?? '—';
      if (plain) return plainText(BOT_MARKUP.has(name) ? value.replace(/<[@#!][^>]*>/g, '') : value);
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

const CHECKLIST_ITEM = /^\s*[-*]\s*\[[ xX]?\]\s+(.+)$/;

function checklistItems(text: string): string[] {
  return text.split('\n').flatMap((l) => {
    const item = CHECKLIST_ITEM.exec(l)?.[1]?.trim();
    return item ? [item] : [];
  });
}

/** Public text: one line, no markup characters. */
function plainText(value: string): string {
  return Array.from(value, (c) => (c < ' ' || c === '<' || c === '>' ? ' ' : c)).join('').trim();
}
