/**
 * Who may act, from where, on what: each rule of docs/security.md tried the way
 * a hostile or careless colleague would, with correctly signed requests.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack, readable, type RecordedCall } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendBlockAction, sendEvent, sendSlashCommand, triggerId } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const GUEST = 'U0GUEST001';
const SINGLE_GUEST = 'U0GUEST002';
const OUTSIDER = 'U0OTHERORG1';
const WORKFLOW = 'U0WORKFLOW1';
const RUNS_CHANNEL = 'C0RUNS00001';
const PRIVATE_CHANNEL = 'C0PRIVATE01';

function commandsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'access-commands-'));
  writeFileSync(join(dir, 'change.yaml'), 'id: change\ntitle: Change production\napproval: { required: 1 }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0.1 } }\n');
  writeFileSync(join(dir, 'look.yaml'), 'id: look\ntitle: Look around\napproval: { required: 0 }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0 } }\n');
  writeFileSync(join(dir, 'failover.yaml'), 'id: failover\ntitle: Fail over\nparams:\n  region: { type: enum, values: [us-east-9-secret, eu-west-9-secret] }\napproval: { required: 1 }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0.1 } }\n');
  return dir;
}

interface Harness {
  slack: FakeSlack;
  bot: TestBot;
  store: RunStore;
  redis: Redis;
  command(text: string, user?: string, channel?: string, extra?: Record<string, string>): Promise<{ text: string; blocks: string }>;
  click(actionId: string, runId: string, user: string, where?: { channelId: string; messageTs: string }): Promise<string>;
  /** The run the latest plan message shows. */
  planned(title: string, from: number): Promise<{ runId: string; call: RecordedCall }>;
  stop(): Promise<void>;
}

async function harness(env: Record<string, string>): Promise<Harness> {
  const slack = await new FakeSlack([BOT_TOKEN]).start();
  slack.addUser(GUEST, { is_restricted: true });
  slack.addUser(SINGLE_GUEST, { is_ultra_restricted: true });
  slack.addUser(OUTSIDER, { team_id: 'T0OTHERORG' });
  slack.addUser(WORKFLOW, { is_bot: true });
  slack.setChannel(PRIVATE_CHANNEL, { isPrivate: true });
  const bot = await startTestBot({ slack, env: { COMMANDS_DIR: commandsDir(), ...env } });
  const redis = new Redis(TEST_REDIS_URL);
  const store = new RunStore(redis, bot.prefix);
  let n = 0;
  return {
    slack,
    bot,
    store,
    redis,
    async command(text, user = ALICE, channel = RUNS_CHANNEL, extra = {}) {
      const res = await sendSlashCommand(bot.url, { text, user_id: user, channel_id: channel, response_url: slack.responseUrl(`c-${++n}`), ...extra });
      expect(res.status).toBe(200);
      return { text: typeof res.json?.text === 'string' ? res.json.text : '', blocks: JSON.stringify(res.json?.blocks ?? []) };
    },
    async click(actionId, runId, user, where) {
      const id = `k-${++n}`;
      const own = (await store.get(runId))?.message;
      const at = where ?? (own ? { channelId: own.channel, messageTs: own.ts } : {});
      const res = await sendBlockAction(bot.url, { actionId, value: runId, userId: user, responseUrl: slack.responseUrl(id), ...at });
      expect(res.status).toBe(200);
      const reply = await slack.waitFor(() => slack.responses.find((r) => r.id === id)?.body, 2_000).catch(() => undefined);
      return typeof reply?.text === 'string' ? reply.text : '';
    },
    async planned(title, from) {
      const call = await slack.waitFor(() => slack.calls.slice(from).find((c) => c.method === 'chat.postMessage' && readable(c.args).includes(title) && !c.args.thread_ts));
      const runId = /run `(r[a-z0-9]{7})`/.exec(readable(call.args))?.[1] ?? '';
      // The bot stores the message right after posting it.
      for (let i = 0; i < 100 && !(await store.get(runId))?.message; i++) await new Promise((r) => setTimeout(r, 20));
      return { runId, call };
    },
    async stop() {
      await bot.stop();
      redis.disconnect();
      await slack.stop();
    },
  };
}

