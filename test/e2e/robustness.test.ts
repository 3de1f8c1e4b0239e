/**
 * No input crashes the bot, and the internal endpoints are off the public port.
 *
 * The bot runs as a real child process (`node src/main.ts`), because what is
 * tested is that the process survives: an in-process bot cannot show a crash.
 * Before the fix, a correctly signed `payload=null` (or a JSON body `null`)
 * killed it: Bolt's HTTPReceiver read `body.ssl_check` of the parsed body in an
 * async function nobody awaits, so the TypeError was an unhandled rejection.
 * In Socket Mode a WebSocket message `null` or an events_api envelope whose
 * payload (or event) is null did the same in the Socket Mode client.
 */
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { secretValues } from '../../src/config/schema.ts';
import { listeningPort } from '../../src/http/health.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createSlackApp, type SlackApp } from '../../src/slack/app.ts';
import { COMMAND_FAILED_TEXT } from '../../src/slack/front.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FAKE_BOT_ID, FAKE_BOT_USER_ID, FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, spawnBot, startedUrls, stopBot } from '../support/process.ts';
import { deleteKeys, jobsQueued, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSigned, sendSlashCommand, SIGNING_SECRET, triggerId, UNUSED_RESPONSE_URL } from '../support/slack-requests.ts';

const APP_TOKEN = 'xapp-1-A0DRCHATOP-1234567890-SOCKETmodeTOKEN';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const payload = (json: string) => `payload=${encodeURIComponent(json)}`;

/** Signed bodies Bolt cannot handle: each must get a 400 at once, and the process must live on. */
const MALFORMED_HTTP: [string, string, string][] = [
  ['payload=null', payload('null'), FORM],
  ['payload=1', payload('1'), FORM],
  ['payload="x"', payload('"x"'), FORM],
  ['payload=[]', payload('[]'), FORM],
  ['payload={}', payload('{}'), FORM],
  ['payload=true', payload('true'), FORM],
  ['an interaction without a type', payload(JSON.stringify({ user: { id: 'U0ALICE001' }, actions: [{ action_id: 'run.approve' }] })), FORM],
  ['block_actions whose user is null', payload(JSON.stringify({ type: 'block_actions', user: null, actions: [{ action_id: 'run.approve' }] })), FORM],
  ['block_actions whose actions are null', payload(JSON.stringify({ type: 'block_actions', user: { id: 'U0ALICE001' }, actions: null })), FORM],
  ['block_actions whose channel is null', payload(JSON.stringify({ type: 'block_actions', user: { id: 'U0ALICE001' }, channel: null, actions: [{ action_id: 'x' }] })), FORM],
  ['a view_submission whose view is null', payload(JSON.stringify({ type: 'view_submission', user: { id: 'U0ALICE001' }, view: null })), FORM],
  ['an unknown interaction type', payload(JSON.stringify({ type: 'workflow_step_edit', user: { id: 'U0ALICE001' } })), FORM],
  ['form fields that are no slash command', 'text=help&user_id=U0ALICE001', FORM],
  ['a slash command sent twice in one body', 'command=%2Fdr&command=%2Fdr&text=help&user_id=U0ALICE001', FORM],
  ['a slash command whose command is empty', 'command=&text=help&user_id=U0ALICE001', FORM],
  ['a JSON body null', 'null', JSON_TYPE],
  ['a JSON body 1', '1', JSON_TYPE],
  ['a JSON body "x"', '"x"', JSON_TYPE],
  ['a JSON body []', '[]', JSON_TYPE],
  ['a JSON body {} (no type)', '{}', JSON_TYPE],
  ['an event_callback whose event is null', JSON.stringify({ type: 'event_callback', event: null }), JSON_TYPE],
  ['an event_callback whose event is a string', JSON.stringify({ type: 'event_callback', event: 'app_home_opened' }), JSON_TYPE],
  ['an event without a type', JSON.stringify({ type: 'event_callback', event: { user: 'U0ALICE001' } }), JSON_TYPE],
  ['an event whose channel is null', JSON.stringify({ type: 'event_callback', event: { type: 'message', channel: null } }), JSON_TYPE],
  ['an event whose item is a string', JSON.stringify({ type: 'event_callback', event: { type: 'reaction_added', item: 'x' } }), JSON_TYPE],
  ['a url_verification without a challenge', JSON.stringify({ type: 'url_verification' }), JSON_TYPE],
  ['an event type Slack does not send here', JSON.stringify({ type: 'app_rate_limited' }), JSON_TYPE],
];

