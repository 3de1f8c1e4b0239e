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
import { sendSlashCommand } from '../support/slack-requests.ts';

/** `drill`'s approvers (its runbook names them): BOB makes the schedule, CAROL and DAVE approve it. */
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const DAVE = 'U0DAVE0001';
/** Approves nothing. */
const ERIN = 'U0ERIN0001';
const OPS = 'C0OPS00001';
/** Production as `default`, and a drill target. */
const TARGETS = JSON.stringify({ default: { label: 'Production', region: 'us-east-1' }, drill: { label: 'Drill', region: 'us-west-2', account: '222222222222', drill: true } });

/** A changing runbook's schedule approved from Slack, then fired: its run posted in the channel, already approved by the schedule's approvers. */
describe('a schedule of a changing runbook, approved in Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  let runs: RunStore;
  let schedules: ScheduleStore;
  let fires: Queue;

  const command = async (text: string, user: string) => {
    const res = await sendSlashCommand(bot.url, { text, user_id: user, channel_id: OPS, channel_name: 'dr-ops' });
    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    return JSON.stringify(res.json);
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.addUser(ERIN, { name: 'erin' });
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: SCHEDULE_COMMANDS, DR_APPROVERS: '', DR_TARGETS: TARGETS } });
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    runs = new RunStore(redis, bot.prefix);
    schedules = new ScheduleStore(redis, bot.prefix);
    fires = new Queue(SCHEDULE_QUEUE, { connection: redis, prefix: bot.prefix });
  });
  afterAll(async () => {
    await fires.close();
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  it('refuses production, awaits two approvers other than its creator, then posts each run, approved by them, in its channel', async () => {
    expect(await command('schedule add drill every 1h target=default here', BOB)).toContain('Step `act` acts on target `default` (Production (default) · us-east-1), which is not a drill target.');

    const added = await command('schedule add drill every 1h target=drill here', BOB);
    const id = /`(s-[a-z2-9]{6})`/.exec(added)?.[1] ?? '';
    expect(added).toContain(`It changes production: it fires once approved by 2 approvers other than you (\`/dr schedule approve ${id}\`)`);
    expect(added).toContain('*awaiting approval*: it needs 2 approvals from different people before it fires · 0 of 2 approvals · acts on Drill (drill) · us-west-2 · account 222222222222');
    expect(added).toContain('fires once approved');
    expect((await fires.getDelayed()).some((j) => j.id?.startsWith(`repeat:${id}:`))).toBe(false);

    expect(await command(`schedule approve ${id}`, BOB)).toContain(`You made schedule \`${id}\`: the two-person rule needs 2 approvals from others. Nothing changed.`);
    expect(await command(`schedule approve ${id}`, ERIN)).toContain('You may not approve runs of drill: only <@U0BOB00001>, <@U0CAROL001>, <@U0DAVE0001> may. Nothing changed.');
    expect(await command(`schedule approve ${id}`, CAROL)).toContain(`Your approval of \`${id}\` is recorded (1 of 2): it fires once approved by 1 more.`);
    expect(await command(`schedule approve ${id}`, CAROL)).toContain(`You already approved schedule \`${id}\``);
    expect(await command(`schedule approve ${id}`, DAVE)).toContain(`:white_check_mark: Approved \`${id}\` (2 of 2): it fires from now on, each run without a new approval.`);
    expect(await command('schedule list', ERIN)).toContain(`*approved* · approved by <@${CAROL}>, <@${DAVE}> · acts on Drill (drill) · us-west-2 · account 222222222222 (drill targets only)`);

    // Its time comes: BullMQ's next fire taken out of its wait.
    const next = await until(async () => (await fires.getDelayed()).find((j) => j.id?.startsWith(`repeat:${id}:`)), 'the first fire');
    await next.promote();
    const post = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === OPS && JSON.stringify(c.args.blocks).includes('Changes what it is pointed at')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(JSON.stringify(post.args.blocks))?.[1] ?? '';
    const run = await until(async () => {
      const r = await runs.get(runId);
      return r?.state === 'succeeded' && r;
    }, 'the scheduled run to succeed');
    expect(run).toMatchObject({ priority: 'background', requester: { id: BOB }, params: { target: 'drill' }, origin: { channelId: OPS, scheduleId: id } });
    expect(run.approvals.map((a) => a.by.id)).toEqual([CAROL, DAVE]);
    expect((await schedules.get(id))?.last).toMatchObject({ runId });
  });
});
