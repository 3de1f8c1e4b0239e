/**
 * A password typed into a URL (`url=http://deploy:<password>@host/…`) is
 * refused where parameters are bound, with a reason that does not repeat it,
 * and nothing of it, of the tokens in the traffic or of what people typed
 * reaches the bot's output, even at LOG_LEVEL=debug, where Bolt, the Web API
 * client and the Socket Mode client log request bodies, acks and envelopes.
 * The bot runs as a real process (`node src/main.ts`): its stdout and stderr
 * are what a log collector would keep.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, spawnBot, startedUrls, stopBot } from '../support/process.ts';
import { deleteKeys, jobsQueued, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendSlashCommand, SIGNING_SECRET, triggerId, UNUSED_RESPONSE_URL } from '../support/slack-requests.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/outbound/', import.meta.url));
const APP_TOKEN = 'xapp-1-A0DRCHATOP-1234567890-SOCKETmodeTOKEN';
const PASSWORD = 'Hunter2-deploy-Pa55word';
const CREDENTIAL_URL = `http://deploy:${PASSWORD}@127.0.0.1:9/hooks/deploy`;
/** A Slack user token someone pasted into a command. */
const TYPED_TOKEN = 'xoxp-2222222222-3333333333-4444444444-abcdefabcdefabcdefabcdefabcdef12';
/** The (deprecated) verification token Slack puts in every payload. */
const VERIFICATION_TOKEN = 'Vq3ZL8m2kX9rT4nB7cW1dF6h';

const refusalOf = (text: unknown) => String(text);
const SECRETS = [PASSWORD, TYPED_TOKEN, VERIFICATION_TOKEN, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET];

function botEnv(slack: FakeSlack, prefix: string, extra: Record<string, string>): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.apiUrl,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'debug',
    COMMANDS_DIR: COMMANDS,
    HTTP_ALLOWED_TARGETS: '127.0.0.1',
    ...extra,
  };
}

function expectExplained(text: string): void {
  expect(text).toContain('may not carry a user name or password');
  expect(text).toContain("shown in the channel's plan, the audit and the bot's logs");
  expect(text).toContain('The http steps send no credentials of their own');
  expect(text).not.toContain(PASSWORD);
}

describe('a password in a URL, HTTP mode at LOG_LEVEL=debug', () => {
  let slack: FakeSlack;
  let bot: BotProcess;
  let url: string;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = spawnBot(botEnv(slack, prefix, { SLACK_SIGNING_SECRET: SIGNING_SECRET }));
    ({ url } = await startedUrls(bot));
  });
  afterAll(async () => {
    await stopBot(bot);
    await slack.stop();
    await deleteKeys(prefix);
  });

  it('is refused privately, saying why and what to do, without repeating it; nothing is planned or posted', async () => {
    const res = await sendSlashCommand(url, { text: `run call-service url=${CREDENTIAL_URL}`, channel_id: 'C0CREDS001' });
    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    expectExplained(refusalOf(res.json?.text));
    expect(refusalOf(res.json?.text)).toContain('`url`');
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0CREDS001')).toEqual([]);
    expect(await jobsQueued(prefix)).toBe(0);
  });

  it('a URL typed where no key=value is expected is not echoed with its password either', async () => {
    const res = await sendSlashCommand(url, { text: `run call-service ${CREDENTIAL_URL}`, channel_id: 'C0CREDS001' });
    expect(res.json?.response_type).toBe('ephemeral');
    expect(refusalOf(res.json?.text)).not.toContain(PASSWORD);
  });

  it('a run that is posted (its plan and Web API bodies logged at debug) leaves no typed token in the output', async () => {
    const res = await sendSlashCommand(url, { text: `run call-service url=http://127.0.0.1:9/hooks/${TYPED_TOKEN}`, channel_id: 'C0CREDS002' });
    expect(res.status).toBe(200);
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0CREDS002'));
    await new Promise((r) => setTimeout(r, 300));
    // Debug logging was on: the Web API client's lines are there, without their content.
    expect(bot.stdout()).toContain('http request body: [content not logged]');
    const output = bot.stdout() + bot.stderr();
    for (const secret of SECRETS) expect(output).not.toContain(secret);
  });
});

describe('a password in a URL, Socket Mode at LOG_LEVEL=debug', () => {
  let slack: FakeSlack;
  let bot: BotProcess;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN, APP_TOKEN]).start();
    bot = spawnBot(botEnv(slack, prefix, { SLACK_APP_TOKEN: APP_TOKEN }));
    await startedUrls(bot);
    await slack.waitFor(() => slack.socketConnections > 0);
  });
  afterAll(async () => {
    await stopBot(bot);
    await slack.stop();
    await deleteKeys(prefix);
  });

  it('is refused in the ack, and neither it, the tokens nor the envelope reach stdout or stderr', async () => {
    const ack = await slack.sendSocketEnvelope('slash_commands', {
      token: VERIFICATION_TOKEN,
      team_id: 'T0FAKE0001',
      channel_id: 'C0CREDS003',
      user_id: 'U0ALICE001',
      command: '/dr',
      text: `run call-service url=${CREDENTIAL_URL} note=${TYPED_TOKEN}`,
      api_app_id: 'A0DRCHATOP',
      response_url: `${UNUSED_RESPONSE_URL}/commands/T0FAKE0001/9/unused`,
      trigger_id: triggerId(),
    });
    expect(ack.response_type).toBe('ephemeral');
    expectExplained(refusalOf(ack.text));
    await new Promise((r) => setTimeout(r, 300));
    // The envelope was seen at debug, and only its arrival was logged.
    expect(bot.stdout()).toContain('Received a message on the WebSocket: [content not logged]');
    const output = bot.stdout() + bot.stderr();
    for (const secret of SECRETS) expect(output).not.toContain(secret);
    expect(await jobsQueued(prefix)).toBe(0);
  });
});
