import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand, SIGNING_SECRET, slashCommandBody } from '../support/slack-requests.ts';

const now = () => Math.floor(Date.now() / 1000);

/** A ping whose X-Slack-Request-Timestamp header is `header`, signed over `signedAs` (what Bolt would recompute). */
async function pingWithTimestamp(url: string, header: string, signedAs: string, responseUrl: string): Promise<number> {
  const body = slashCommandBody({ text: 'ping', channel_id: 'C0STAMPED1', response_url: responseUrl });
  const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${signedAs}:${body}`).digest('hex')}`;
  const res = await fetch(`${url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': header, 'x-slack-signature': signature },
    body,
  });
  await res.text();
  return res.status;
}

/**
 * Timestamps Bolt alone accepted: it reads the header with Number() and signs
 * String(Number(header)), and refuses only old ones. Each row: the header sent,
 * and the string its signature covers.
 */
const STAMPS: [string, () => [string, string]][] = [
  ['6 minutes in the future', () => [String(now() + 6 * 60), String(now() + 6 * 60)]],
  ['an hour in the future', () => [String(now() + 3600), String(now() + 3600)]],
  ['a fraction, now.5', () => [`${now()}.5`, `${now()}.5`]],
  ['a fraction, 1764000000.5', () => ['1764000000.5', '1764000000.5']],
  ['exponent notation of now', () => [`${now() / 1e9}e9`, String(Number(`${now() / 1e9}e9`))]],
  ['1e9', () => ['1e9', '1000000000']],
  ['hexadecimal now', () => [`0x${now().toString(16)}`, String(now())]],
  ['a leading zero', () => [`0${now()}`, String(now())]],
  // HTTP strips the space before a header value; what arrives no longer matches what was signed.
  ['a leading space, " 1764000000"', () => [' 1764000000', ' 1764000000']],
  ['a leading space before now', () => [` ${now()}`, ` ${now()}`]],
  ['a sign, +now', () => [`+${now()}`, String(now())]],
  ['two timestamps', () => [`${now()}, ${now()}`, `${now()}, ${now()}`]],
];

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

  it.each(STAMPS)('refuses a timestamp that is %s with 401; nothing is queued, posted or answered later', async (what, stamp) => {
    const [header, signedAs] = stamp();
    const id = `stamp-${what}`;
    const calls = slack.calls.length;
    expect(await pingWithTimestamp(bot.url, header, signedAs, slack.responseUrl(id))).toBe(401);
    expect(await jobsQueued(bot.prefix)).toBe(0);
    expect(slack.calls.length).toBe(calls);
    expect(slack.responses.filter((r) => r.id === id)).toEqual([]);
  });

  it('accepts a clock up to 5 minutes ahead (4 minutes) for a request that changes nothing', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'help', channel_id: 'C0SKEWED01' }, { timestamp: now() + 4 * 60 });
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json?.blocks)).toContain('/dr help [command]');
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
