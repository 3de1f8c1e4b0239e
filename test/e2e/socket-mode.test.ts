import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued } from '../support/redis.ts';
import { triggerId } from '../support/slack-requests.ts';

const APP_TOKEN = 'xapp-1-A0DRCHATOP-1234567890-SOCKETmodeTOKEN';

function slashCommand(text: string, channel: string): Record<string, unknown> {
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE0001',
    channel_id: channel,
    user_id: 'U0CAROL001',
    command: '/dr',
    text,
    api_app_id: 'A0DRCHATOP',
    response_url: 'http://127.0.0.1:9/respond/commands/T0FAKE0001/2/unused',
    trigger_id: triggerId(),
  };
}

describe('Socket Mode (SLACK_APP_TOKEN set): the same commands over Slack\'s WebSocket', () => {
  let slack: FakeSlack;
  let bot: TestBot;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN, APP_TOKEN]).start();
    bot = await startTestBot({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' } });
    await slack.waitFor(() => slack.socketConnections > 0);
  });
  afterAll(async () => {
    await bot.stop();
    await slack.stop();
  });

  it('opened the connection with the app-level token', () => {
    const open = slack.callsTo('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(open[0]?.token).toBe(APP_TOKEN);
  });

  it('acknowledges ping over the socket and the worker posts pong', async () => {
    const ack = await slack.sendSocketEnvelope('slash_commands', slashCommand('ping', 'C0SOCKET01'));
    expect(ack).toMatchObject({ response_type: 'ephemeral' });
    expect(String(ack.text)).toContain('Ping queued');

    const post = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0SOCKET01'));
    expect(String(post.args.text)).toContain('Pong <@U0CAROL001>');
  });

  it('answers a typo with a suggestion and queues nothing', async () => {
    const before = await jobsQueued(bot.prefix);
    const ack = await slack.sendSocketEnvelope('slash_commands', slashCommand('hepl', 'C0SOCKET01'));
    expect(String(ack.text)).toContain('Did you mean `/dr help`?');
    expect(await jobsQueued(bot.prefix)).toBe(before);
  });

  it('still serves /healthz on PORT', async () => {
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
  });

  it('keeps the app token and the connection ticket out of the logs', () => {
    const all = bot.logs.join('');
    expect(all).not.toContain(APP_TOKEN);
    expect(all).not.toMatch(/ticket=[0-9a-f-]{36}/);
  });
});