/** Log lines at error (50) or fatal (60). */
const errorLines = (stdout: string) => stdout.split('\n').filter((l) => /"level":(50|60)/.test(l));

describe('no request crashes the bot (a real process, HTTP mode)', () => {
  let slack: FakeSlack;
  let bot: BotProcess;
  let url: string;
  let internal: string;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = spawnBot({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      METRICS_PORT: '0',
    });
    ({ url, internal } = await startedUrls(bot));
  });
  afterAll(async () => {
    await stopBot(bot);
    await slack.stop();
    await deleteKeys(prefix);
  });

  it.each(MALFORMED_HTTP)('%s (signed): 400 at once, nothing reaches Slack, the process lives on', async (_name, body, contentType) => {
    const calls = slack.calls.length;
    const res = await sendSigned(`${url}/slack/events`, body, { contentType });
    expect(res.status).toBe(400);
    // Not Bolt's answer to a request nobody acknowledged (404 after 3 s).
    expect(res.elapsedMs).toBeLessThan(1_500);
    expect(bot.child.exitCode).toBeNull();
    expect(slack.calls.length).toBe(calls);
  });

  it('is still running afterwards and answers /dr help; nothing was queued and nothing logged an error', async () => {
    await sleep(300);
    expect(bot.child.exitCode).toBeNull();
    const help = await sendSlashCommand(url, { text: 'help' });
    expect(help.status).toBe(200);
    expect(help.json?.response_type).toBe('ephemeral');
    expect(JSON.stringify(help.json?.blocks)).toContain('/dr help [command]');
    expect(await jobsQueued(prefix)).toBe(0);
    expect(bot.stderr()).not.toMatch(/TypeError|unhandled|Uncaught/i);
    expect(errorLines(bot.stdout())).toEqual([]);
    // Each refusal said why, at warn.
    const refusals = bot.stdout().split('\n').filter((l) => l.includes('not a shape Bolt handles'));
    expect(refusals).toHaveLength(MALFORMED_HTTP.length);
    expect(refusals.find((l) => l.includes('"the body is null, not an object"'))).toBeDefined();
    expect(refusals.find((l) => l.includes('"the body has no type"'))).toBeDefined();
  });

  it('serves only /slack/events and /healthz on PORT: /metrics, /readyz and the rest are 404 there', async () => {
    for (const path of ['/metrics', '/readyz', '/', '/slack/install', '/healthz/x', '/metrics?x=1']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${url}/slack/events`)).status, 'GET /slack/events').toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('serves /metrics, /readyz and /healthz on METRICS_PORT, and no Slack endpoint there', async () => {
    const metrics = await fetch(`${internal}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('# TYPE dr_commands_total counter');
    const ready = await fetch(`${internal}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', redis: 'ok', slack: 'ok' });
    expect((await fetch(`${internal}/healthz`)).status).toBe(200);
    const events = await sendSigned(`${internal}/slack/events`, 'command=%2Fdr&text=help');
    expect(events.status).toBe(404);
  });
});

function slashCommand(text: string): Record<string, unknown> {
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE0001',
    channel_id: 'C0SOCKET01',
    user_id: 'U0CAROL001',
    command: '/dr',
    text,
    api_app_id: 'A0DRCHATOP',
    response_url: `${UNUSED_RESPONSE_URL}/commands/T0FAKE0001/3/unused`,
    trigger_id: triggerId(),
  };
}

/** Envelopes whose payload Bolt (or the Socket Mode client) cannot handle: each is acknowledged empty and dropped. */
const MALFORMED_ENVELOPES: [string, string, unknown][] = [
  ['slash_commands with payload null', 'slash_commands', null],
  ['events_api with payload null', 'events_api', null],
  ['events_api with an event null', 'events_api', { type: 'event_callback', event: null }],
  ['events_api without an event', 'events_api', { type: 'event_callback' }],
  ['events_api with an event of type "disconnected" (a client state)', 'events_api', { type: 'event_callback', event: { type: 'disconnected' } }],
  ['interactive with payload 1', 'interactive', 1],
  ['interactive with payload []', 'interactive', []],
  ['interactive with payload {}', 'interactive', {}],
  ['interactive block_actions whose user is null', 'interactive', { type: 'block_actions', user: null, actions: [{ action_id: 'x' }] }],
  ['slash_commands whose command is a number', 'slash_commands', { ...slashCommand('help'), command: 5 }],
  ['an unknown envelope type', 'error', { type: 'x' }],
];

/** WebSocket messages that are not envelopes at all. */
const MALFORMED_MESSAGES = ['null', '1', '"x"', '[]', '{}', 'true', '{"type":"events_api"}', '{"type":"events_api","envelope_id":"e1","payload":null}', 'not json at all'];

describe('no Socket Mode message crashes the bot (a real process)', () => {
  let slack: FakeSlack;
  let bot: BotProcess;
  let url: string;
  let internal: string;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN, APP_TOKEN]).start();
    bot = spawnBot({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_APP_TOKEN: APP_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      METRICS_PORT: '0',
    });
    ({ url, internal } = await startedUrls(bot));
    await slack.waitFor(() => slack.socketConnections > 0);
  });
  afterAll(async () => {
    await stopBot(bot);
    await slack.stop();
    await deleteKeys(prefix);
  });

  it.each(MALFORMED_ENVELOPES)('%s: acknowledged with nothing, dropped, the process lives on', async (_name, type, body) => {
    const calls = slack.calls.length;
    const ack = await slack.sendSocketEnvelope(type, body as Record<string, unknown>);
    expect(ack).toEqual({});
    await sleep(100);
    expect(bot.child.exitCode).toBeNull();
    expect(slack.calls.length).toBe(calls);
  });

  it.each(MALFORMED_MESSAGES)('the WebSocket message %s: ignored, the process lives on', async (text) => {
    slack.sendSocketRaw(text);
    await sleep(150);
    expect(bot.child.exitCode).toBeNull();
    expect(slack.socketConnections).toBe(1);
  });

  it('is still connected afterwards and answers /dr help over the socket; nothing logged an error', async () => {
    const ack = await slack.sendSocketEnvelope('slash_commands', slashCommand('help'));
    expect(ack.response_type).toBe('ephemeral');
    expect(JSON.stringify(ack.blocks)).toContain('/dr help [command]');
    expect(bot.stderr()).not.toMatch(/TypeError|unhandled|Uncaught/i);
    expect(errorLines(bot.stdout())).toEqual([]);
    expect(bot.stdout().split('\n').filter((l) => l.includes('dropped a Socket Mode message')).length).toBeGreaterThanOrEqual(MALFORMED_ENVELOPES.length);
  });

  it('serves /healthz only on PORT; /metrics and /readyz on METRICS_PORT', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    expect((await fetch(`${url}/readyz`)).status).toBe(404);
    expect((await fetch(`${url}/slack/events`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${internal}/healthz`)).status).toBe(200);
    expect((await fetch(`${internal}/metrics`)).status).toBe(200);
    expect((await fetch(`${internal}/readyz`)).status).toBe(200);
  });
});

