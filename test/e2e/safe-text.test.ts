/**
 * Every user value shown safely, through the real bot against the fakes:
 * - an incident declared with a title holding `<!channel>`, a bidi override
 *   and a zero-width space reaches Statuspage cleaned, and is escaped in
 *   every Slack message (fallback text and blocks);
 * - the "what changed" message and a runbook's status text: the first never
 *   goes public, the second goes public cleaned;
 * - a parameter shaped like a planning placeholder is refused, nothing stored;
 * - a backtick in a URL parameter stays inside its code span in the plan.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish } from '../support/incidents.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const RUN_CHANNEL = 'C0RUNS00001';
const SP_KEY = 'sp-api-key-safe-text-0123456789';

const TITLE = 'Deploy <!channel> broke \u202Elave\u202C api\u200Bgw';
/** The title as the public page must show it. */
const PUBLIC_TITLE = 'Deploy broke lave apigw';
const RUN_STATUS_TEXT = 'Recovery started <!channel> \u202Enow\u202C\u200B for <@U0ADMIN01> <https://internal.example/x|see the runbook>';
const URL_WITH_BACKTICKS = 'https://svc.example/health?q=`*bold*`<!channel>';

/** Every mrkdwn text anywhere in a message's blocks. */
const mrkdwnTexts = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(mrkdwnTexts);
  if (typeof value !== 'object' || value === null) return [];
  const o = value as Record<string, unknown>;
  return [...(o.type === 'mrkdwn' && typeof o.text === 'string' ? [o.text] : []), ...Object.values(o).flatMap(mrkdwnTexts)];
};
/** What Slack would parse as markup in a posted or updated message: its fallback text and every mrkdwn text. */
const markupOf = (call: RecordedCall): string[] => [typeof call.args.text === 'string' ? call.args.text : '', ...mrkdwnTexts(call.args.blocks)];

