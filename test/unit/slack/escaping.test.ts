/**
 * User values in Slack: escaped in blocks and in the fallback `text`, kept
 * inside their code spans, and cut by grapheme cluster.
 */
import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/incidents/model.ts';
import { parseDrCommand } from '../../../src/slack/grammar.ts';
import { renderAudit } from '../../../src/slack/views/audit.ts';
import { renderChecklist, renderIncidentSummary } from '../../../src/slack/views/incident.ts';
import { code, escapeMrkdwn, header, HEADER_TEXT_LIMIT, plainFromMrkdwn } from '../../../src/slack/views/message.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { UserError } from '../../../src/errors.ts';

const HOSTILE = '<!channel> <@U0ADMIN01> <https://evil.example|click> & more';
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';

const userErrorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
  throw new Error('no error');
};

/** Every mrkdwn text object anywhere in some blocks (sections, contexts, confirm dialogs). */
const mrkdwnTexts = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(mrkdwnTexts);
  if (typeof value !== 'object' || value === null) return [];
  const o = value as Record<string, unknown>;
  const own = o.type === 'mrkdwn' && typeof o.text === 'string' ? [o.text] : [];
  return [...own, ...Object.values(o).flatMap(mrkdwnTexts)];
};

/** Every code span of a mrkdwn text, as Slack finds them (pairs of backticks). */
const codeSpans = (text: string): string[] => [...text.matchAll(/`([^`]*)`/g)].map((m) => m[1] ?? '');

describe('code(): a user value in a code span stays inside it', () => {
  it('turns backticks into ˋ, so the span cannot close early', () => {
    expect(code('a`b')).toBe('`a\u02CBb`');
    expect(code('x` <!channel> `y')).toBe('`x\u02CB &lt;!channel&gt; \u02CBy`');
    expect(codeSpans(`url=${code('https://x.example/?q=`*bold*`')} next`)).toEqual(['https://x.example/?q=\u02CB*bold*\u02CB']);
  });

  it('escapes &, < and >, and puts line breaks on one line', () => {
    expect(code(HOSTILE)).toBe(`\`${escapeMrkdwn(HOSTILE)}\``);
    expect(code('one\r\ntwo\nthree')).toBe('`one two three`');
    expect(code(42)).toBe('`42`');
  });

  it('plainFromMrkdwn turns a message back into plain words (modal errors)', () => {
    expect(plainFromMrkdwn(`There is no scenario ${code('<x>&`y')}.`)).toBe('There is no scenario <x>&\u02CBy.');
  });
});

describe('headers are cut by grapheme cluster', () => {
  it('never splits a surrogate pair or an emoji ZWJ sequence', () => {
    const h = header(`${'a'.repeat(130)}${FAMILY.repeat(5)}`);
    const text = h.type === 'header' ? h.text.text : '';
    expect(text.length).toBeLessThanOrEqual(HEADER_TEXT_LIMIT);
    expect(text.isWellFormed()).toBe(true);
    expect(text).toBe(`${'a'.repeat(130)}… (truncated)`);
    const surrogates = header('\u{1F525}'.repeat(100));
    expect(surrogates.type === 'header' && surrogates.text.text.isWellFormed()).toBe(true);
  });
});

