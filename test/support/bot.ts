/**
 * Starts the real bot in-process (config from an env map, exactly as in
 * production) against real Redis and the fake Slack, capturing its log lines.
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.ts';
import { type Config, secretValues } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log/logger.ts';
import { type Running, start } from '../../src/main.ts';
import type { FakeSlack } from './fake-slack.ts';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { SIGNING_SECRET } from './slack-requests.ts';

export const BOT_TOKEN = 'xoxb-1111111111-2222222222-TESTbotTOKENvalue';

export interface TestBot {
  /** The public port: /slack/events and /healthz. */
  url: string;
  /** The internal METRICS_PORT: /metrics, /readyz and /healthz. */
  internalUrl: string;
  config: Config;
  prefix: string;
  logs: string[];
  /** Stops the bot; its Redis keys are deleted unless `keepData` (a restart). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface TestBotOptions {
  slack: FakeSlack;
  role?: 'all' | 'bot' | 'worker';
  env?: Record<string, string>;
  /** Share one prefix between several processes of one test. */
  prefix?: string;
}

export async function startTestBot({ slack, role = 'all', env = {}, prefix = uniquePrefix() }: TestBotOptions): Promise<TestBot> {
  const config = loadConfig({
    role,
    env: {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      SHUTDOWN_TIMEOUT_MS: '5000',
      // The operator's explicit choice that most tests make; security tests set their own roles.
      DR_APPROVERS: '*',
      // Tests send many requests quickly; the rate-limit tests set their own limits.
      DR_RUNS_PER_USER_PER_MINUTE: '1000',
      DR_RUNS_PER_MINUTE: '10000',
      DR_DECLARATIONS_PER_USER_PER_10_MINUTES: '1000',
      DR_DECLARATIONS_PER_10_MINUTES: '10000',
      // Tests follow each status page write; the coalescing tests set their own interval.
      STATUSPAGE_MIN_INTERVAL_MS: '0',
      ...env,
    },
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, secrets: secretValues(config), destination });
  const running: Running = await start(config, logger);
  return {
    url: `http://127.0.0.1:${running.port}`,
    internalUrl: `http://127.0.0.1:${running.metricsPort}`,
    config,
    prefix,
    logs,
    async stop(options = {}) {
      await running.stop();
      if (!options.keepData) await deleteKeys(prefix);
    },
  };
}
