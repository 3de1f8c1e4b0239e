import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued } from '../support/redis.ts';
import { SIGNING_SECRET, sendSlashCommand } from '../support/slack-requests.ts';

/** Slack shows "Timeout was reached" when a slash command is not answered within 3 s. */
const SLACK_ACK_WINDOW_MS = 3_000;

describe('/dr ping and /dr help, end to end (HTTP mode, real Redis, fake Slack)', () => {
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

  it('acknowledges ping at once and the worker posts pong in the channel through the queue', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0PINGTEST', user_id: 'U0BOB00001' });

    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(SLACK_ACK_WINDOW_MS);
    expect(res.json).toMatchObject({ response_type: 'ephemeral' });
    expect(String(res.json?.text)).toContain('Ping queued');

    const post = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0PINGTEST'));
    expect(post.token).toBe(BOT_TOKEN);
    expect(String(post.args.text)).toContain('Pong <@U0BOB00001>');
    expect(post.args.blocks).toBeInstanceOf(Array);
  });

  it('answers in the channel through response_url when the bot is not in a private channel', async () => {
    slack.setChannel('G0PRIVATE1', { isPrivate: true, botIsMember: false });
    await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'G0PRIVATE1', response_url: slack.responseUrl('private-ping') });

    const answer = await slack.waitFor(() => slack.responses.find((r) => r.id === 'private-ping'));
    expect(answer.body.response_type).toBe('in_channel');
    expect(String(answer.body.text)).toContain('Pong');
    expect(String(answer.body.text)).toContain('/invite');
  });

  it('retries the post after Slack answers 429 with Retry-After, and posts once', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0RATELIMT' });

    await slack.waitFor(() => slack.messages.size > 0 && [...slack.messages.values()].find((m) => m.channel === 'C0RATELIMT'));
    const attempts = slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0RATELIMT');
    expect(attempts).toHaveLength(2);
    expect([...slack.messages.values()].filter((m) => m.channel === 'C0RATELIMT')).toHaveLength(1);
  });

  it('queues one job when Slack delivers the same command twice (same trigger_id)', async () => {
    const before = await jobsQueued(bot.prefix);
    const trigger = '1764000123.456.deadbeef';
    const [a, b] = await Promise.all([
      sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0DUPLICAT', trigger_id: trigger }),
      sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0DUPLICAT', trigger_id: trigger }, { retryNum: 1 }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await slack.waitFor(() => [...slack.messages.values()].find((m) => m.channel === 'C0DUPLICAT'));
    expect(await jobsQueued(bot.prefix)).toBe(before + 1);
    // Give a second job (if one had been queued) time to post.
    await new Promise((r) => setTimeout(r, 500));
    expect([...slack.messages.values()].filter((m) => m.channel === 'C0DUPLICAT')).toHaveLength(1);
  });

  it('answers help with the grammar, ephemeral, and queues nothing', async () => {
    const before = await jobsQueued(bot.prefix);
    const res = await sendSlashCommand(bot.url, { text: 'help' });

    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    const shown = JSON.stringify(res.json?.blocks);
    expect(shown).toContain('/dr help [command]');
    expect(shown).toContain('/dr ping');
    expect(await jobsQueued(bot.prefix)).toBe(before);
  });

  it('treats an empty /dr as help', async () => {
    const res = await sendSlashCommand(bot.url, { text: '   ' });
    expect(res.json?.response_type).toBe('ephemeral');
    expect(JSON.stringify(res.json?.blocks)).toContain('Disaster recovery commands');
  });

  it('refuses an unknown command with the closest match and changes nothing', async () => {
    const before = await jobsQueued(bot.prefix);
    const postsBefore = slack.callsTo('chat.postMessage').length;
    const res = await sendSlashCommand(bot.url, { text: 'pnig' });

    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    expect(String(res.json?.text)).toContain('Unknown command `pnig`. Did you mean `/dr ping`?');
    expect(await jobsQueued(bot.prefix)).toBe(before);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(postsBefore);
  });

  it('refuses extra arguments with the usage', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'ping now please' });
    expect(String(res.json?.text)).toContain('`ping` takes no arguments. Usage: `/dr ping`');
  });

  it('never writes a token, the signing secret or a response_url to the log', () => {
    const all = bot.logs.join('');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(BOT_TOKEN);
    expect(all).not.toContain(SIGNING_SECRET);
    expect(all).not.toContain(slack.responseUrl('private-ping'));
    expect(all).toContain('command queued');
  });
});
