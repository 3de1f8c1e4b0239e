import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish } from '../support/incidents.ts';
import { LocalRedisCluster } from '../support/redis-cluster.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CHANNEL = 'C0CLUSTER01';
const SP_KEY = 'sp-cluster-key-0123456789';

/** Polls `read` until it gives a value (timeouts only stop hangs). */
async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing came within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readable = (call: RecordedCall | undefined) => JSON.stringify(call?.args.blocks ?? call?.args.text ?? '');
const runIdOf = (call: RecordedCall) => /run `(r[a-z0-9]{7})`/.exec(readable(call))?.[1] ?? '';

/**
 * The bot and its worker on a local Redis Cluster of three primaries
 * (REDIS_CLUSTER=true, a hash-tag prefix): every command path, BullMQ's
 * scripts and ours, must work there, and every key must land in one slot.
 */
describe('on Redis Cluster (three primaries): runs, approvals, cancellation, incidents, the status page outbox and rate limits, every key in one slot', () => {
  let cluster: LocalRedisCluster;
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  let client: Cluster;
  let store: RunStore;
  const prefix = `{c-${randomUUID().slice(0, 8)}}`;
  let responses = 0;

  const command = (text: string, user = ALICE, channel = CHANNEL) =>
    sendSlashCommand(bot.url, { text, user_id: user, channel_id: channel, response_url: slack.responseUrl(`cmd-${String(++responses)}`) });
  const planOf = async (title: string, after: number) =>
    slack.waitFor(() => slack.calls.slice(after).find((c) => c.method === 'chat.postMessage' && !c.args.thread_ts && readable(c).includes(title)), 15_000);
  const click = async (actionId: string, runId: string, user: string) => {
    const message = await eventually(async () => (await store.get(runId))?.message);
    const id = `click-${String(++responses)}`;
    const res = await sendBlockAction(bot.url, { actionId, value: runId, userId: user, responseUrl: slack.responseUrl(id), messageTs: message.ts, channelId: message.channel });
    expect(res.status).toBe(200);
  };
  const stateOf = (runId: string, states: string[]) =>
    eventually(async () => {
      const run = await store.get(runId);
      return run && states.includes(run.state) ? run : undefined;
    });

  beforeAll(async () => {
    cluster = await LocalRedisCluster.start();
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpdb00001']).start();
    const commands = mkdtempSync(join(tmpdir(), 'cluster-commands-'));
    writeFileSync(
      join(commands, 'two-steps.yaml'),
      'id: two-steps\ntitle: Two short steps\nscenario: data-corruption\napproval: { required: 1, expiresIn: 15m }\nsteps:\n  - { id: first, use: wait, with: { seconds: 0.1 } }\n  - { id: second, use: wait, with: { seconds: 0.1 } }\nalways:\n  - { id: tidy, use: wait, with: { seconds: 0 } }\n',
    );
    writeFileSync(join(commands, 'long-wait.yaml'), 'id: long-wait\ntitle: A long wait\napproval: { required: 1, expiresIn: 15m }\nsteps:\n  - { id: wait, use: wait, with: { seconds: 120 } }\n');
    bot = await startTestBot({
      slack,
      prefix,
      env: {
        REDIS_URL: cluster.urls,
        REDIS_CLUSTER: 'true',
        COMMANDS_DIR: commands,
        DR_PUBLISHERS: ALICE,
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'db:cmpdb00001',
        STATUSPAGE_RETRY_BASE_MS: '100',
        DR_RUNS_PER_USER_PER_MINUTE: '4',
      },
    });
    client = cluster.client();
    store = new RunStore(client, prefix);
  }, 90_000);

  afterAll(async () => {
    await bot.stop({ keepData: true });
    client.disconnect();
    await Promise.all([slack.stop(), page.stop()]);
    await cluster.stop();
  });

  it('works through every path without CROSSSLOT, and every key the bot created is in the prefix\'s slot on one node', async () => {
    // The whole path: Slack → bot → bot-tasks queue → worker → a reply.
    expect((await command('ping')).status).toBe(200);
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => String(c.args.text).toLowerCase().includes('pong')), 15_000);

    // An incident, published to the status page, then moved: its updates go through the outbox.
    expect((await command('declare data-corruption "Orders corrupted" --services db')).status).toBe(200);
    const incidentChannel = await slack.waitFor(() => slack.callsTo('conversations.create').map(createdChannelId).find(Boolean), 15_000);
    await pressPublish(bot.url, slack, incidentChannel, ALICE);
    await slack.waitFor(() => page.incidents.find((i) => i.name === 'Orders corrupted'), 15_000);

    // A run requested in the incident's channel, approved by a second person, executed with its cleanup step.
    let mark = slack.calls.length;
    expect(String((await command('run two-steps', ALICE, incidentChannel)).json?.text)).toContain('Planning');
    const runId = runIdOf(await planOf('Two short steps', mark));
    await click('run.approve', runId, BOB);
    const done = await stateOf(runId, ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');
    expect(Object.values(done.steps).map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect((await store.audit(runId)).map((a) => a.action)).toEqual(expect.arrayContaining(['requested', 'approved']));

    await command('status resolved "orders restored"', ALICE, incidentChannel);
    const onPage = await slack.waitFor(() => page.incidents.find((i) => i.name === 'Orders corrupted' && i.incident_updates[0]?.status === 'resolved'), 20_000);
    expect(onPage.incident_updates.map((u) => u.status)).toContain('investigating');

    // A run cancelled while its step waits.
    mark = slack.calls.length;
    await command('run long-wait');
    const longId = runIdOf(await planOf('A long wait', mark));
    await click('run.approve', longId, BOB);
    await stateOf(longId, ['running']);
    await click('run.cancel', longId, ALICE);
    expect((await stateOf(longId, ['cancelled', 'succeeded', 'failed'])).state).toBe('cancelled');

    // The per-person limit (4 a minute), counted by a script over several keys: the fifth request is refused.
    await command('run two-steps --dry-run');
    await command('run two-steps --dry-run');
    const refused = await command('run two-steps --dry-run');
    expect(String(refused.json?.text)).toContain('You asked for 4 runs within a minute');

    const lines = bot.logs.join('');
    expect(lines).not.toMatch(/CROSSSLOT|MOVED|CLUSTERDOWN/);
    expect(lines).not.toMatch(/"level":(50|60)/);

    // Every key in the cluster is the bot's, under the prefix, in the prefix's slot, on one node.
    const [slot = -1] = await cluster.keySlots([prefix]);
    const byNode = await cluster.keysByNode('*');
    const all = [...byNode.values()].flat();
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter((k) => !k.startsWith(`${prefix}:`))).toEqual([]);
    expect([...byNode.entries()].filter(([, keys]) => keys.length > 0).map(([port]) => port)).toEqual([(await cluster.nodeOfSlot(slot)).port]);
    const slots = new Set(await cluster.keySlots(all));
    expect([...slots]).toEqual([slot]);
    // The kinds of keys this exercised: BullMQ's queues and the stores' own.
    for (const kind of [':runs:', ':bot-tasks:', ':incidents:', ':statuspage:', ':run:', ':audit:', ':run-events', ':incident:', ':limit:', ':statuspage-outbox:']) {
      expect(all.some((k) => k.includes(kind)), kind).toBe(true);
    }
  }, 120_000);
});