describe('actors are known: only full members of this workspace act', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: '*' });
  });
  afterAll(async () => h.stop());

  it.each([
    ['a multi-channel guest', GUEST, 'Guests cannot use DR ChatOps'],
    ['a single-channel guest', SINGLE_GUEST, 'Guests cannot use DR ChatOps'],
    ['a member of another organisation (Slack Connect)', OUTSIDER, 'member of another organisation'],
    ['a bot or workflow', WORKFLOW, 'bots and workflows'],
    ['a user Slack does not know', 'U0NOBODY999', 'could not check who you are'],
  ])('refuses a run request from %s, and stores nothing', async (_who, user, reason) => {
    const before = (await h.store.list(100)).length;
    const answer = await h.command('run change', user);
    expect(answer.text).toContain(reason);
    expect(answer.text).toContain('Nothing was done');
    expect((await h.store.list(100)).length).toBe(before);
  });

  it.each([
    ['a guest', GUEST, 'Guests cannot use DR ChatOps'],
    ['a member of another organisation', OUTSIDER, 'member of another organisation'],
  ])('refuses an approval click from %s; the run still awaits approval', async (_who, user, reason) => {
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    expect(await h.click('run.approve', runId, user)).toContain(reason);
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
    expect(await h.store.audit(runId)).not.toContainEqual(expect.objectContaining({ action: 'approved' }));
  });

  it('refuses requests made for another workspace or another app', async () => {
    const before = (await h.store.list(100)).length;
    expect((await h.command('run change', ALICE, RUNS_CHANNEL, { team_id: 'T0OTHERORG' })).text).toContain('workspace this DR ChatOps is not installed for');
    expect((await h.command('run change', ALICE, RUNS_CHANNEL, { api_app_id: 'A0OTHERAPP1' })).text).toContain('another Slack app');
    expect((await h.command('help', ALICE, RUNS_CHANNEL, { api_app_id: 'A0OTHERAPP1' })).text).toContain('another Slack app');
    expect((await h.store.list(100)).length).toBe(before);
  });

  it('a guest opening the App Home sees nothing', async () => {
    const publishes = h.slack.callsTo('views.publish').length;
    const res = await sendEvent(h.bot.url, { type: 'app_home_opened', user: GUEST, channel: 'D0GUESTDM01', tab: 'home', event_ts: `${Date.now() / 1000}` });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.slack.callsTo('views.publish').length).toBe(publishes);
  });
});

describe('a fresh install: nobody may approve until the operator chooses', () => {
  let h: Harness;
  beforeAll(async () => {
    // No DR_APPROVERS: as shipped.
    h = await harness({ DR_APPROVERS: '' });
  });
  afterAll(async () => h.stop());

  it('says so at start, in the plan, and refuses every approval', async () => {
    expect(h.bot.logs.join('')).toContain('nobody may approve change: set DR_APPROVERS');
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId, call } = await h.planned('Change production', mark);
    expect(readable(call.args)).toContain('nobody may approve yet: set DR_APPROVERS');
    expect(await h.click('run.approve', runId, BOB)).toContain('Nobody may approve runs of change yet');
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
  });
});

