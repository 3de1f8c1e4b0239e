import { Queue } from 'bullmq';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { spawnBot } from '../support/process.ts';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { SIGNING_SECRET, sendSlashCommand } from '../support/slack-requests.ts';

describe('the bot as a process (what `npm start` runs)', () => {
  let slack: FakeSlack;
  const prefixes: string[] = [];

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
  });
  afterAll(async () => {
    await slack.stop();
    await Promise.all(prefixes.map(deleteKeys));
  });

  function envFor(extra: Record<string, string> = {}): Record<string, string> {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    return {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      METRICS_PORT: '0',
      ...extra,
    };
  }

  it('without Slack credentials exits at once, naming the missing variables and the README section', async () => {
    const bot = spawnBot({});
    expect(await bot.exited).toBe(78);
    expect(bot.stderr()).toContain('SLACK_BOT_TOKEN is missing');
    expect(bot.stderr()).toContain('SLACK_SIGNING_SECRET is missing');
    expect(bot.stderr()).toContain('README.md, section "Create the Slack app"');
  });

  it('names every malformed setting at once', async () => {
    const bot = spawnBot(envFor({ PORT: 'eighty', REDIS_URL: 'localhost:6379', SLACK_API_URL: 'not a url' }));
    expect(await bot.exited).toBe(78);
    expect(bot.stderr()).toContain('PORT: must be a whole number');
    expect(bot.stderr()).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
    expect(bot.stderr()).toContain('SLACK_API_URL: must be an http(s) URL');
    expect(bot.stderr()).not.toContain(BOT_TOKEN);
  });

  it('refuses an unknown --role', async () => {
    const bot = spawnBot(envFor(), ['--role', 'scheduler']);
    expect(await bot.exited).toBe(78);
    expect(bot.stderr()).toContain('role "scheduler" is unknown: use one of all, bot, worker');
  });

  it('refuses to start with a malformed runbook, naming file, line and reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(join(dir, 'restore.yaml'), 'id: restore\ntitle: Restore\nsteps:\n  - id: a\n    use: rds.restore-everything\n');
    const bot = spawnBot(envFor({ COMMANDS_DIR: dir }));
    expect(await bot.exited).toBe(78);
    expect(bot.stderr()).toContain('Runbooks are invalid; nothing was loaded');
    expect(bot.stderr()).toContain(`${join(dir, 'restore.yaml')}:5: steps[0] (a).use: unknown step "rds.restore-everything"`);
  });

  it('exits with a clear message when Slack rejects the token, without printing it', async () => {
    const wrong = 'xoxb-9999999999-8888888888-WRONGtokenVALUE';
    const bot = spawnBot(envFor({ SLACK_BOT_TOKEN: wrong }));
    expect(await bot.exited).toBe(78);
    expect(bot.stderr()).toContain('SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)');
    expect(bot.stdout() + bot.stderr()).not.toContain(wrong);
  });

  it('serves /healthz on PORT and /readyz on METRICS_PORT, answers ping, and stops cleanly on SIGTERM', async () => {
    const bot = spawnBot(envFor());
    const started = JSON.parse(await bot.waitForLog(/dr-chatops started/)) as { port: number; metricsPort: number; role: string };
    expect(started.role).toBe('all');
    const url = `http://127.0.0.1:${started.port}`;
    const internal = `http://127.0.0.1:${started.metricsPort}`;

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(404);
    const ready = await fetch(`${internal}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', redis: 'ok', slack: 'ok' });

    const res = await sendSlashCommand(url, { text: 'ping', channel_id: 'C0PROCESS1' });
    expect(res.status).toBe(200);
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0PROCESS1'));

    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);
    expect(bot.stdout()).toContain('shutdown complete');
    expect(bot.stdout()).not.toContain(BOT_TOKEN);
    expect(bot.stdout()).not.toContain(SIGNING_SECRET);
  });

  it('on SIGTERM lets a running job finish before exiting', async () => {
    const env = envFor();
    const bot = spawnBot(env);
    const { port } = JSON.parse(await bot.waitForLog(/dr-chatops started/)) as { port: number };
    slack.failNext('chat.postMessage', { delayMs: 1_500 });

    await sendSlashCommand(`http://127.0.0.1:${port}`, { text: 'ping', channel_id: 'C0SLOWJOB1' });
    // The worker is now waiting on Slack, in the middle of the job.
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0SLOWJOB1'));
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);

    expect([...slack.messages.values()].filter((m) => m.channel === 'C0SLOWJOB1')).toHaveLength(1);
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.botTasks, { connection, prefix: env.QUEUE_PREFIX ?? '' });
    const counts = await queue.getJobCounts('completed', 'active', 'wait');
    await queue.close();
    connection.disconnect();
    expect(counts).toEqual({ completed: 1, active: 0, wait: 0 });
  });

  it('runs as a worker only: /healthz on PORT, readiness and metrics on METRICS_PORT, no Slack endpoint', async () => {
    const bot = spawnBot(envFor({ SLACK_SIGNING_SECRET: '' }), ['--role', 'worker']);
    const { port, metricsPort } = JSON.parse(await bot.waitForLog(/dr-chatops started/)) as { port: number; metricsPort: number };
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST' })).status).toBe(404);
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);
  });
});
