/**
 * Answers at the edges, through the real bot (HTTP mode, in-process):
 * a body too large is refused with `Connection: close` (the socket is not
 * reused, so a pooling proxy is told rather than reset); a request no
 * listener handles is answered at once with what Slack expects and a
 * warning, not left for Bolt's 404 after 3 s and an error; and a refusal
 * listing a thousand problems fits Slack.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXT_RECOMMENDED_LIMIT } from '../../src/slack/limits.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { sendSigned, sendSlashCommand, SIGNING_SECRET, sign, triggerId } from '../support/slack-requests.ts';

const payload = (body: Record<string, unknown>) => `payload=${encodeURIComponent(JSON.stringify(body))}`;
const from = { user: { id: 'U0ALICE001', username: 'alice', team_id: 'T0FAKE0001' }, team: { id: 'T0FAKE0001', domain: 'acme' }, api_app_id: 'A0DRCHATOP', token: 'deprecated-verification-token' };

/** Log lines of a level: 40 warn, 50 error. */
const linesAt = (logs: string[], level: number) => logs.filter((l) => l.includes(`"level":${String(level)}`));

describe('answers at the edges of /slack/events', () => {
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

  it('a body too large gets 413 with Connection: close', async () => {
    const body = `payload=${'x'.repeat(11 * 1024 * 1024)}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const answer = await new Promise<{ status: number | undefined; connection: string | undefined }>((resolve, reject) => {
      const req = request(`${bot.url}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': sign(SIGNING_SECRET, timestamp, body) },
      });
      req.on('response', (res) => {
        resolve({ status: res.statusCode, connection: res.headers.connection });
        res.resume();
      });
      // The server stops reading and closes: the rest of the upload may be cut off.
      req.on('error', (err) => { reject(err); });
      req.end(body);
    });
    expect(answer).toEqual({ status: 413, connection: 'close' });
  });

  const UNHANDLED: [string, Record<string, unknown>, unknown][] = [
    ['a view submission of a form the bot does not know', { ...from, type: 'view_submission', trigger_id: triggerId(), view: { id: 'V0OLDFORM1', type: 'modal', callback_id: 'retired.form', state: { values: {} } } }, undefined],
    ['a select menu asking for its options', { ...from, type: 'block_suggestion', action_id: 'pick.service', block_id: 'services', value: 'ap', container: { type: 'view', view_id: 'V0OLDFORM1' }, view: { id: 'V0OLDFORM1', type: 'modal', callback_id: 'retired.form' } }, { options: [] }],
    ['a button the bot does not know', { ...from, type: 'block_actions', trigger_id: triggerId(), channel: { id: 'C0EDGES001' }, container: { type: 'message', message_ts: '1764000000.000100', channel_id: 'C0EDGES001' }, actions: [{ type: 'button', action_id: 'retired.button', block_id: 'b', value: 'x' }] }, undefined],
    ['a button click with an empty actions list', { ...from, type: 'block_actions', trigger_id: triggerId(), channel: { id: 'C0EDGES001' }, actions: [] }, undefined],
  ];

  it.each(UNHANDLED)('%s: answered at once, as Slack expects, with a warning and no error', async (_name, body, expected) => {
    const errorsBefore = linesAt(bot.logs, 50).length;
    const warningsBefore = linesAt(bot.logs, 40).length;
    const calls = slack.calls.length;
    const res = await sendSigned(`${bot.url}/slack/events`, payload(body));
    expect(res.status).toBe(200);
    expect(res.json).toEqual(expected);
    expect(linesAt(bot.logs, 50).length).toBe(errorsBefore);
    expect(linesAt(bot.logs, 40).length).toBeGreaterThan(warningsBefore);
    // Nothing was done in Slack beyond looking up who clicked.
    expect(slack.calls.slice(calls).filter((c) => c.method !== 'users.info').map((c) => c.method)).toEqual([]);
  });

  it('a refusal listing 1,000 parameter problems fits Slack: the first ones, then how many more', async () => {
    const params = Array.from({ length: 1_000 }, (_, i) => `p${String(i)}=x`).join(' ');
    const res = await sendSlashCommand(bot.url, { text: `run readiness-check ${params}` });
    expect(res.status).toBe(200);
    const text = String(res.json?.text);
    expect(res.json?.response_type).toBe('ephemeral');
    expect(text.length).toBeLessThanOrEqual(TEXT_RECOMMENDED_LIMIT);
    expect(text).toMatch(/more problems|more lines/);
  });
});