describe('where: decisions only on the run\'s own message, runs of private channels only there', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: `${BOB},${CAROL}` });
  });
  afterAll(async () => h.stop());

  it('refuses an approval clicked in a DM or another channel, and accepts it on the plan message', async () => {
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    const own = await h.store.get(runId);
    const ts = own?.message?.ts ?? '';
    expect(await h.click('run.approve', runId, BOB, { channelId: 'D0BOBDM0001', messageTs: ts })).toContain('work only on its own message');
    expect(await h.click('run.approve', runId, BOB, { channelId: 'C0ELSEWHERE', messageTs: ts })).toContain('work only on its own message');
    expect(await h.click('run.approve', runId, BOB, { channelId: RUNS_CHANNEL, messageTs: '1764000000.999999' })).toContain('work only on its own message');
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
    await h.click('run.approve', runId, BOB);
    for (let i = 0; i < 100 && (await h.store.get(runId))?.state === 'awaiting_approval'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.store.get(runId))?.state).not.toBe('awaiting_approval');
  });

  it('`/dr show` in a DM renders no Approve, Reject or Dry run buttons', async () => {
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    const shown = await h.command(`show ${runId}`, BOB, 'D0BOBDM0001');
    expect(shown.blocks).toContain(runId);
    expect(shown.blocks).not.toContain('"type":"actions"');
    expect(shown.blocks).not.toContain('run.approve');
    expect(shown.blocks).toContain(`from the run's message in <#${RUNS_CHANNEL}>`);
  });

  it('a double-clicked Dry run plans one dry run, and only on the run\'s own message', async () => {
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    const ts = (await h.store.get(runId))?.message?.ts ?? '';
    expect(await h.click('run.dry-run', runId, CAROL, { channelId: 'C0ELSEWHERE', messageTs: ts })).toContain('work only on its own message');
    const dryRuns = async () => (await h.store.list(100)).filter((r) => r.dryRun && r.origin.threadTs === ts).length;
    expect(await dryRuns()).toBe(0);
    await Promise.all([h.click('run.dry-run', runId, CAROL), h.click('run.dry-run', runId, CAROL)]);
    for (let i = 0; i < 100 && (await dryRuns()) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    expect(await dryRuns()).toBe(1);
  });

  it('`/dr cancel` counts only in the run\'s own channel', async () => {
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    expect((await h.command(`cancel ${runId}`, BOB, 'C0ELSEWHERE')).text).toContain(`can be cancelled only in <#${RUNS_CHANNEL}>`);
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
  });

  it('runs of a private channel are listed, shown and audited only there', async () => {
    const mark = h.slack.calls.length;
    await h.command('run change', ALICE, PRIVATE_CHANNEL);
    const { runId } = await h.planned('Change production', mark);
    expect((await h.store.get(runId))?.origin.private).toBe(true);
    expect((await h.command('runs', BOB, RUNS_CHANNEL)).blocks).not.toContain(runId);
    expect((await h.command('runs', BOB, PRIVATE_CHANNEL)).blocks).toContain(runId);
    for (const sub of ['show', 'audit']) {
      const elsewhere = await h.command(`${sub} ${runId}`, BOB, RUNS_CHANNEL);
      expect(elsewhere.text).toContain(`There is no run \`${runId}\``);
      expect(elsewhere.blocks).not.toContain('Change production');
    }
    await sendEvent(h.bot.url, { type: 'app_home_opened', user: BOB, channel: 'D0BOBDM0001', tab: 'home', event_ts: `${Date.now() / 1000}` });
    const home = await h.slack.waitFor(() => h.slack.callsTo('views.publish').findLast((c) => c.args.user_id === BOB));
    expect(JSON.stringify(home.args.view)).not.toContain(runId);
  });
});

describe('once, limits and channels', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: BOB, SLACK_RUN_CHANNELS: `${RUNS_CHANNEL},C0RUNS00002`, DR_RUNS_PER_USER_PER_MINUTE: '3', DR_RUNS_PER_MINUTE: '5' });
  });
  afterAll(async () => h.stop());

  it('a command Slack delivers again (same trigger id, X-Slack-Retry-Num) makes one run', async () => {
    const before = (await h.store.list(100)).length;
    const trigger = triggerId();
    const fields = { text: 'run change', user_id: CAROL, channel_id: RUNS_CHANNEL, trigger_id: trigger, response_url: h.slack.responseUrl('retry') };
    const answers = [
      await sendSlashCommand(h.bot.url, fields),
      await sendSlashCommand(h.bot.url, fields, { retryNum: 1 }),
      await sendSlashCommand(h.bot.url, fields, { retryNum: 2 }),
      await sendSlashCommand(h.bot.url, fields, { retryNum: 3 }),
    ];
    expect(answers.slice(1).every((a) => String(a.json?.text).includes('already received'))).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect((await h.store.list(100)).length).toBe(before + 1);
  });

  it('limits run requests per person, then for everyone, with a clear message', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push((await h.command('run look', ALICE)).text);
    expect(answers.slice(0, 3).every((a) => a.includes('Planning'))).toBe(true);
    expect(answers[3]).toContain('You asked for 3 runs within a minute');
    // Carol made one above; one more reaches the bot-wide limit of 5, the next is refused for anyone.
    expect((await h.command('run look', CAROL)).text).toContain('Planning');
    expect((await h.command('run look', 'U0DAVE0001')).text).toContain('no more than 5 run requests a minute');
  });
});