/** The Slack app alone (no guard, no real listeners), with listeners that throw: what app.error does with their errors. */
async function throwingApp(slack: FakeSlack, env: Record<string, string>): Promise<{ slackApp: SlackApp; logs: string[]; url: string }> {
  const config = loadConfig({ role: 'bot', env: { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl, PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'debug', ...env } });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, secrets: secretValues(config), destination });
  const slackApp = createSlackApp({ config, logger, routes: [], identity: { botUserId: FAKE_BOT_USER_ID, botId: FAKE_BOT_ID } });
  slackApp.app.command('/dr', () => Promise.reject(new Error(`listener broke, token ${BOT_TOKEN}`)));
  slackApp.app.action('run.approve', () => Promise.reject(new Error('button listener broke')));
  slackApp.app.action('run.cancel', async ({ ack }) => {
    await ack();
    throw new Error('broke after the ack');
  });
  const server = await slackApp.start();
  return { slackApp, logs, url: server ? `http://127.0.0.1:${listeningPort(server, 0)}` : '' };
}

const listenerErrors = (logs: string[]) => logs.filter((l) => l.includes('unhandled error in a Slack listener'));

describe('a listener that throws: app.error logs it, and the request is still answered', () => {
  let slack: FakeSlack;
  let app: Awaited<ReturnType<typeof throwingApp>>;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    app = await throwingApp(slack, { SLACK_SIGNING_SECRET: SIGNING_SECRET });
  });
  afterAll(async () => {
    await app.slackApp.stop();
    await slack.stop();
  });

  it('a slash command gets an ephemeral message at once, not a hanging request', async () => {
    const res = await sendSlashCommand(app.url, { text: 'help' });
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(1_500);
    expect(res.json).toEqual({ response_type: 'ephemeral', text: COMMAND_FAILED_TEXT });
    const lines = listenerErrors(app.logs);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"command":"/dr"');
    expect(lines[0]).not.toContain(BOT_TOKEN);
    // Logged once: the receiver's handler does not log it again.
    expect(app.logs.filter((l) => l.includes('listener broke'))).toHaveLength(1);
  });

  it('a button click gets a 500 at once (Slack shows the failure)', async () => {
    const res = await sendBlockAction(app.url, { actionId: 'run.approve', value: 'r1234567' });
    expect(res.status).toBe(500);
    expect(res.elapsedMs).toBeLessThan(1_500);
    expect(listenerErrors(app.logs).at(-1)).toContain('"type":"block_actions"');
  });

  it('a listener that fails after its ack: the ack stands, the error is logged', async () => {
    const res = await sendBlockAction(app.url, { actionId: 'run.cancel', value: 'r1234567' });
    expect(res.status).toBe(200);
    await sleep(100);
    expect(app.logs.filter((l) => l.includes('broke after the ack'))).toHaveLength(1);
  });
});

