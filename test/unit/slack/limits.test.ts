import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/incidents/model.ts';
import type { AuditEntry, PlannedStep, Run, StepRecord } from '../../../src/runs/model.ts';
import type { Runbook } from '../../../src/runbooks/schema.ts';
import { blockTextLength, fitBlocks, MESSAGE_BLOCK_TEXT_BUDGET, splitText } from '../../../src/slack/limits.ts';
import { capText } from '../../../src/util/text.ts';
import { renderAudit } from '../../../src/slack/views/audit.ts';
import { renderHelp } from '../../../src/slack/views/help.ts';
import { renderHome } from '../../../src/slack/views/home.ts';
import { renderChecklist, renderIncidentSummary } from '../../../src/slack/views/incident.ts';
import { renderRunbookList, renderRunList } from '../../../src/slack/views/lists.ts';
import { type Block, section, type SlackMessage } from '../../../src/slack/views/message.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { checkMessage } from '../../support/slack-limits.ts';
import { runFields } from '../../support/runs.ts';

/** A message Slack accepts, within the bot's own budget, with nothing Slack would warn about. */
function expectFits(message: SlackMessage): void {
  const blocks = message.blocks ?? [];
  expect(blocks.length).toBeLessThanOrEqual(50);
  expect(blockTextLength(blocks)).toBeLessThanOrEqual(MESSAGE_BLOCK_TEXT_BUDGET);
  expect(checkMessage(message)).toEqual({ warnings: [] });
}

function sectionTexts(message: SlackMessage): string {
  return (message.blocks ?? []).flatMap((b) => (b.type === 'section' || b.type === 'context' ? [b.type === 'section' ? b.text.text : b.elements.map((e) => e.text).join(' ')] : [])).join('\n');
}

