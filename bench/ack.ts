/**
 * Ack latency of signed `/dr` commands under N concurrent requests on
 * loopback, beside a bare Bolt app that acks the same requests with nothing
 * else to do, in the same run: p50/p95/p99 of each and the ratio.
 *
 *   npm run bench -- ack [--concurrency 200]
 */
import { App, HTTPReceiver } from '@slack/bolt';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/log/logger.ts';
import { start } from '../src/main.ts';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { SIGNING_SECRET, sendSlashCommand } from '../test/support/slack-requests.ts';
import { deleteKeys, percentile, type BenchArgs } from './util.ts';

const TOKEN = 'xoxb-1111111111-2222222222-BENCHbotTOKENvalue';
const ROUNDS = 3;

async function fire(url: string, text: string, concurrency: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results = await Promise.all(Array.from({ length: concurrency }, () => sendSlashCommand(url, { text })));
    for (const r of results) {
      if (r.status !== 200) throw new Error(`request answered HTTP ${r.status}`);
      latencies.push(r.elapsedMs);
    }
  }
  return latencies;
}

function line(name: string, values: number[]): string {
  return `${name.padEnd(34)} p50 ${percentile(values, 50).toFixed(1).padStart(7)} ms  p95 ${percentile(values, 95).toFixed(1).padStart(7)} ms  p99 ${percentile(values, 99).toFixed(1).padStart(7)} ms`;
}

export async function benchAck({ redisUrl, concurrency }: BenchArgs): Promise<void> {
  const slack = await new FakeSlack([TOKEN]).start();
  const prefix = `bench-ack-${process.pid}`;
  const config = loadConfig({
    role: 'bot',
    env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'silent' },
  });
  const bot = await start(config, createLogger({ level: 'silent' }));
  const botUrl = `http://127.0.0.1:${bot.port}`;

  const receiver = new HTTPReceiver({ signingSecret: SIGNING_SECRET, endpoints: '/slack/events' });
  const bare = new App({ token: TOKEN, receiver, botId: 'B0', botUserId: 'U0', tokenVerificationEnabled: false, clientOptions: { slackApiUrl: slack.apiUrl } });
  bare.command('/dr', async ({ ack }) => {
    await ack({ response_type: 'ephemeral', text: 'ok' });
  });
  const server: Server = await receiver.start(0);
  const bareUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  try {
    await fire(botUrl, 'help', 20); // warm-up
    await fire(bareUrl, 'help', 20);
    const bareHelp = await fire(bareUrl, 'help', concurrency);
    const drHelp = await fire(botUrl, 'help', concurrency);
    const drPing = await fire(botUrl, 'ping', concurrency);
    const drRunbook = await fire(botUrl, 'rollback api-gateway --to-revision notanumber', concurrency);
    console.log(`\nAck latency: ${concurrency} concurrent signed /dr requests × ${ROUNDS} rounds, loopback`);
    console.log(line('bare Bolt app (ack only)', bareHelp));
    console.log(line('dr-chatops /dr help', drHelp));
    console.log(line('dr-chatops /dr ping (enqueue)', drPing));
    console.log(line('dr-chatops /dr rollback (refused)', drRunbook));
    console.log(`Ratio p95: help ${(percentile(drHelp, 95) / percentile(bareHelp, 95)).toFixed(2)}×, ping ${(percentile(drPing, 95) / percentile(bareHelp, 95)).toFixed(2)}×`);
  } finally {
    await receiver.stop();
    await bot.stop();
    await slack.stop();
    await deleteKeys(redisUrl, prefix);
  }
}
