/**
 * When Slack refuses for good to update a run's message and the run is
 * posted afresh, the old message does not go on offering a live Approve:
 * it is replaced by where the run went (when Slack still lets it be
 * updated), and a click on it says where the live message is and changes
 * nothing. Through the real bot (HTTP mode, in-process) and the fake Slack.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack, readable } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/commands/', import.meta.url));
const CHANNEL = 'C0MOVED001';
const BOB = 'U0BOB00001';

describe('a run posted afresh: its old message', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;
  let answers = 0;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: COMMANDS, HTTP_ALLOWED_TARGETS: '127.0.0.1' } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  /** Requests a run whose message Slack then refuses to update with `refusal`; returns it once it was posted afresh. */
  async function movedRun(refusal: string): Promise<{ runId: string; oldTs: string; newTs: string }> {
    const before = slack.calls.length;
    slack.failNext('chat.update', { error: refusal });
    await sendSlashCommand(bot.url, { text: 'run provision baseUrl=http://127.0.0.1:9', channel_id: CHANNEL, response_url: slack.responseUrl(`cmd-${String(++answers)}`) });
    const plan = await slack.waitFor(() => slack.calls.slice(before).find((c) => c.method === 'chat.postMessage' && c.args.channel === CHANNEL && !c.args.thread_ts));
    const oldTs = String(plan.result?.ts);
    const runId = /run `(r[a-z0-9]{7})`/.exec(JSON.stringify(plan.args.blocks))?.[1] ?? '';
    let newTs = oldTs;
    for (const deadline = Date.now() + 10_000; newTs === oldTs; newTs = (await store.get(runId))?.message?.ts ?? oldTs) {
      if (Date.now() > deadline) throw new Error(`run ${runId} was not posted afresh`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { runId, oldTs, newTs };
  }

  const permalinkOf = (ts: string) => `https://fake.slack.com/archives/${CHANNEL}/p${ts.replace('.', '')}`;

  it('Slack refused its content (msg_too_long): it becomes a short "moved" note linking the live message, with no buttons', async () => {
    const { oldTs, newTs } = await movedRun('msg_too_long');
    const old = await slack.waitFor(() => {
      const message = slack.messages.get(oldTs);
      return message && readable(message).includes('moved') ? message : undefined;
    });
    expect(readable(old)).toContain(`<${permalinkOf(newTs)}|this message>`);
    expect(readable(old)).not.toContain('"type":"actions"');
    expect(readable(old)).not.toContain('awaiting approval');
    // The live message is the one with the buttons.
    expect(readable(slack.messages.get(newTs))).toContain('"action_id":"run.approve"');
  });

  it('Slack would not edit it (edit_window_closed): a click on its Approve says where the live message is, privately, and changes nothing', async () => {
    const { runId, oldTs, newTs } = await movedRun('edit_window_closed');
    // Slack refused the edit: the old message still shows its buttons.
    expect(readable(slack.messages.get(oldTs))).toContain('"action_id":"run.approve"');
    const id = `click-${String(++answers)}`;
    const res = await sendBlockAction(bot.url, { actionId: 'run.approve', value: runId, userId: BOB, channelId: CHANNEL, messageTs: oldTs, responseUrl: slack.responseUrl(id) });
    expect(res.status).toBe(200);
    const answer = await slack.waitFor(() => slack.responses.find((r) => r.id === id)?.body);
    expect(answer.response_type).toBe('ephemeral');
    expect(answer.replace_original).toBe(false);
    expect(String(answer.text)).toContain(`the run moved to <${permalinkOf(newTs)}|this message>`);
    expect(String(answer.text)).toContain('Nothing changed');
    const run = await store.get(runId);
    expect(run?.state).toBe('awaiting_approval');
    expect(run?.approvals).toEqual([]);
  });
});