describe('declaring an incident grants no run channel', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: BOB, SLACK_RUN_CHANNELS: RUNS_CHANNEL });
  });
  afterAll(async () => h.stop());

  it('a changing runbook (and its dry run) is refused in the new incident channel unless SLACK_RUN_CHANNELS admits incidents', async () => {
    const declared = await h.command('declare data-corruption "orders table damaged"', CAROL, 'C0GENERAL01');
    expect(declared.text).toContain('Declared');
    const create = await h.slack.waitFor(() => h.slack.callsTo('conversations.create')[0]);
    const channel = (create.result?.channel as { id?: string } | undefined)?.id ?? '';
    expect(channel).not.toBe('');
    const before = (await h.store.list(100)).length;
    expect((await h.command('run change', CAROL, channel)).text).toContain('may be requested only in');
    expect((await h.command('run change --dry-run', CAROL, channel)).text).toContain('may be requested only in');
    expect((await h.store.list(100)).length).toBe(before);
  });
});

describe('requesters', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: BOB, DR_REQUESTERS: '@sre-oncall' });
    h.slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL] });
  });
  afterAll(async () => h.stop());

  it('only the requesters role may ask for a changing runbook; read-only ones stay open', async () => {
    expect((await h.command('run change', ALICE)).text).toContain('Only members of @sre-oncall may request `change`');
    expect((await h.command('run change', CAROL)).text).toContain('Planning');
    expect((await h.command('run look', ALICE)).text).toContain('Planning');
  });

  it('someone refused learns nothing of the parameters: who is checked before them', async () => {
    const before = (await h.store.list(100)).length;
    for (const text of ['run failover region=nowhere', 'run failover', 'run failover --dry-run colour=red']) {
      const answer = await h.command(text, ALICE);
      expect(answer.text).toContain('Only members of @sre-oncall may request `failover`');
      expect(answer.text).not.toContain('secret');
      expect(answer.text).not.toContain('region');
    }
    expect((await h.store.list(100)).length).toBe(before);
    // A requester gets the parameter rules.
    expect((await h.command('run failover region=nowhere', CAROL)).text).toContain('us-east-9-secret');
  });

  it('a requester removed from the group is refused at once, not a minute later', async () => {
    h.slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL, 'U0DAVE0001'] });
    expect((await h.command('run change', 'U0DAVE0001')).text).toContain('Planning');
    h.slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL] });
    expect((await h.command('run change', 'U0DAVE0001')).text).toContain('Only members of @sre-oncall may request `change`');
  });

  it('the Dry run button follows the requesters role too, read afresh', async () => {
    h.slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL, 'U0DAVE0001'] });
    const mark = h.slack.calls.length;
    expect((await h.command('run change', 'U0DAVE0001')).text).toContain('Planning');
    const { runId } = await h.planned('Change production', mark);
    h.slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL] });
    expect(await h.click('run.dry-run', runId, 'U0DAVE0001')).toContain('Only members of @sre-oncall may request `change`');
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.store.list(100)).filter((r) => r.dryRun && r.requester.id === 'U0DAVE0001')).toEqual([]);
  });
});

