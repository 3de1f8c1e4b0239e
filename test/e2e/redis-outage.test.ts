import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued, TEST_REDIS_URL } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Redis goes away for a few seconds while the bot runs', () => {
  let slack: FakeSlack;
  let proxy: TcpProxy;
  let bot: TestBot;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    const target = new URL(TEST_REDIS_URL);
    proxy = await new TcpProxy(target.hostname, Number(target.port || 6379)).start();
    bot = await startTestBot({ slack, env: { REDIS_URL: proxy.url } });
  });
  afterAll(async () => {
    await bot.stop();
    await proxy.stop();
    await slack.stop();
  });

  it('works before the outage', async () => {
    expect((await readyz(bot.internalUrl)).status).toBe(200);
    await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0BEFORE01' });
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0BEFORE01'));
  });

  it('during the outage: not ready, and a command is told nothing was queued, within the ack window', async () => {
    await proxy.cut();
    await eventually(async () => (await readyz(bot.internalUrl)).status === 503);
    expect((await readyz(bot.internalUrl)).body.redis).not.toBe('ok');

    const res = await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0DURING01' });
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(3_000);
    expect(String(res.json?.text)).toContain('nothing was queued');
  });

  it('after Redis is back: ready again, and the next command works end to end', async () => {
    await new Promise((r) => setTimeout(r, 2_000));
    await proxy.restore();
    await eventually(async () => (await readyz(bot.internalUrl)).status === 200);

    await eventually(async () => {
      const res = await sendSlashCommand(bot.url, { text: 'ping', channel_id: 'C0AFTER001' });
      return String(res.json?.text).includes('Ping queued');
    });
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0AFTER001'), 15_000);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0DURING01')).toHaveLength(0);
    expect(await jobsQueued(bot.prefix)).toBe(2);
  });
});
