import { describe, expect, it } from 'vitest';
import { blockTextLength, MESSAGE_BLOCK_TEXT_BUDGET } from '../../../src/slack/limits.ts';
import { renderHelp } from '../../../src/slack/views/help.ts';
import { escapeMrkdwn, header, section, truncate } from '../../../src/slack/views/message.ts';
import { renderPong } from '../../../src/slack/views/pong.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { runFields } from '../../support/runs.ts';

describe('views', () => {
  it('help lists every command with its usage', () => {
    const help = renderHelp('/dr');
    expect(help.text).toContain('/dr help [command], /dr restore db <cluster> --latest | --to <time> | --snapshot <id|latest>');
    expect(help.text).toContain('/dr audit <run>, /dr ping');
    expect(JSON.stringify(help.blocks)).toContain('`/dr ping` — Check the bot end to end');
    expect(JSON.stringify(help.blocks)).toContain('`/dr rollback <deployment> [-n <namespace>] [--to-revision <n>]`');
  });

  it('help for one command shows its examples', () => {
    const help = renderHelp('/dr', 'restore');
    expect(JSON.stringify(help.blocks)).toContain('>`/dr restore db prod-aurora --to 15m ago`');
  });

  it('pong names the requester and how long the job waited in the queue', () => {
    const pong = renderPong({ userId: 'U1', requestedAt: 1_000, pickedUpAt: 1_042, worker: 'host:7' });
    expect(pong.text).toBe(':white_check_mark: Pong <@U1>: command → queue → worker → Slack works (picked up after 42 ms).');
    expect(JSON.stringify(pong.blocks)).toContain('Worker `host:7`');
  });

  it('keeps section and header text inside Slack limits with a visible note', () => {
    const long = 'x'.repeat(10_000);
    const s = section(long);
    const h = header(long);
    expect(s.type === 'section' && s.text.text.length).toBe(3000);
    expect(s.type === 'section' && s.text.text.endsWith('… (truncated)')).toBe(true);
    expect(h.type === 'header' && h.text.text.length).toBe(150);
    expect(truncate('short', 10)).toBe('short');
  });

  it('escapes user text so it cannot mention @channel or break formatting', () => {
    expect(escapeMrkdwn('<!channel> & <@U123|bob>')).toBe('&lt;!channel&gt; &amp; &lt;@U123|bob&gt;');
  });
});

describe('run message', () => {
  const base = runFields();
  const plan = Array.from({ length: 80 }, (_, i) => ({
    stepId: `step-${i}`,
    name: `Step number ${i} `.repeat(5),
    use: 'wait',
    with: {},
    timeoutMs: 1,
    retries: 0,
    lines: [{ action: 'change' as const, resource: 'x', detail: 'y'.repeat(400), irreversible: i % 10 === 0 }],
  }));

  it('stays inside Slack\'s limits with many steps and long outputs', () => {
    const steps = Object.fromEntries(plan.map((p) => [p.stepId, { state: 'succeeded' as const, attempts: 1, startedAt: 0, finishedAt: 1000, outputs: { endpoint: 'z'.repeat(5000) } }]));
    for (const state of ['awaiting_approval', 'succeeded'] as const) {
      const message = renderRunMessage({ ...base, plan, steps, state, startedAt: 0, finishedAt: 5000 }, 10_000);
      const blocks = message.blocks ?? [];
      expect(blocks.length).toBeLessThanOrEqual(50);
      expect(blockTextLength(blocks)).toBeLessThanOrEqual(MESSAGE_BLOCK_TEXT_BUDGET);
      for (const b of blocks) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(3000);
      expect(message.text.length).toBeLessThan(300);
    }
  });

  it('shows who may approve, the expiry, what cannot be undone, and the buttons while awaiting approval', () => {
    const message = renderRunMessage({ ...base, plan: plan.slice(0, 2), steps: {}, state: 'awaiting_approval' }, 0);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('Needs 2 approvals from <@U0APPROVE1>, members of @sre-oncall other than the requester · expires 00:15 UTC');
    expect(text).toContain(':warning: *Cannot be undone:*');
    expect(text).toContain('"action_id":"run.approve","value":"rabc1234"');
  });

  it('says plainly when nobody may approve yet, and which setting changes that', () => {
    const nobody = { ...base.policy, users: [], groups: [], source: 'DR_APPROVERS' };
    const text = JSON.stringify(renderRunMessage({ ...base, policy: nobody, plan: [], steps: {}, state: 'awaiting_approval' }, 0).blocks);
    expect(text).toContain('Needs 2 approvals, but nobody may approve yet: set DR_APPROVERS');
    const anyone = JSON.stringify(renderRunMessage({ ...base, policy: { ...nobody, anyone: true }, plan: [], steps: {}, state: 'awaiting_approval' }, 0).blocks);
    expect(anyone).toContain('Needs 2 approvals from any full member of the workspace other than the requester');
  });

  it('shows cleanup (always) steps under their own heading, after the main steps', () => {
    const cleanup = { ...plan[2], stepId: 'cleanup', name: 'Delete the drill namespace', always: true } as (typeof plan)[number] & { always: boolean };
    const text = renderRunMessage({ ...base, plan: [...plan.slice(0, 2), cleanup], steps: {}, state: 'awaiting_approval' }, 0)
      .blocks?.flatMap((b) => (b.type === 'section' ? [b.text.text] : []))
      .join('\n') ?? '';
    const heading = text.indexOf('*Always, however the run ends (cleanup):*');
    expect(heading).toBeGreaterThan(text.indexOf('Step number 1'));
    expect(text.indexOf('*Delete the drill namespace*')).toBeGreaterThan(heading);
  });

  it('a copy shown elsewhere (/dr show) has no buttons and says where to act', () => {
    const run = { ...base, plan: plan.slice(0, 2), steps: {}, state: 'awaiting_approval' as const, message: { channel: 'C0RUNS00001', ts: '1.2' } };
    const text = JSON.stringify(renderRunMessage(run, 0, { live: false }).blocks);
    expect(text).not.toContain('"type":"actions"');
    expect(text).toContain("from the run's message in <#C0RUNS00001>");
  });

  it('escapes parameters so user text cannot mention @channel', () => {
    const message = renderRunMessage({ ...base, params: { note: '<!channel> now' }, plan: [], steps: {}, state: 'awaiting_approval' }, 0);
    expect(JSON.stringify(message.blocks)).toContain('&lt;!channel&gt; now');
    expect(JSON.stringify(message.blocks)).not.toContain('<!channel>');
  });
});

