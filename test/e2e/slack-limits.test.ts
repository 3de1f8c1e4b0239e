import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FIXTURE_COMMANDS } from '../support/engine.ts';
import { FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';
import { checkMessage, FAKE_BLOCK_TEXT_REFUSED_ABOVE, textLength } from '../support/slack-limits.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CHANNEL = 'C0BIGPLAN01';
/** The bot's own budget for a message's block text (src/slack/limits.ts), below what the fake refuses. */
const BOT_BUDGET = 9_000;

function readable(call: RecordedCall): string {
  return JSON.stringify(call.args.blocks ?? call.args.text ?? '');
}

describe('messages fit Slack: a 40-step runbook through the real bot and the fake Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    copyFileSync(join(FIXTURE_COMMANDS, 'forty-steps.yaml'), join(commands, 'forty-steps.yaml'));
    // A step whose error is several KB: the URL is in it, and nothing listens on port 9.
    writeFileSync(
      join(commands, 'long-error.yaml'),
      `id: long-error\ntitle: Fails with a very long error\napproval: { required: 0 }\nsteps:\n  - { id: call, use: http.request, retries: 0, with: { method: POST, url: 'http://127.0.0.1:9/${'a'.repeat(3_000)}' } }\n`,
    );
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: commands, HTTP_ALLOWED_TARGETS: '127.0.0.1' } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  it('the fake refuses a message over the total block-text limit with msg_blocks_too_long', async () => {
    const client = new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const blocks = Array.from({ length: 4 }, () => ({ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(2_900) } }));
    expect(textLength(blocks)).toBeGreaterThan(FAKE_BLOCK_TEXT_REFUSED_ABOVE);
    await expect(client.chat.postMessage({ channel: CHANNEL, text: 'too much', blocks })).rejects.toMatchObject({ data: { ok: false, error: 'msg_blocks_too_long' } });
    // Each block alone is fine, and so is the same text in fewer blocks.
    await expect(client.chat.postMessage({ channel: CHANNEL, text: 'fine', blocks: blocks.slice(0, 3) })).resolves.toMatchObject({ ok: true });
    // response_url posts are checked too: Slack answers HTTP 400 with the error.
    const refused = await fetch(slack.responseUrl('too-much'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'too much', blocks }) });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toBe('msg_blocks_too_long');
  });

  it('posts the collapsed plan, runs on approval with live progress in place, and every message is accepted and within the budget', async () => {
    const ack = await sendSlashCommand(bot.url, { text: 'run forty-steps', user_id: ALICE, channel_id: CHANNEL, response_url: slack.responseUrl('plan') });
    expect(ack.status).toBe(200);
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === CHANNEL && readable(c).includes('Forty steps, each described at length')));
    expect(plan.result?.ok).toBe(true);
    const shown = readable(plan);
    expect(shown).toContain('awaiting approval (0 of 1)');
    expect(shown).toContain('*Step 01 of forty');
    expect(shown).toContain('*Step 40 of forty');
    expect(shown).toMatch(/… \d+ more steps \(\d+ to do\)/);
    expect(shown).toContain('"action_id":"run.approve"');
    expect(shown).toContain('Needs 1 approval from any full member of the workspace other than the requester');
    const runId = /run `(r[a-z0-9]{7})`/.exec(shown)?.[1] ?? '';
    expect(runId).not.toBe('');
    // Like every message the bot posts, the plan carries its key in Slack's metadata.
    expect(plan.args.metadata).toEqual({ event_type: 'dr_chatops_message', event_payload: { key: `run:${runId}:plan` } });

    const click = await sendBlockAction(bot.url, { actionId: 'run.approve', value: runId, userId: BOB, responseUrl: slack.responseUrl('approve'), messageTs: String(plan.result?.ts), channelId: CHANNEL });
    expect(click.status).toBe(200);
    const updatesOfPlan = () => slack.callsTo('chat.update').filter((c) => c.args.ts === plan.result?.ts);
    const final = await slack.waitFor(() => updatesOfPlan().find((c) => readable(c).includes('*succeeded*')), 30_000);
    expect(readable(final)).toContain('40/40 steps');
    expect(updatesOfPlan().some((c) => readable(c).includes('*running*'))).toBe(true);

    const thread = await slack.waitFor(() => slack.replies(String(plan.result?.ts)).find((m) => String(m.text).includes('succeeded')));
    expect(String(thread.text)).toContain('Forty steps, each described at length');

    // Every message the bot sent for this run: accepted by the fake, and inside the bot's own budget.
    const sent = [plan, ...updatesOfPlan()];
    for (const call of sent) {
      expect(call.result?.ok).toBe(true);
      expect(textLength(call.args.blocks)).toBeLessThanOrEqual(BOT_BUDGET);
      expect(checkMessage(call.args).warnings).toEqual([]);
    }
    expect((await store.get(runId))?.state).toBe('succeeded');

    // The read-only copy, the audit (some 90 entries) and each page of steps fit as well.
    expect(shown).toContain(`/dr show ${runId} page 1\` (of 3)`);
    const pages: string[] = [];
    for (const text of [`show ${runId}`, `audit ${runId}`, `show ${runId} page 1`, `show ${runId} page 2`, `show ${runId} PAGE 3`]) {
      const answer = await sendSlashCommand(bot.url, { text, user_id: ALICE, channel_id: CHANNEL });
      expect(answer.json?.response_type).toBe('ephemeral');
      expect(checkMessage(answer.json ?? {})).toEqual({ warnings: [] });
      expect(textLength(answer.json?.blocks)).toBeLessThanOrEqual(BOT_BUDGET);
      if (text.toLowerCase().includes('page')) pages.push(JSON.stringify(answer.json?.blocks));
    }
    // The three pages hold all 40 steps, each once, in order, with nothing left out.
    const listed = pages.flatMap((p) => [...p.matchAll(/(\d+)\. :heavy_check_mark: \*Step (\d+) of forty/g)].map((m) => [Number(m[1]), Number(m[2])]));
    expect(listed).toEqual(Array.from({ length: 40 }, (_, i) => [i + 1, i + 1]));
    expect(pages.join('')).not.toContain('more steps');
    expect(pages[0]).toContain(`next: \`/dr show ${runId} page 2\``);
    expect(pages[2]).toContain('steps 31–40 of 40 · page 3 of 3');

    const beyond = await sendSlashCommand(bot.url, { text: `show ${runId} page 4`, user_id: ALICE, channel_id: CHANNEL });
    expect(String(beyond.json?.text)).toContain(`Run \`${runId}\` has 40 steps: pages 1–3. Try \`/dr show ${runId} page 3\`.`);
  });

  it('a step error of several KB is capped where the engine records it, keeping its cause, and the run message and thread still fit', async () => {
    await sendSlashCommand(bot.url, { text: 'run long-error', user_id: ALICE, channel_id: CHANNEL, response_url: slack.responseUrl('long-error') });
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => readable(c).includes('Fails with a very long error')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(readable(plan))?.[1] ?? '';
    const thread = await slack.waitFor(() => slack.replies(String(plan.result?.ts)).find((m) => String(m.text).includes('failed')), 20_000);
    const run = await store.get(runId);
    expect(run?.state).toBe('failed');
    const message = run?.failure?.message ?? '';
    expect(message.length).toBeLessThanOrEqual(1_000);
    expect(message).toMatch(/^POST http:\/\/127\.0\.0\.1:9\/a+ … \([\d,]+ characters cut\) … a+ failed: ECONNREFUSED \(gave up after 1 attempt\)$/);
    expect(run?.steps.call?.error).toBe(message);
    expect(String(thread.text).length).toBeLessThan(4_000);
    const final = await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.args.ts === plan.result?.ts && readable(c).includes('*failed*')));
    expect(final.result?.ok).toBe(true);
    expect(readable(final)).toContain('failed: ECONNREFUSED (gave up after 1 attempt)');
  });
});