describe('user values are shown safely: Slack escaping, public text, placeholders, code spans', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;
  const prefix = uniquePrefix();
  let n = 0;
  let incidentChannel = '';

  const command = (text: string, channel: string) => sendSlashCommand(bot.url, { text, channel_id: channel, user_id: ALICE, response_url: slack.responseUrl(`safe-${++n}`) });
  const slackWrites = () => [...slack.callsTo('chat.postMessage'), ...slack.callsTo('chat.update'), ...slack.callsTo('chat.postEphemeral')];

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001']).start();
    const commands = mkdtempSync(join(tmpdir(), 'commands-safe-'));
    writeFileSync(
      join(commands, 'probe-health.yaml'),
      [
        'id: probe-health',
        'title: Probe a health URL',
        'params:',
        "  healthUrl: { type: string, pattern: 'https://\\S+', maxLength: 300, description: URL to probe }",
        'approval: { required: 1 }',
        'steps:',
        '  - { id: pause, use: wait, with: { seconds: 0 } }',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(commands, 'announce-recovery.yaml'),
      [
        'id: announce-recovery',
        'title: Announce the recovery',
        'approval: { required: 0 }',
        'status:',
        `  running: ${JSON.stringify(RUN_STATUS_TEXT)}`,
        '  components: { running: partial_outage }',
        'steps:',
        '  - { id: pause, use: wait, with: { seconds: 0.1 } }',
        '',
      ].join('\n'),
    );
    bot = await startTestBot({
      slack,
      prefix,
      env: {
        COMMANDS_DIR: commands,
        SLACK_RUN_CHANNELS: RUN_CHANNEL,
        DR_RESPONDERS: '*',
        DR_PUBLISHERS: '*',
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'api:cmpapi0001',
        STATUSPAGE_RETRY_BASE_MS: '100',
        SLACK_ANNOUNCE_CHANNEL: 'C0ANNOUNCE1',
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), page.stop()]);
  });

  it('a hostile incident title reaches Statuspage cleaned and every Slack message escaped', async () => {
    const ack = await command(`declare region-outage "${TITLE}" --services api`, 'C0GENERAL01');
    const answer = String(ack.json?.text);
    expect(answer).toContain(`Declared *Deploy &lt;!channel&gt; broke \u202Elave\u202C api\u200Bgw*`);
    expect(answer).not.toContain('<!channel>');

    incidentChannel = createdChannelId(await slack.waitFor(() => slack.callsTo('conversations.create')[0]));
    // The first public post waits for a publisher (DR_PUBLISHERS) to press Publish on the summary.
    await pressPublish(bot.url, slack, incidentChannel, 'U0ALICE001');
    await slack.waitFor(() => page.incidents[0]);
    expect(page.incidents[0]?.name).toBe(PUBLIC_TITLE);
    expect(page.incidents[0]?.incident_updates[0]?.body).toBe('We are investigating an issue affecting api. We will provide an update within 30 minutes.');

    // The channel's messages: summary (fallback text and blocks), the declared template, the checklist; the announcement and the origin notice.
    await slack.waitFor(() => slack.callsTo('chat.postMessage').filter((c) => c.args.channel === incidentChannel).length >= 3 && slack.callsTo('chat.postMessage').some((c) => c.args.channel === 'C0ANNOUNCE1'));
    const summary = slack.callsTo('chat.postMessage').find((c) => c.args.channel === incidentChannel && Array.isArray(c.args.blocks) && JSON.stringify(c.args.blocks).includes('incident.status.'));
    expect(String(summary?.args.text)).toContain('Deploy &lt;!channel&gt; broke');
    expect(mrkdwnTexts(summary?.args.blocks).join('\n')).not.toContain('<!channel>');
    const declared = slack.callsTo('chat.postMessage').find((c) => String(c.args.text).includes('[INCIDENT]'));
    expect(String(declared?.args.text)).toContain('*[INCIDENT] Deploy &lt;!channel&gt; broke');
    const announced = slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0ANNOUNCE1');
    expect(String(announced?.args.text)).toContain('Incident declared: *Deploy &lt;!channel&gt; broke');
    for (const call of slackWrites()) for (const text of markupOf(call)) expect(text, `${call.method} to ${String(call.args.channel)}`).not.toMatch(/<!channel>|<@U0ADMIN01>/);
  });

  it('"what changed" stays internal: escaped in Slack, never on the page', async () => {
    const res = await command('status identified "Rolled back <!channel> \u202Eoops <https://internal.example|grafana>"', incidentChannel);
    expect(String(res.json?.text)).toContain('Status set to *identified*');
    await slack.waitFor(() => page.writes.length >= 2 && page.writes);
    expect(page.incidents[0]?.incident_updates[0]).toEqual({
      status: 'identified',
      body: 'We have identified the cause and are working on a fix. We will provide another update within 30 minutes.',
    });
    const update = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => String(c.args.text).includes(':mega:')));
    expect(String(update.args.text)).toContain('Rolled back &lt;!channel&gt; \u202Eoops &lt;https://internal.example|grafana&gt;');
    expect(JSON.stringify(page.incidents)).not.toContain('Rolled back');
    expect(JSON.stringify(page.incidents)).not.toContain('internal.example');
  });

  it('a runbook\'s status text goes to the page cleaned (run follower)', async () => {
    const res = await command('run announce-recovery', incidentChannel);
    expect(String(res.json?.text)).toContain('Planning');
    await slack.waitFor(() => page.writes.length >= 3 && page.writes, 15_000);
    expect(page.incidents[0]?.incident_updates[0]).toEqual({ status: 'identified', body: 'Recovery started now for see the runbook' });
    expect(page.incidents[0]?.name).toBe(PUBLIC_TITLE);
    expect(page.components.get('cmpapi0001')).toBe('partial_outage');
    const everything = JSON.stringify(page.incidents);
    for (const leak of ['<', '>', '\u202E', '\u200B', 'U0ADMIN01', 'internal.example']) expect(everything).not.toContain(leak);
  });

  it('a parameter shaped like a planning placeholder is refused and nothing is stored', async () => {
    const before = (await store.list(100)).length;
    for (const value of ['‹x›', 'https://svc.example/‹steps.pause.outputs.url›']) {
      const res = await command(`run probe-health healthUrl=${value}`, RUN_CHANNEL);
      const answer = String(res.json?.text);
      expect(answer).toMatch(/^:warning: Parameters for probe-health are not valid:/);
      expect(answer).toContain('`healthUrl`: ');
      expect(answer).toContain('contains ‹ or ›, which are not allowed in a parameter value');
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await store.list(100)).length).toBe(before);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.args.channel === RUN_CHANNEL)).toEqual([]);
  });

  it('a backtick in a URL parameter stays inside its code span in the posted plan', async () => {
    const res = await command(`run probe-health healthUrl="${URL_WITH_BACKTICKS}"`, RUN_CHANNEL);
    expect(String(res.json?.text)).toContain('Planning *Probe a health URL*');
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === RUN_CHANNEL));
    const texts = mrkdwnTexts(plan.args.blocks);
    const paramsLine = texts.find((t) => t.includes('healthUrl='));
    expect(paramsLine).toContain('healthUrl=`https://svc.example/health?q=\u02CB*bold*\u02CB&lt;!channel&gt;`');
    // Slack pairs backticks: the value is one whole span, and nothing of it is outside.
    const spans = [...(paramsLine ?? '').matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    expect(spans).toContain('https://svc.example/health?q=\u02CB*bold*\u02CB&lt;!channel&gt;');
    for (const text of markupOf(plan)) expect(text).not.toContain('<!channel>');
    // The run keeps the value exactly as given.
    const [run] = await store.list(1);
    expect(run?.params.healthUrl).toBe(URL_WITH_BACKTICKS);
  });
});
