import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { SCHEDULE_QUEUE } from '../../src/schedules/queue.ts';
import { ScheduleStore } from '../../src/schedules/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { SCHEDULE_COMMANDS, until } from '../support/schedules.ts';
import { sendEvent, sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
/** Approves probe's runs (its runbook names him). */
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const GUEST = 'U0GUEST001';
/** A member of another organisation (a shared channel). */
const OUTSIDER = 'U0OUTSIDE1';
const OPS = 'C0OPS00001';
const CONFIGURED = JSON.stringify([{ id: 'weekly-probe', runbook: 'probe', cron: '0 6 * * 1', params: { label: 'weekly' } }]);

/** `/dr schedule …` through the real bot (signed requests, the fake Slack), its worker firing on real Redis and BullMQ. */
describe('schedules from Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  let runs: RunStore;
  let schedules: ScheduleStore;
  let fires: Queue;

  const command = async (text: string, user = ALICE, channel = OPS, channelName = 'dr-ops') => {
    const res = await sendSlashCommand(bot.url, { text, user_id: user, channel_id: channel, channel_name: channelName });
    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    return JSON.stringify(res.json);
  };
  const count = async () => (await schedules.list()).length;
  /** Fires the schedule now, as BullMQ does when its time comes: its next fire is taken out of its wait. */
  const fireNow = async (id: string) => {
    const next = await until(async () => (await fires.getDelayed()).find((j) => j.id?.startsWith(`repeat:${id}:`)), `the next fire of ${id}`);
    await next.promote();
    return next.id ?? '';
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.addUser(GUEST, { name: 'guest', is_restricted: true });
    slack.addUser(OUTSIDER, { name: 'outsider', team_id: 'T0ELSEWHERE' });
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: SCHEDULE_COMMANDS, DR_APPROVERS: '', DR_SCHEDULES: CONFIGURED } });
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    runs = new RunStore(redis, bot.prefix);
    schedules = new ScheduleStore(redis, bot.prefix);
    fires = new Queue(SCHEDULE_QUEUE, { connection: redis, prefix: bot.prefix });
    // The worker writes the configured schedules as it starts.
    await until(async () => (await schedules.get('weekly-probe')) !== undefined, 'the configured schedule');
  });
  afterAll(async () => {
    await fires.close();
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  it('adds a schedule; list and the App Home show it with its next run; a fire posts its background run in the channel, kept current', async () => {
    const added = await command('schedule add probe every 30m label=nightly here');
    const id = /`(s-[a-z2-9]{6})`/.exec(added)?.[1] ?? '';
    expect(added).toContain(`:calendar: Scheduled \`probe\` as \`${id}\`: it runs in the background, requested by you. Each run is posted in <#${OPS}>.`);

    const listed = await command('schedule list', CAROL);
    expect(listed).toContain(`\`${id}\` *probe* every 30m \`label=nightly\` → <#${OPS}> · by <@${ALICE}>`);
    expect(listed).toContain('last: not run yet · next in 30m');

    const fireId = await fireNow(id);
    const post = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === OPS && JSON.stringify(c.args.blocks).includes('A read-only probe')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(JSON.stringify(post.args.blocks))?.[1] ?? '';
    const run = await until(async () => {
      const r = await runs.get(runId);
      return r?.state === 'succeeded' && r.message !== undefined && r;
    }, 'the scheduled run to succeed');
    expect(run).toMatchObject({ priority: 'background', requester: { id: ALICE }, params: { label: 'nightly' }, origin: { channelId: OPS }, message: { channel: OPS, ts: post.result?.ts } });
    // The message follows the run to its end, as a requested run's does.
    await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.args.ts === post.result?.ts && JSON.stringify(c.args.blocks).includes('succeeded')));
    expect((await schedules.get(id))?.last).toMatchObject({ fireId, runId });

    expect(await command('schedule list')).toContain(`last: \`${runId}\` succeeded`);
    await sendEvent(bot.url, { type: 'app_home_opened', user: BOB, channel: 'D0BOBDM001', tab: 'home', event_ts: `${Date.now() / 1000}` });
    const home = JSON.stringify((await slack.waitFor(() => slack.callsTo('views.publish').find((c) => c.args.user_id === BOB))).args.view);
    expect(home).toContain('*Schedules*');
    expect(home).toContain(`\`${id}\` *probe* every 30m`);
    expect(home).toContain(`last: \`${runId}\` succeeded`);
    expect(home).toContain(' · next in ');
    expect(home).toContain('`weekly-probe` *probe* cron 0 6 * * 1 (UTC) `label=weekly` · by config');
  });

  it('refuses what cannot be scheduled, saying what was wrong and how to write it; nothing is scheduled', async () => {
    const before = await count();
    expect(await command('schedule add restart every 1h')).toContain('which is not a drill target. A schedule of a changing runbook acts only on drill targets');
    expect(await command('schedule add prob every 1h')).toContain('There is no runbook `prob`. Did you mean `probe`?');
    expect(await command('schedule add probe every 10s')).toContain('`every 10s` is more often than a schedule may run (at most every 1m): write `every 1m` or longer.');
    expect(await command('schedule add probe "61 * * * *"')).toContain('`61 * * * *` is not a valid cron expression');
    expect(await command('schedule add probe every 1h label=NOPE')).toContain('Parameters for probe are not valid');
    expect(await command('schedule add probe every 1h #elsewhere')).toContain('`#elsewhere` is a channel name the bot cannot look up from a command: write `here` for this channel, or the channel\'s id');
    expect(await command('schedule add probe')).toContain('`schedule add probe` needs when it runs');
    expect(await command('schedule pause s-nothere')).toContain('There is no schedule `s-nothere`.');
    expect(await count()).toBe(before);
    // `#name` of the channel it is typed in is that channel.
    const here = await command('schedule add probe every 2h #dr-ops');
    expect(here).toContain(`Each run is posted in <#${OPS}>`);
    await command(`schedule delete ${/`(s-[a-z2-9]{6})`/.exec(here)?.[1] ?? ''}`);
  });

  it('refuses a guest or someone of another organisation before anything is read or stored', async () => {
    const before = await count();
    expect(await command('schedule add probe every 1h', GUEST)).toContain('Guests cannot use DR ChatOps');
    expect(await command('schedule add probe every 1h', OUTSIDER)).toContain('You are a member of another organisation');
    expect(await count()).toBe(before);
  });

  it('lets the creator or an approver pause, resume or delete, and keeps configured schedules out of reach of delete', async () => {
    const id = /`(s-[a-z2-9]{6})`/.exec(await command('schedule add probe every 1h'))?.[1] ?? '';
    expect(await command(`schedule pause ${id}`, CAROL)).toContain(`You may not pause schedule \`${id}\`: only <@${ALICE}>, who made it, or the approvers of its runbook may; approvers: <@${BOB}> (runbook probe). Nothing changed.`);
    expect((await schedules.get(id))?.paused).toBe(false);
    expect(await command(`schedule pause ${id}`, BOB)).toContain(`Paused \`${id}\``);
    expect((await fires.getDelayed()).some((j) => j.id?.startsWith(`repeat:${id}:`))).toBe(false);
    expect(await command('schedule list')).toContain('*paused*');
    expect(await command(`schedule resume ${id}`)).toContain(`Resumed \`${id}\``);
    expect(await command(`schedule delete ${id}`)).toContain(`Deleted schedule \`${id}\``);
    expect(await schedules.get(id)).toBeUndefined();

    expect(await command('schedule delete weekly-probe', BOB)).toContain('Schedule `weekly-probe` comes from the configuration: remove it in the config file\'s schedules:, or pause it here. Nothing was deleted.');
    expect(await command('schedule pause weekly-probe', ALICE)).toContain('only the approvers of its runbook may');
    expect(await command('schedule pause weekly-probe', BOB)).toContain('Paused `weekly-probe`');
  });
});
