import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { uniquePrefix } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const ONCALL = 'U0ONCALL01';
const SP_KEY = 'sp-api-key-0123456789abcdef';

describe('incidents: declare, status changes, the channel and the status page', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  const prefix = uniquePrefix();
  let responses = 0;

  const env = () => ({
    STATUSPAGE_API_KEY: SP_KEY,
    STATUSPAGE_PAGE_ID: 'page001',
    STATUSPAGE_API_URL: page.url,
    STATUSPAGE_COMPONENTS: 'api:cmpapi0001,db:cmpdb00001',
    STATUSPAGE_RETRY_BASE_MS: '100',
    STATUSPAGE_WARN_AFTER_MS: '300',
    SLACK_INCIDENT_RESPONDERS: ONCALL,
    SLACK_ANNOUNCE_CHANNEL: 'C0ANNOUNCE1',
  });
  const command = (text: string, channel: string, user = ALICE) =>
    sendSlashCommand(bot.url, { text, channel_id: channel, user_id: user, response_url: slack.responseUrl(`inc-${++responses}`) });
  const postsIn = (channel: string) => slack.callsTo('chat.postMessage').filter((c) => c.args.channel === channel).map((c) => String(c.args.text));

  let incidentChannel = '';

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001', 'cmpdb00001']).start();
    bot = await startTestBot({ slack, prefix, env: env() });
  });
  afterAll(async () => {
    await bot.stop();
    await Promise.all([slack.stop(), page.stop()]);
  });

  it('declare: a channel with the declarer and responders, the pinned summary, the template, an announcement, and a status page incident', async () => {
    const ack = await command('declare region-outage "API down in us-east-1" --services api,db', 'C0GENERAL01');
    expect(ack.json?.response_type).toBe('ephemeral');
    expect(String(ack.json?.text)).toMatch(/^:rotating_light: Declared \*API down in us-east-1\* \(`inc-\d{8}-api-down-in-us-east-1-[0-9a-f]{4}`\)/);

    const created = await slack.waitFor(() => slack.callsTo('conversations.create')[0]);
    expect(String(created.args.name)).toMatch(/^inc-\d{8}-api-down-in-us-east-1-[0-9a-f]{4}$/);
    incidentChannel = String((created.result?.channel as { id?: string } | undefined)?.id);
    const invite = await slack.waitFor(() => slack.callsTo('conversations.invite')[0]);
    expect(invite.args).toMatchObject({ channel: incidentChannel, users: `${ALICE},${ONCALL}` });
    await slack.waitFor(() => slack.callsTo('pins.add')[0]);
    const declared = await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('[INCIDENT] API down in us-east-1')));
    expect(declared).toContain('*STATUS:* Investigating');
    expect(declared).toContain('Affected services: api, db');
    expect(declared).toContain('RTO 4h · RPO 15m (Region-wide outage)');
    await slack.waitFor(() => postsIn('C0ANNOUNCE1').find((t) => t.includes(`follow it in <#${incidentChannel}>`)));

    await slack.waitFor(() => page.writes.length >= 1 && page.writes);
    expect(page.incidents[0]).toMatchObject({ name: 'API down in us-east-1', status: 'investigating' });
    expect(page.components.get('cmpapi0001')).toBe('major_outage');
    expect(page.incidents[0]?.incident_updates[0]?.body).toBe('We are investigating an issue affecting api, db. We will provide an update within 30 minutes.');
  });

  it('each status change posts the update template in the channel and updates the status page, in order', async () => {
    for (const [state, message] of [
      ['identified', 'Primary region lost; failing over to us-west-2'],
      ['monitoring', 'Serving from us-west-2; watching error rates'],
    ]) {
      const res = await command(`status ${state ?? ''} "${message ?? ''}"`, incidentChannel);
      expect(String(res.json?.text)).toContain(`Status set to *${state ?? ''}*`);
    }
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('*Monitoring*')));
    const updates = postsIn(incidentChannel).filter((t) => t.includes(':mega:'));
    expect(updates.map((t) => /\*(Identified|Monitoring)\*/.exec(t)?.[1])).toEqual(['Identified', 'Monitoring']);
    expect(updates[0]).toContain('Primary region lost; failing over to us-west-2');
    await slack.waitFor(() => page.writes.length >= 3 && page.writes);
    expect(page.writes).toEqual(['create investigating', 'update identified', 'update monitoring']);
    expect(page.components.get('cmpapi0001')).toBe('degraded_performance');
    // Public text never carries the internal message.
    expect(JSON.stringify(page.incidents)).not.toContain('us-west-2');
  });

  it('refuses an unknown status, a status outside an incident channel, and an unknown scenario; nothing changes', async () => {
    const before = page.writes.length;
    expect(String((await command('status fixed "done"', incidentChannel)).json?.text)).toContain('`fixed` is not a status: use investigating, identified, monitoring or resolved');
    expect(String((await command('status resolved "done"', 'C0RANDOM01')).json?.text)).toContain('This channel has no incident');
    expect(String((await command('declare region-outge "x y z"', 'C0GENERAL01')).json?.text)).toContain('There is no scenario `region-outge`. Did you mean `region-outage`?');
    expect(String((await command('status monitoring "again"', incidentChannel)).json?.text)).toContain('The incident is already monitoring');
    await new Promise((r) => setTimeout(r, 500));
    expect(page.writes.length).toBe(before);
  });

  it('Statuspage down for a while: the channel is warned, then every update arrives once, in order', async () => {
    page.down = { status: 503 };
    await command('status identified "Replica lag; pausing writes"', incidentChannel);
    await command('status monitoring "Writes resumed"', incidentChannel);
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('The status page has not accepted updates')), 15_000);
    page.down = undefined;
    await slack.waitFor(() => page.writes.length >= 5 && page.writes, 20_000);
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('Statuspage is reachable again')), 10_000);
    expect(page.writes).toEqual(['create investigating', 'update identified', 'update monitoring', 'update identified', 'update monitoring']);
  });

  it('survives a restart of the bot between transitions, and resolution reports the achieved RTO', async () => {
    await bot.stop({ keepData: true });
    bot = await startTestBot({ slack, prefix, env: env() });
    const res = await command('status resolved "Recovered in us-west-2; error rates normal"', incidentChannel);
    expect(String(res.json?.text)).toContain('Status set to *resolved*');
    const resolved = await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('[RESOLVED] API down in us-east-1')), 15_000);
    expect(resolved).toMatch(/\*RTO:\* achieved [\d.]+m?s against a target of 4h — met/);
    expect(resolved).toContain('*RPO:* no data restored against a target of 15m — met');
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('*After recovery (DR plan)*')));
    await slack.waitFor(() => page.writes.at(-1) === 'update resolved' && page.writes, 15_000);
    expect(page.components.get('cmpapi0001')).toBe('operational');
    expect(String((await command('status identified "back?"', incidentChannel)).json?.text)).toContain('The incident is resolved');
  });

  it('--private declares without a status page', async () => {
    const before = page.writes.length;
    const ack = await command('declare data-corruption "Drill: orders table" --private --severity sev3', 'C0GENERAL01');
    expect(String(ack.json?.text)).toContain('(private: no status page)');
    await slack.waitFor(() => slack.callsTo('conversations.create').length >= 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(page.writes.length).toBe(before);
  });
});
