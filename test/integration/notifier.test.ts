import { WebClient } from '@slack/web-api';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunMessageNotifier } from '../../src/slack/notifier.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, BOB, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack, readable } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

describe('the run message notifier: coalesced updates, rate limits', () => {
  let slack: FakeSlack;
  let engine: TestEngine;
  let notifier: RunMessageNotifier;
  let eventsRedis: Redis;

  /** A run awaiting approval whose message exists in the fake Slack. */
  const runWithMessage = async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: 'http://127.0.0.1:9' }, requester: ALICE });
    const posted = await new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl }).chat.postMessage({ channel: 'C0NOTIFY01', text: 'plan' });
    await engine.store.setMessage(run.id, { channel: 'C0NOTIFY01', ts: posted.ts ?? '' });
    return { run, ts: posted.ts ?? '' };
  };
  const updatesOf = (ts: string) => slack.callsTo('chat.update').filter((c) => c.args.ts === ts);

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    engine = await startTestEngine({ workers: 0 });
    eventsRedis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    notifier = new RunMessageNotifier({ store: engine.store, eventsRedis, token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger, consumerName: 'test' });
    await notifier.start();
  });
  afterAll(async () => {
    notifier.stop();
    await new Promise((r) => setTimeout(r, 1_200));
    eventsRedis.disconnect();
    await engine.stop();
    await slack.stop();
  });

  it('turns a burst of 40 events into a few chat.update calls, the last one showing the latest state', async () => {
    const { run, ts } = await runWithMessage();
    for (let i = 0; i < 40; i++) {
      await engine.store.update(run.id, 'awaiting_approval', { event: { type: 'step.progress', stepId: 'create', message: `tick ${i}` } });
    }
    await engine.service.approve(run.id, BOB);
    await slack.waitFor(() => updatesOf(ts).find((c) => JSON.stringify(c.args.blocks).includes(`approved by <@${BOB.id}>`)), 5_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const updates = updatesOf(ts);
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.length).toBeLessThanOrEqual(3);
    expect(JSON.stringify(updates.at(-1)?.args.blocks)).toContain(`approved by <@${BOB.id}>`);
  });

  it('on 429 waits Retry-After, then sends the state as it is by then (not the stale one)', async () => {
    const { run, ts } = await runWithMessage();
    await new Promise((r) => setTimeout(r, 1_200));
    const before = updatesOf(ts).length;
    slack.failNext('chat.update', { status: 429, retryAfter: 1 });
    notifier.track(run.id);
    await slack.waitFor(() => updatesOf(ts).length > before);
    await engine.service.reject(run.id, BOB, 'wrong cluster');

    const delivered = await slack.waitFor(() => updatesOf(ts).slice(before + 1).find((c) => JSON.stringify(c.args.blocks).includes('Rejected by')), 5_000);
    const attempts = updatesOf(ts).slice(before);
    expect(attempts.length).toBeLessThanOrEqual(3);
    expect(delivered.at - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    expect(JSON.stringify(delivered.args.blocks)).toContain('wrong cluster');
  });

  it('posts one threaded reply when a run ends', async () => {
    const { run, ts } = await runWithMessage();
    await engine.service.reject(run.id, BOB, 'not needed');
    const reply = await slack.waitFor(() => slack.replies(ts)[0]);
    expect(String(reply.text)).toContain(`was rejected by <@${BOB.id}>: not needed`);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(slack.replies(ts)).toHaveLength(1);
  });
  it('when Slack refuses for good to update the run message (deleted), posts the current state afresh and follows it there', async () => {
    const { run, ts } = await runWithMessage();
    await new Promise((r) => setTimeout(r, 1_200));
    slack.messages.delete(ts);
    await engine.service.reject(run.id, BOB, 'message gone');

    const fresh = await slack.waitFor(() => [...slack.messages.values()].find((m) => m.channel === 'C0NOTIFY01' && m.threadTs === undefined && readable(m).includes('message gone') && readable(m).includes('Rejected by')), 5_000);
    // The new message is the run's message from now on (its buttons, its thread).
    await expect.poll(async () => (await engine.store.get(run.id))?.message?.ts, { timeout: 5_000 }).toBe(fresh.ts);
  });

  it('a message too old to edit is not left showing "awaiting approval": the final state is posted as a new message', async () => {
    const { run, ts } = await runWithMessage();
    await new Promise((r) => setTimeout(r, 1_200));
    slack.failNext('chat.update', { error: 'edit_window_closed' });
    await engine.service.reject(run.id, BOB, 'too late');

    const fresh = await slack.waitFor(() => [...slack.messages.values()].find((m) => m.ts !== ts && m.channel === 'C0NOTIFY01' && m.threadTs === undefined && readable(m).includes('too late')), 5_000);
    expect(readable(fresh)).toContain('Rejected by');
    expect(readable(fresh)).not.toContain('"action_id":"run.approve"');
  });

  it('a worker that stopped between claiming and posting the end reply: the redelivered event posts it, once', async () => {
    const { run, ts } = await runWithMessage();
    // The claim of a crashed attempt that never reached Slack.
    await engine.store.once(`slack-ending-attempt:${run.id}`);
    await engine.service.reject(run.id, BOB, 'after a crash');
    const reply = await slack.waitFor(() => slack.replies(ts)[0], 8_000);
    expect(String(reply.text)).toContain('after a crash');
    await new Promise((r) => setTimeout(r, 1_200));
    expect(slack.replies(ts)).toHaveLength(1);
  });

  it('a worker that stopped after posting the end reply but before recording it: the retry finds it in the thread and posts nothing', async () => {
    const { run, ts } = await runWithMessage();
    await engine.store.once(`slack-ending-attempt:${run.id}`);
    slack.messages.set('9999.000001', { channel: 'C0NOTIFY01', ts: '9999.000001', text: 'posted by the crashed attempt', blocks: undefined, threadTs: ts, metadata: { event_type: 'dr_chatops_message', event_payload: { key: `slack-ending:${run.id}` } } });
    await engine.service.reject(run.id, BOB, 'posted already');
    await expect.poll(() => engine.store.claimed(`slack-ending:${run.id}`), { timeout: 8_000 }).toBe(true);
    expect(slack.replies(ts).map((m) => m.text)).toEqual(['posted by the crashed attempt']);
  });

  it('posts the threaded reply at the end again after Slack failed it, so it is not lost', async () => {
    const { run, ts } = await runWithMessage();
    slack.failNext('chat.postMessage', { error: 'internal_error' });
    await engine.service.reject(run.id, BOB, 'second try');
    const reply = await slack.waitFor(() => slack.replies(ts)[0], 8_000);
    expect(String(reply.text)).toContain('second try');
  });
});