describe('run message: parameters, fallback text', () => {
  const run = {
    id: 'rabc1234',
    runbookId: 'probe',
    runbookTitle: 'Probe <!channel> & co',
    params: { healthUrl: 'https://svc.example/health?q=`*bold* <!channel>`', note: 'line\nbreak' },
    requester: { id: 'U0ALICE001', via: 'slack' as const },
    origin: {},
    dryRun: false,
    policy: { required: 1, users: ['U0APPROVE1'], groups: [], allowSelfApproval: false, expiresInMs: 900_000 },
    createdAt: 0,
    expiresAt: 900_000,
    timeoutMs: 3_600_000,
    approvals: [],
    plan: [{ stepId: 'probe', name: 'Probe <!here>', use: 'wait', with: {}, timeoutMs: 1, retries: 0, lines: [{ action: 'check' as const, resource: 'x', detail: 'wait' }] }],
    steps: {},
    state: 'awaiting_approval' as const,
  };

  it('keeps a backtick in a URL parameter inside its code span', () => {
    const message = renderRunMessage(run, 0);
    const section = message.blocks?.find((b) => b.type === 'section' && b.text.text.includes('healthUrl='));
    const text = section?.type === 'section' ? section.text.text : '';
    expect(text).toContain('healthUrl=`https://svc.example/health?q=\u02CB*bold* &lt;!channel&gt;\u02CB`');
    expect(text).toContain('note=`line break`');
    // Every code span in the section is one Slack would render whole; none holds a mention.
    for (const span of codeSpans(text)) expect(span).not.toMatch(/[<>]/);
  });

  it('escapes the fallback text and every mrkdwn text, including the confirm dialog', () => {
    const message = renderRunMessage(run, 0);
    expect(message.text).toContain('Probe &lt;!channel&gt; &amp; co');
    expect(message.text).not.toContain('<!channel>');
    const texts = mrkdwnTexts(message.blocks);
    expect(texts.some((t) => t.includes('Probe &lt;!here&gt;'))).toBe(true);
    expect(texts.some((t) => t.includes('probe &lt;!here&gt;'))).toBe(true); // the Approve confirm dialog
    for (const t of texts) expect(t).not.toMatch(/<!channel>|<!here>/);
    // The header is plain_text: Slack shows it verbatim and parses no mentions there.
    expect(message.blocks?.[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: 'Probe <!channel> & co' } });
  });
});

describe('incident views: fallback text escaped', () => {
  const incident: Incident = {
    id: 'inc-x',
    scenario: 'region-outage',
    title: 'API <!channel> down',
    severity: 'sev1',
    public: true,
    declaredBy: 'U1',
    commander: 'U1',
    originChannel: 'C1',
    channelName: 'inc-x',
    affectedServices: ['api'],
    impact: 'all',
    startedAt: 0,
    rtoMs: 1,
    rpoMs: 1,
    state: 'investigating',
    currentStatus: 'x',
    runs: [],
  };

  it('the summary and a checklist escape their fallback text', () => {
    const summary = renderIncidentSummary(incident, {});
    expect(summary.text).toBe(':mag: API &lt;!channel&gt; down: investigating');
    const list = renderChecklist('inc-x', 'checklistDuring', 'During <!here>', ['a'], new Map());
    expect(list.text).toBe('During &lt;!here&gt;: 0 of 1 done');
  });

  it('the audit escapes its fallback text', () => {
    const audit = renderAudit({ id: 'r1', runbookId: '<!channel>', runbookTitle: 't', state: 'succeeded' } as Parameters<typeof renderAudit>[0], []);
    expect(audit.text).not.toContain('<!channel>');
  });
});

describe('errors echoed to the user keep user values in their code spans, escaped', () => {
  it('the grammar', () => {
    expect(userErrorOf(() => parseDrCommand('pi`ng <!channel>'))).toContain('Unknown command `pi\u02CBng`.');
    expect(userErrorOf(() => parseDrCommand('<!channel>'))).toContain('Unknown command `&lt;!channel&gt;`.');
    expect(userErrorOf(() => parseDrCommand('show <@U123>'))).toContain('not `&lt;@U123&gt;`');
    expect(userErrorOf(() => parseDrCommand('run x --f`orce'))).toContain('Unknown option `--f\u02CBorce`.');
    expect(userErrorOf(() => parseDrCommand('restore `x` y'))).toContain('not `\u02CBx\u02CB`');
    // Cut at 40 characters by grapheme cluster: no half surrogate pair.
    const long = userErrorOf(() => parseDrCommand('\u{1F525}'.repeat(30)));
    expect(long).toContain(`Unknown command \`${'\u{1F525}'.repeat(20)}…\`.`);
    expect(long.isWellFormed()).toBe(true);
  });
});