describe('limit helpers', () => {
  it('counts every text a reader sees in blocks: sections, fields, headers, context, buttons and their dialogs', () => {
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'abc' } },
      { type: 'section', text: { type: 'mrkdwn', text: '12345' }, fields: [{ type: 'mrkdwn', text: '12' }] },
      { type: 'context', elements: [{ type: 'mrkdwn', text: '1234' }, { type: 'mrkdwn', text: '1' }] },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Go' }, value: 'not-text', confirm: { title: { type: 'plain_text', text: 'Sure?' }, text: { type: 'mrkdwn', text: 'Yes' } } }] },
    ];
    expect(blockTextLength(blocks)).toBe(3 + 5 + 2 + 4 + 1 + 2 + 5 + 3);
  });

  it('caps text and says how much was cut', () => {
    expect(capText('short', 10)).toBe('short');
    const capped = capText('x'.repeat(5_000), 1_000);
    expect(capped.length).toBeLessThanOrEqual(1_000);
    // What is kept and what the note says was cut add up to the whole.
    const cut = Number(/… \(([\d,]+) more characters\)$/.exec(capped)?.[1]?.replace(',', ''));
    expect(capped.indexOf('…') + cut).toBe(5_000);
  });

  it('can cut an error in the middle, keeping its start and its end (often the cause)', () => {
    const error = `POST http://127.0.0.1:9/${'a'.repeat(3_000)} failed: ECONNREFUSED`;
    const capped = capText(error, 900, 'middle');
    expect(capped.length).toBeLessThanOrEqual(900);
    expect(capped.startsWith('POST http://127.0.0.1:9/aaa')).toBe(true);
    expect(capped.endsWith('aaa failed: ECONNREFUSED')).toBe(true);
    expect(capped).toMatch(/ … \(2,\d{3} characters cut\) … /);
  });

  it('splits long text into numbered parts on line boundaries', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ${'y'.repeat(40)}`);
    const parts = splitText(lines.join('\n'), 4_000);
    expect(parts.length).toBe(4);
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(4_000);
      expect(p.startsWith(`(${i + 1}/4) line `)).toBe(true);
    });
    // Nothing lost, no line split.
    expect(parts.map((p) => p.replace(/^\(\d\/4\) /, '')).join('\n')).toBe(lines.join('\n'));
    expect(splitText('one line', 4_000)).toEqual(['one line']);
    expect(splitText('z'.repeat(9_000), 4_000).every((p) => p.length <= 4_000)).toBe(true);
  });

  it('fitBlocks leaves a fitting message alone, and otherwise keeps the first and last blocks and shortens the longest texts', () => {
    const small = [section('a'), section('b')];
    expect(fitBlocks(small)).toEqual(small);
    const many: Block[] = [...Array.from({ length: 60 }, (_, i) => section(`s${i}`)), { type: 'actions', elements: [] }];
    const fitted = fitBlocks(many);
    expect(fitted).toHaveLength(50);
    expect(fitted[0]).toEqual(section('s0'));
    expect(fitted.at(-1)).toEqual({ type: 'actions', elements: [] });
    expect(JSON.stringify(fitted)).toContain('more blocks not shown');
    const heavy = [section('x'.repeat(3_000)), section('y'.repeat(3_000)), section('z'.repeat(3_000)), section('w'.repeat(3_000))];
    const shortened = fitBlocks(heavy);
    expect(blockTextLength(shortened)).toBeLessThanOrEqual(MESSAGE_BLOCK_TEXT_BUDGET);
    expect(JSON.stringify(shortened)).toContain('more characters)');
  });
});

describe('the fake Slack refuses what Slack refuses', () => {
  const sections = (n: number, size: number) => Array.from({ length: n }, () => section('x'.repeat(size)));

  it('refuses blocks over the total text limit with msg_blocks_too_long, and accepts the bot\'s budget', () => {
    expect(checkMessage({ text: 't', blocks: sections(4, 2_900) }).error).toBe('msg_blocks_too_long');
    expect(checkMessage({ text: 't', blocks: sections(3, 3_000) }).error).toBeUndefined();
  });

  it('refuses more than 50 blocks and elements over their limits with invalid_blocks', () => {
    expect(checkMessage({ text: 't', blocks: sections(51, 1) }).error).toBe('invalid_blocks');
    expect(checkMessage({ text: 't', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3_001) } }] })).toMatchObject({ error: 'invalid_blocks', detail: expect.stringContaining('/blocks/0') as unknown });
    expect(checkMessage({ text: 't', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }] }).error).toBe('invalid_blocks');
    const button = { type: 'button', text: { type: 'plain_text', text: 'x'.repeat(76) }, action_id: 'a', value: 'v' };
    expect(checkMessage({ text: 't', blocks: [{ type: 'actions', elements: [button] }] }).error).toBe('invalid_blocks');
  });

  it('refuses text over 40,000 characters and warns over 4,000', () => {
    expect(checkMessage({ text: 'x'.repeat(40_001) }).error).toBe('msg_too_long');
    expect(checkMessage({ text: 'x'.repeat(4_001) })).toEqual({ warnings: [expect.stringContaining('4001 characters') as unknown] });
  });
});

describe('every view fits Slack by design', () => {
  const base = runFields({ id: 'rbig0001', runbookTitle: 'A very long runbook '.repeat(10), params: { cluster: 'prod-aurora', note: 'n'.repeat(2_000) } });
  const planOf = (n: number): PlannedStep[] =>
    Array.from({ length: n }, (_, i) => ({
      stepId: `step-${i}`,
      name: `Step ${i} with a long name `.repeat(4),
      use: 'wait',
      with: {},
      timeoutMs: 1,
      retries: 0,
      ...(i >= n - 3 ? { always: true } : {}),
      lines: [{ action: 'change' as const, resource: 'x', detail: `irreversible-${i}: ${'y'.repeat(400)}`, irreversible: i % 7 === 0 }],
    }));
  const records = (plan: PlannedStep[], stateOf: (i: number) => StepRecord['state'], extra: Partial<StepRecord> = {}) =>
    Object.fromEntries(plan.map((p, i) => [p.stepId, { state: stateOf(i), attempts: 1, startedAt: 0, finishedAt: 1_000, ...extra }]));

  for (const size of [40, 80]) {
    const plan = planOf(size);
    const irreversible = plan.filter((p) => p.lines.some((l) => l.irreversible)).map((p) => `irreversible-${p.stepId.slice(5)}:`);

    it(`a ${size}-step plan awaiting approval keeps the buttons, who may approve, the first and last steps, and every irreversible line`, () => {
      const message = renderRunMessage({ ...base, plan, steps: {}, state: 'awaiting_approval' }, 0);
      expectFits(message);
      const text = JSON.stringify(message.blocks);
      expect(text).toContain('"action_id":"run.approve"');
      expect(text).toContain('"action_id":"run.reject"');
      expect(text).toContain('Needs 2 approvals from <@U0APPROVE1>, members of @sre-oncall other than the requester');
      const shown = sectionTexts(message);
      expect(shown).toContain('*Step 0 with a long name');
      expect(shown).toContain(`*Step ${size - 1} with a long name`);
      expect(shown).toMatch(/… \d+ more steps \(\d+ to do\)/);
      expect(shown).toContain('npm run dr -- status rbig0001');
      expect(shown).toContain('*Always, however the run ends (cleanup):*');
      const warning = shown.slice(shown.indexOf(':warning: *Cannot be undone:*'));
      for (const line of irreversible) expect(warning).toContain(line);
    });

    it(`a ${size}-step plan running shows the running step, its neighbours, Cancel and every irreversible line`, () => {
      const current = Math.floor(size / 2);
      const steps = records(plan, (i) => (i < current ? 'succeeded' : i === current ? 'running' : 'pending'));
      const message = renderRunMessage({ ...base, plan, steps: { ...steps, [`step-${current}`]: { state: 'running', attempts: 2, startedAt: 0, progress: { message: 'p'.repeat(3_000), at: 0 } } }, state: 'running', startedAt: 0 }, 60_000);
      expectFits(message);
      const shown = sectionTexts(message);
      expect(shown).toContain(`:arrow_forward: *Step ${current} with a long name`);
      expect(shown).toContain(`*Step ${current + 1} with a long name`);
      expect(shown).toMatch(/… \d+ more steps \(\d+ done\)/);
      expect(JSON.stringify(message.blocks)).toContain('"action_id":"run.cancel"');
      for (const line of irreversible) expect(shown).toContain(line);
    });

    it(`a ${size}-step run that finished, succeeded with long outputs or failed with a long error, fits and shows the failure`, () => {
      const succeeded = renderRunMessage({ ...base, plan, steps: records(plan, () => 'succeeded', { outputs: { endpoint: 'z'.repeat(5_000) } }), state: 'succeeded', startedAt: 0, finishedAt: 5_000 }, 10_000);
      expectFits(succeeded);
      expect(sectionTexts(succeeded)).toContain('*Results:*');

      const failedAt = size - 10;
      const steps = records(plan, (i) => (i < failedAt ? 'succeeded' : i === failedAt ? 'failed' : 'pending'), {});
      steps[`step-${failedAt}`] = { state: 'failed', attempts: 3, startedAt: 0, finishedAt: 1, error: `boom ${'e'.repeat(8_000)}` };
      const failed = renderRunMessage({ ...base, plan, steps, state: 'failed', startedAt: 0, finishedAt: 5_000, failure: { stepId: `step-${failedAt}`, message: `boom ${'e'.repeat(8_000)}` } }, 10_000);
      expectFits(failed);
      const shown = sectionTexts(failed);
      expect(shown).toContain(`:x: *Step ${failedAt} with a long name`);
      expect(shown).toContain(`:x: *Failed at \`step-${failedAt}\`:* boom`);
      expect(shown).toContain('more characters)');
      expect(shown).toContain('*Already changed:*');
    });
  }

  it('a small plan is shown whole, unchanged by the budget', () => {
    const plan = planOf(3);
    const shown = sectionTexts(renderRunMessage({ ...base, plan, steps: {}, state: 'awaiting_approval' }, 0));
    expect(shown).not.toContain('more steps');
    for (const p of plan) expect(shown).toContain(`irreversible-${p.stepId.slice(5)}: ${'y'.repeat(300)}`);
  });

  it('an audit of 200 entries shows the newest and says how many older ones are elsewhere', () => {
    const entries: AuditEntry[] = Array.from({ length: 200 }, (_, i) => ({ at: i * 1_000, actor: { id: 'U0ALICE001', via: 'slack' }, action: `action ${i}`, detail: `detail ${'d'.repeat(i % 3 === 0 ? 2_000 : 60)}` }));
    const message = renderAudit({ ...base, plan: [], steps: {}, state: 'succeeded' }, entries);
    expectFits(message);
    const shown = sectionTexts(message);
    expect(shown).toContain('*action 199*');
    expect(shown).toMatch(/200 entries · state \*succeeded\* · oldest \d+ entries not shown: `npm run dr -- audit rbig0001` has them all/);
  });

  it('a list of 60 runbooks fits, and says how many are not shown and where they all are', () => {
    const runbooks = Array.from({ length: 60 }, (_, i) => ({
      id: `runbook-number-${i}`,
      title: `Runbook ${i}: ${'does many things '.repeat(6)}`,
      params: Object.fromEntries(Array.from({ length: 6 }, (_, k) => [`parameter${k}`, { type: 'string' as const }])),
      approval: { required: 1, users: [], groups: [], allowSelfApproval: false, expiresIn: 900_000 },
    })) as unknown as Runbook[];
    const message = renderRunbookList(runbooks, '/dr');
    expectFits(message);
    const shown = sectionTexts(message);
    expect(shown).toContain('*runbook-number-0*');
    expect(shown).toMatch(/parameters not shown|\d+ more not shown: `npm run dr -- runbooks`/);
    const count = (shown.match(/\*runbook-number-\d+\*/g) ?? []).length;
    const more = Number(/(\d+) more not shown/.exec(shown)?.[1] ?? 0);
    expect(count + more).toBe(60);
  });

  it('the run list, the Home tab, help and a long checklist fit', () => {
    const runs: Run[] = Array.from({ length: 100 }, (_, i) => ({ ...base, id: `r${String(i).padStart(7, '0')}`, runbookId: 'x'.repeat(60), plan: [], steps: {}, state: i % 2 ? 'running' : 'awaiting_approval', expiresAt: 10_000_000, startedAt: 0 }));
    expectFits(renderRunList(runs, '/dr'));
    const home = renderHome(runs, 0, '/dr');
    expect(home.blocks.length).toBeLessThanOrEqual(100);
    expect(blockTextLength(home.blocks)).toBeLessThanOrEqual(MESSAGE_BLOCK_TEXT_BUDGET);
    expect(checkMessage({ text: 'home', blocks: home.blocks }).error).toBeUndefined();
    expect(JSON.stringify(home.blocks)).toMatch(/… and \d+ more/);
    expectFits(renderHelp('/dr'));
    const items = Array.from({ length: 60 }, (_, i) => `Item ${i}: ${'check this carefully '.repeat(20)}`);
    // A long checklist comes in parts: each fits, and together they hold every item's button.
    const parts = [0, 1, 2].map((part) => renderChecklist('inc1', 'checklistDuring', 'During Disaster', items, new Map([[0, { by: 'U0ALICE001', at: 0, auto: true }]]), part));
    for (const part of parts) expectFits(part);
    const values = parts.flatMap((part) => [...JSON.stringify(part.blocks).matchAll(/"value":"inc1\|checklistDuring\|(\d+)"/g)].map((m) => Number(m[1])));
    expect(values).toEqual(Array.from({ length: 59 }, (_, i) => i + 1));
  });

  it('an incident summary with long actions, next steps and a held public text fits, with its buttons', () => {
    const incident: Incident = {
      id: 'inc-big',
      scenario: 'region-outage',
      title: 'T'.repeat(200),
      severity: 'sev1',
      public: true,
      publication: 'held',
      declaredBy: 'U0ALICE001',
      commander: 'U0ALICE001',
      originChannel: 'C1',
      channelName: 'inc-big',
      affectedServices: ['api'],
      impact: 'i'.repeat(500),
      startedAt: 0,
      rtoMs: 1,
      rpoMs: 1,
      state: 'investigating',
      currentStatus: 's'.repeat(1_000),
      runs: [],
    };
    const long = Array.from({ length: 80 }, (_, i) => `• run ${i}: ${'restored something '.repeat(5)}`).join('\n');
    const summary = renderIncidentSummary(incident, { actions_taken: long, next_steps: long, impact: 'i'.repeat(500), current_status: 's'.repeat(1_000) }, { pending: { name: 'N'.repeat(255), body: 'b'.repeat(2_000) }, publishers: { nobody: false, who: '@comms' } });
    expectFits(summary);
    const text = JSON.stringify(summary.blocks);
    expect(text).toContain('"action_id":"incident.publish"');
    expect(text).toContain('"action_id":"incident.status.identified"');
    expect(text).toContain('more characters)');
  });
});

