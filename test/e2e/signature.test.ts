import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

describe('requests that Slack did not sign are refused and change nothing', () => {
  let slack: FakeSlack;
  let bot: TestBot;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = await startTestBot({ slack });
  });
  afterAll(async () => {
    await bot.stop();
    await slack.stop();
  });

  const refused: [string, Parameters<typeof sendSlashCommand>[2]][] = [
    ['signed with another secret', { secret: 'ffffffffffffffffffffffffffffffff' }],
    ['with a forged signature', { signature: `v0=${'0'.repeat(64)}` }],
    ['with a timestamp older than 5 minutes', { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 }],
    ['whose body was altered after signing', { tamper: (body) => body.replace('text=ping', 'text=help') }],
    ['with no signature header value', { signature: '' }],
  ];

  it.each(refused)('refuses a ping %s with 401 and queues nothing', async (_what, options) => {
    const res = await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0FORGED01' }, options);
    expect(res.status).toBe(401);
    expect(await jobsQueued(bot.prefix)).toBe(0);
  });

  it.each(refused.filter(([what]) => !what.includes('altered')))('refuses a button click %s with 401', async (_what, options) => {
    const res = await sendBlockAction(bot.url, { actionId: 'run.approve', value: 'r1234567' }, options);
    expect(res.status).toBe(401);
    expect(await jobsQueued(bot.prefix)).toBe(0);
  });

  it('refuses a button click whose value was changed after signing to point at another run', async () => {
    const res = await sendBlockAction(
      bot.url,
      { actionId: 'run.approve', value: 'r1234567' },
      { tamper: (body) => body.replace('r1234567', 'r7654321') },
    );
    expect(res.status).toBe(401);
  });

  it('posted nothing to Slack for any refused request', async () => {
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.callsTo('chat.postMessage')).toHaveLength(0);
  });

  it('still accepts a correctly signed request afterwards', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0GENUINE1' });
    expect(res.status).toBe(200);
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0GENUINE1'));
  });
});