describe('a listener that throws in Socket Mode: logged, and a slash command is still acknowledged', () => {
  let slack: FakeSlack;
  let app: Awaited<ReturnType<typeof throwingApp>>;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN, APP_TOKEN]).start();
    app = await throwingApp(slack, { SLACK_APP_TOKEN: APP_TOKEN });
    await slack.waitFor(() => slack.socketConnections > 0);
  });
  afterAll(async () => {
    await app.slackApp.stop();
    await slack.stop();
  });

  it('acknowledges the command with an ephemeral message and logs the error once', async () => {
    const ack = await slack.sendSocketEnvelope('slash_commands', slashCommand('help'));
    expect(ack).toEqual({ response_type: 'ephemeral', text: COMMAND_FAILED_TEXT });
    expect(listenerErrors(app.logs)).toHaveLength(1);
    expect(app.logs.filter((l) => l.includes('listener broke'))).toHaveLength(1);
  });
});

const INJECT = fileURLToPath(new URL('../fixtures/crash/on-signal.ts', import.meta.url));

describe('the last resort: process-level handlers in `node src/main.ts`', () => {
  let slack: FakeSlack;
  const prefixes: string[] = [];

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
  });
  afterAll(async () => {
    await slack.stop();
    await Promise.all(prefixes.map(deleteKeys));
  });

  async function botThatFails(mode: 'reject' | 'throw'): Promise<{ bot: BotProcess; url: string }> {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const bot = spawnBot({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      METRICS_PORT: '0',
      NODE_OPTIONS: `--import ${INJECT}`,
      DR_TEST_CRASH: mode,
    });
    return { bot, url: (await startedUrls(bot)).url };
  }

  it('an unhandled rejection is logged at error (scrubbed) and the process keeps serving', async () => {
    const { bot, url } = await botThatFails('reject');
    try {
      bot.child.kill('SIGUSR2');
      const line = await bot.waitForLog(/unhandled promise rejection/);
      expect(line).toContain('"level":50');
      expect(line).toContain('injected failure, token');
      expect(line).not.toContain(BOT_TOKEN);
      await sleep(200);
      expect(bot.child.exitCode).toBeNull();
      const help = await sendSlashCommand(url, { text: 'help' });
      expect(help.status).toBe(200);
    } finally {
      await stopBot(bot);
    }
  });

  it('an uncaught exception is logged at fatal (scrubbed) and the process exits 1, to be restarted clean', async () => {
    const { bot } = await botThatFails('throw');
    bot.child.kill('SIGUSR2');
    expect(await bot.exited).toBe(1);
    const line = bot.stdout().split('\n').find((l) => l.includes('uncaught exception'));
    expect(line).toContain('"level":60');
    expect(line).toContain('injected failure, token');
    expect(line).not.toContain(BOT_TOKEN);
    expect(bot.stdout() + bot.stderr()).not.toContain(BOT_TOKEN);
  });
});
