import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import { RunStore } from '../../src/runs/store.ts';
import { formatDuration } from '../../src/util/duration.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { SHIPPED_COMMANDS } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { createdChannelId, FakeSlack, readable } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish } from '../support/incidents.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const SP_KEY = 'sp-api-key-runs-0123456789';
const HOUR = 3_600_000;

/**
 * A recovery run requested in an incident's channel belongs to the incident:
 * the whole bot (Slack, engine, incidents, status page) against the fakes.
 */
describe('runs inside an incident: timeline, summary, RPO and the status page follow them', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let bot: TestBot;
  let redis: Redis;
  let incidents: IncidentStore;
  let runs: RunStore;
  const prefix = uniquePrefix();
  let n = 0;

  const command = (text: string, channel: string, user = ALICE) => sendSlashCommand(bot.url, { text, channel_id: channel, user_id: user, response_url: slack.responseUrl(`r-${++n}`) });
  const postsIn = (channel: string) => slack.callsTo('chat.postMessage').filter((c) => c.args.channel === channel).map((c) => String(c.args.text));
  /** The ts of a run's plan message, once the bot has recorded it (its buttons work only there). */
  const planTs = async (runId: string) => {
    for (let i = 0; i < 100; i++) {
      const ts = (await runs.get(runId))?.message?.ts;
      if (ts) return ts;
      await new Promise((r) => setTimeout(r, 50));
    }
    return '';
  };

  beforeAll(async () => {
    fakeAwsCredentials();
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001', 'cmpdb00001']).start();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    api = await new FakeService().start();
    rds.creatingMs = 200;
    kube.rolloutMs = 200;
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 35 * 24 * HOUR), latest: new Date(Date.now() - 60_000), writerClass: 'db.r6g.xlarge' });
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', port: '5432', password: 'pw-never-shown' });
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0']);
    bot = await startTestBot({
      slack,
      prefix,
      env: {
        COMMANDS_DIR: SHIPPED_COMMANDS,
        HTTP_ALLOWED_TARGETS: '127.0.0.1', // the fake service's health URL; http steps refuse loopback otherwise
        KUBECONFIG: kube.writeKubeconfig(),
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_RDS: rds.url,
        // Changing runbooks run only in open incidents' channels (and this one, which is not used).
        SLACK_RUN_CHANNELS: 'C0NOTUSED01,incidents',
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'api:cmpapi0001,db:cmpdb00001',
        STATUSPAGE_RETRY_BASE_MS: '100',
        // Status changes: the commander (the declarer, ALICE) and BOB; BOB confirms the first public post.
        DR_RESPONDERS: BOB,
        DR_PUBLISHERS: BOB,
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    incidents = new IncidentStore(redis, prefix);
    runs = new RunStore(redis, prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), page.stop(), rds.stop(), kube.stop(), api.stop()]);
  });

  it('a database restore in the incident channel fills the timeline, actions taken, the achieved RPO and the status page', async () => {
    await command('declare data-corruption "Orders table corrupted" --services db', 'C0GENERAL01');
    const created = await slack.waitFor(() => slack.callsTo('conversations.create')[0]);
    const channel = createdChannelId(created);
    await slack.waitFor(() => postsIn(channel).find((t) => t.includes('[INCIDENT] Orders table corrupted')));
    const incident = await incidents.byChannel(channel);
    expect(incident).toBeDefined();
    const startedAt = incident?.startedAt ?? 0;
    // The page opens once a publisher confirms; the run's public words follow it.
    await pressPublish(bot.url, slack, channel, BOB);
    await slack.waitFor(() => page.incidents[0]);

    // Outside an incident channel a changing runbook is refused, and nothing is planned.
    const to = new Date(startedAt - 30 * 60_000).toISOString();
    const request = `run restore-database-pitr cluster=prod-aurora to=${to} healthUrl=${api.url}/health`;
    expect(String((await command(request, 'C0GENERAL01')).json?.text)).toContain("may be requested only in <#C0NOTUSED01> or an open incident's channel");
    expect(await runs.list(10)).toEqual([]);

    await command(request, channel);
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === channel && readable({ blocks: c.args.blocks }).includes('Restore the database to a point in time')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(readable({ blocks: plan.args.blocks }))?.[1] ?? '';
    expect(runId).not.toBe('');
    const summaryTs = [...slack.pins][0] ?? '';
    // Requested, not approved yet: the summary says what to do next.
    await slack.waitFor(() => readable(slack.messageAt(summaryTs)).includes(`Approve or reject *Restore the database to a point in time* (\`${runId}\`), requested by <@${ALICE}>`));

    await sendBlockAction(bot.url, { actionId: 'run.approve', value: runId, userId: BOB, channelId: channel, messageTs: await planTs(runId), responseUrl: slack.responseUrl('approve') });
    const summary = await slack.waitFor(() => {
      const text = readable(slack.messageAt(summaryTs));
      return text.includes(`:white_check_mark: *Restore the database to a point in time* (\`${runId}\`) succeeded in`) && text;
    }, 30_000);
    const rpo = formatDuration(startedAt - Date.parse(to));
    expect(summary).toContain(`restored to ${to}`);
    expect(summary).toContain(`*RPO* 1h: ${rpo} of data lost (restored to ${to}) (met)`);

    // The runbook's public words went to the page, and its health check set the component back to operational.
    await slack.waitFor(() => page.incidents[0]?.incident_updates.some((u) => u.body.startsWith('The database has been restored')) && page.incidents[0]);
    // Statuspage lists an incident's updates newest first.
    const bodies = (page.incidents[0]?.incident_updates.map((u) => u.body) ?? []).reverse();
    expect(bodies).toEqual([
      'We are investigating an issue affecting db. We will provide an update within 30 minutes.',
      'We are restoring the database from backup. Some requests may fail until this completes.',
      'The database has been restored and the service is recovering. We are monitoring closely.',
    ]);
    expect(bodies.at(-1)).toBe('The database has been restored and the service is recovering. We are monitoring closely.');
    expect(page.components.get('cmpdb00001')).toBe('operational');
    expect(page.components.get('cmpapi0001')).toBe('operational');
    expect(JSON.stringify(page.incidents)).not.toContain('prod-aurora');

    const timeline = (await incidents.timeline(incident?.id ?? '')).map((e) => e.text);
    expect(timeline).toEqual([
      'declared (Data corruption, sev1)',
      'published the incident to the status page',
      `requested Restore the database to a point in time (${runId})`,
      `started Restore the database to a point in time (${runId})`,
      expect.stringMatching(new RegExp(`^Restore the database to a point in time \\(${runId}\\) succeeded in .+, restored to ${to.replace(/[.]/g, '\\.')}$`)),
    ]);

    await command('status resolved "Orders restored to 30 minutes before the corruption"', channel);
    const resolved = await slack.waitFor(() => postsIn(channel).find((t) => t.includes('[RESOLVED] Orders table corrupted')));
    expect(resolved).toContain(`*RPO:* ${rpo} of data lost (restored to ${to}) against a target of 1h — met`);
    expect(resolved).toContain(`:white_check_mark: *Restore the database to a point in time* (\`${runId}\`) succeeded in`);
    // The post-mortem is a Markdown document shared in the channel.
    const postmortem = await slack.waitFor(() => [...slack.messages.values()].filter((m) => m.channel === channel).flatMap((m) => m.files ?? []).find((f) => f.content.includes('# Post-mortem: Orders table corrupted'))?.content);
    expect(postmortem).toContain(`<@${BOB}> started Restore the database to a point in time (${runId})`);
    // Secrets never reach the channel.
    expect(JSON.stringify([...slack.messages.values()])).not.toContain('pw-never-shown');
  });

  it('a failed run: its failed step and its end go into the timeline, and the summary asks for a decision', async () => {
    const deployment = kube.addDeployment('production', 'checkout', ['checkout:2.0.0', 'checkout:2.1.0'], { changeCauses: ['release 2.0.0', 'release 2.1.0'] });
    deployment.progressDeadlineExceeded = true;
    const before = slack.callsTo('conversations.create').length;
    await command('declare accidental-deletion "Checkout pods crash-looping" --services api', 'C0GENERAL01');
    const created = await slack.waitFor(() => slack.callsTo('conversations.create')[before]);
    const channel = createdChannelId(created);
    // The setup job records the channel right after creating it.
    let incident = await incidents.byChannel(channel);
    while (!incident) {
      await new Promise((r) => setTimeout(r, 50));
      incident = await incidents.byChannel(channel);
    }
    const summaryTs = await slack.waitFor(() => [...slack.pins].find((ts) => slack.messageAt(ts)?.channel === channel));

    await command('rollback checkout', channel);
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === channel && readable({ blocks: c.args.blocks }).includes('run `')));
    const runId = /run `(r[a-z0-9]{7})`/.exec(readable({ blocks: plan.args.blocks }))?.[1] ?? '';
    await sendBlockAction(bot.url, { actionId: 'run.approve', value: runId, userId: BOB, channelId: channel, messageTs: await planTs(runId), responseUrl: slack.responseUrl('approve-2') });

    const summary = await slack.waitFor(() => {
      const text = readable(slack.messageAt(summaryTs));
      return text.includes(`(\`${runId}\`) failed at _`) && text;
    }, 30_000);
    expect(summary).toContain('timed out progressing');
    expect(summary).toContain(`Decide on the failed *`);
    const timeline = (await incidents.timeline(incident.id)).map((e) => e.text);
    expect(timeline.filter((t) => t.includes(runId))).toEqual([
      expect.stringMatching(/^requested /),
      expect.stringMatching(/^started /),
      expect.stringMatching(new RegExp(`\\(${runId}\\): step ".+" failed: .*timed out progressing`)),
      expect.stringMatching(new RegExp(`\\(${runId}\\) failed in .+: `)),
    ]);
  });
});
