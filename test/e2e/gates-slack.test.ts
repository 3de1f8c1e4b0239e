import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';
import { RunStore } from '../../src/runs/store.ts';
import type { Run } from '../../src/runs/model.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const DAVE = 'U0DAVE0001';
const GUEST = 'U0GUEST001';
const CHANNEL = 'C0INCIDENT1';

/** Alice, Bob and Carol approve; a failover asks them to accept the data loss it measured. */
const RUNBOOK = `id: gated
title: Fail over, losing what the lag says
params:
  lag: { type: number, min: 0, max: 3600, default: 42 }
approval: { required: 1, users: [${ALICE}, ${BOB}, ${CAROL}] }
steps:
  - { id: measure, use: wait, with: { seconds: 0 } }
  - id: accept-loss
    use: approval.gate
    with:
      question: 'Up to \${{ params.lag }} s of writes may be lost. Fail over anyway?'
      facts: ['last measured replication lag: \${{ params.lag }} s']
      choices: { accept: Accept data loss, refuse: Refuse }
    timeout: 40m
  - { id: failover, use: wait, with: { seconds: 0 } }
always:
  - { id: report, use: wait, with: { seconds: 0 } }
`;

function readable(call: RecordedCall | undefined): string {
  return JSON.stringify(call?.args.blocks ?? call?.args.text ?? '');
}

/**
 * The gate's buttons through the real bot and the fake Slack: the run's
 * message asks the question with the facts; refusals (a non-approver, the
 * requester, a guest) are told only to the person and change nothing; an
 * approver's accept, clicked twice, counts once and the run goes on.
 */
describe('run-time gates in Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let store: RunStore;
  let redis: Redis;
  let responses = 0;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.addUser(GUEST, { is_restricted: true });
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(join(commands, 'gated.yaml'), RUNBOOK);
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: commands, SLACK_RUN_CHANNELS: CHANNEL } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  const until = async <T>(what: string, get: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await get();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  /** Clicks a button on the run's own message; resolves with what the person was told, or undefined when nothing. */
  const click = async (run: Run, actionId: string, value: string, user: string) => {
    const id = `click-${++responses}`;
    const message = run.message;
    const res = await sendBlockAction(bot.url, { actionId, value, userId: user, responseUrl: slack.responseUrl(id), ...(message ? { messageTs: message.ts, channelId: message.channel } : {}) });
    expect(res.status).toBe(200);
    return id;
  };
  const toldTo = async (id: string) => String((await slack.waitFor(() => slack.responses.find((r) => r.id === id)?.body)).text);

  /** Requests and approves a run of `gated`; resolves once it waits at its gate, with its plan message. */
  const atGate = async () => {
    const mark = slack.calls.length;
    await sendSlashCommand(bot.url, { text: 'run gated lag=42', user_id: ALICE, channel_id: CHANNEL, response_url: slack.responseUrl(`cmd-${++responses}`) });
    const plan = await slack.waitFor(() => slack.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && readable(c).includes('Fail over, losing')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(readable(plan))?.[1] ?? '';
    const planned = await until('the run message', async () => ((await store.get(runId))?.message ? store.get(runId) : undefined));
    await click(planned, 'run.approve', runId, BOB);
    const run = await until('the gate', async () => {
      const now = await store.get(runId);
      return now?.gate?.state === 'open' ? now : undefined;
    });
    return { plan, runId, run, value: `${runId}:${run.gate?.id ?? ''}` };
  };
  const ended = (runId: string) =>
    until('the run to end', async () => {
      const now = await store.get(runId);
      return now && ['succeeded', 'failed', 'cancelled'].includes(now.state) ? now : undefined;
    });

  it('asks in the run message, refuses the wrong people privately, and goes on at once when an approver accepts (a double click counts once)', async () => {
    const { plan, runId, run, value } = await atGate();
    const asked = await slack.waitFor(() => slack.callsTo('chat.update').filter((c) => c.args.ts === plan.result?.ts).find((c) => readable(c).includes('run.gate-accept')), 20_000);
    const shown = readable(asked);
    expect(shown).toContain('Up to 42 s of writes may be lost. Fail over anyway?');
    expect(shown).toContain('last measured replication lag: 42 s');
    expect(shown).toContain('Accept data loss');
    expect(shown).toContain(`"value":"${value}"`);

    expect(await toldTo(await click(run, 'run.gate-accept', value, DAVE))).toContain('You may not answer the gates of runs of gated');
    expect(await toldTo(await click(run, 'run.gate-accept', value, ALICE))).toContain('two-person rule');
    expect(await toldTo(await click(run, 'run.gate-accept', value, GUEST))).toContain('Guests cannot use DR ChatOps');
    // A copy of the buttons elsewhere acts on nothing.
    expect(await toldTo(await click({ ...run, message: { channel: 'C0ELSEWHERE', ts: '1.000' } }, 'run.gate-accept', value, CAROL))).toContain('work only on its own message');
    expect((await store.get(runId))?.gate).toMatchObject({ state: 'open', votes: [] });

    await Promise.all([click(run, 'run.gate-accept', value, CAROL), click(run, 'run.gate-accept', value, CAROL)]);
    const done = await ended(runId);
    expect(done.state).toBe('succeeded');
    expect(done.steps['accept-loss']?.outputs).toMatchObject({ decision: 'accepted' });
    const audit = await store.audit(runId);
    expect(audit.filter((a) => a.action === 'gate accepted').map((a) => a.actor.id)).toEqual([CAROL]);
    const final = await slack.waitFor(() => slack.callsTo('chat.update').filter((c) => c.args.ts === plan.result?.ts).find((c) => readable(c).includes('succeeded')), 20_000);
    expect(readable(final)).toContain('accepted by');
    expect(readable(final)).not.toContain('run.gate-accept');
  });

  it('Refuse fails the run at the gate, naming who refused; the cleanup still runs', async () => {
    const { plan, runId, run, value } = await atGate();
    await click(run, 'run.gate-refuse', value, BOB);
    const done = await ended(runId);
    expect(done.state).toBe('failed');
    expect(done.failure).toMatchObject({ stepId: 'accept-loss', message: expect.stringContaining('refused by') as unknown });
    expect(done.steps.failover?.state).toBe('pending');
    expect(done.steps.report?.state).toBe('succeeded');
    expect((await store.audit(runId)).find((a) => a.action === 'gate refused')?.actor.id).toBe(BOB);
    const final = await slack.waitFor(() => slack.callsTo('chat.update').filter((c) => c.args.ts === plan.result?.ts).find((c) => readable(c).includes('failed')), 20_000);
    expect(readable(final)).toContain(`refused by <@${BOB}>`);
  });
});