describe('decisions read group membership from Slack when they are made', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ DR_APPROVERS: '@dr-approvers', DR_PUBLISHERS: '@comms' });
  });
  afterAll(async () => h.stop());

  it('someone removed from the approvers group cannot approve, reject or cancel within the minute', async () => {
    h.slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [BOB, CAROL] });
    let mark = h.slack.calls.length;
    await h.command('run change');
    const earlier = (await h.planned('Change production', mark)).runId;
    mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    // Bob approves one run as a member, then leaves the group; seconds later he tries the other.
    await h.click('run.approve', earlier, BOB);
    expect((await h.store.get(earlier))?.approvals.map((a) => a.by.id)).toEqual([BOB]);
    h.slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [CAROL] });
    for (const action of ['run.approve', 'run.reject', 'run.cancel']) {
      expect(await h.click(action, runId, BOB)).toContain('only members of @dr-approvers may');
    }
    expect((await h.command(`cancel ${runId}`, BOB)).text).toContain('only members of @dr-approvers may');
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
    expect(await h.store.audit(runId)).not.toContainEqual(expect.objectContaining({ action: 'approved' }));
  });

  it('an approval counts for someone who was just added to the group', async () => {
    h.slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [CAROL] });
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    expect(await h.click('run.approve', runId, BOB)).toContain('only members of @dr-approvers may');
    h.slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [CAROL, BOB] });
    await h.click('run.approve', runId, BOB);
    for (let i = 0; i < 100 && (await h.store.get(runId))?.state === 'awaiting_approval'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.store.get(runId))?.approvals.map((a) => a.by.id)).toEqual([BOB]);
  });

  it('when Slack does not say who is in the group, the decision is refused and says why', async () => {
    h.slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [BOB, CAROL] });
    const mark = h.slack.calls.length;
    await h.command('run change');
    const { runId } = await h.planned('Change production', mark);
    h.slack.failNext('usergroups.list', { error: 'fatal_error' });
    const answer = await h.click('run.approve', runId, BOB);
    expect(answer).toContain('Slack did not say just now which user groups you are in');
    expect(answer).toContain('Nothing was done');
    expect((await h.store.get(runId))?.state).toBe('awaiting_approval');
  });
});

describe('changes happen where the team sees them: channels, not DMs, unless admitted', () => {
  const DM = 'D0ALICEDM01';
  const GROUP_DM_G = 'G0GROUPDM01';
  const GROUP_DM_C = 'C0GROUPDM02';
  const HIDDEN = 'C0HIDDEN001';
  const setUp = async (env: Record<string, string>) => {
    const h = await harness({ DR_APPROVERS: BOB, ...env });
    h.slack.setChannel(DM, { kind: 'im' });
    h.slack.setChannel(GROUP_DM_G, { kind: 'mpim' });
    h.slack.setChannel(GROUP_DM_C, { kind: 'mpim' });
    // A private channel the bot is not in: Slack will not describe it.
    h.slack.setChannel(HIDDEN, { isPrivate: true, botIsMember: false });
    return h;
  };

  it('by default (SLACK_RUN_CHANNELS=*) a change, or its dry run, is refused in a DM, a group DM and a conversation Slack will not describe; read-only runbooks stay open', async () => {
    const h = await setUp({});
    try {
      const before = (await h.store.list(100)).length;
      for (const channel of [DM, GROUP_DM_G, GROUP_DM_C]) {
        for (const text of ['run change', 'run change --dry-run']) {
          const answer = await h.command(text, ALICE, channel);
          expect(answer.text, `${text} in ${channel}`).toContain('not in a DM or group DM');
          expect(answer.text).toContain('Nothing was requested');
        }
      }
      expect((await h.command('run change', ALICE, HIDDEN)).text).toContain('Slack would not say what kind of conversation this is');
      expect((await h.store.list(100)).length).toBe(before);
      expect((await h.command('run look', ALICE, DM)).text).toContain('Planning');
      expect((await h.command('run change', ALICE, PRIVATE_CHANNEL)).text).toContain('Planning');
    } finally {
      await h.stop();
    }
  });

  it('the word dms in SLACK_RUN_CHANNELS admits DMs and group DMs', async () => {
    const h = await setUp({ SLACK_RUN_CHANNELS: '*,dms' });
    try {
      for (const channel of [DM, GROUP_DM_C, RUNS_CHANNEL]) expect((await h.command('run change', ALICE, channel)).text, channel).toContain('Planning');
      // Still not where Slack cannot say what it is.
      expect((await h.command('run change', ALICE, HIDDEN)).text).toContain('Slack would not say what kind of conversation this is');
    } finally {
      await h.stop();
    }
  });
});
