import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FIXTURE_COMMANDS } from '../support/engine.ts';
import { FakeSlack, readable } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { exposure, item, MINUTE, report, storeReadinessRun, target } from '../support/readiness.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendEvent, sendSlashCommand } from '../support/slack-requests.ts';

const CHANNEL = 'C0READY001';
const SP_KEY = 'sp-readiness-key-0123456789';

/** One sample of a metric in Prometheus text format: its value, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

/** A check of prod (primary) and dr with an item of each status, and the live RPO. */
const checkAt = (at: number, retention: 'pass' | 'fail') =>
  report(
    at,
    [
      target('prod', [
        item('aurora.retention.prod-aurora', retention, { title: 'Aurora keeps automated backups 35 days', value: retention === 'pass' ? 'kept 35 days' : 'kept 7 days', reason: 'BackupRetentionPeriod is 7', fix: 'aws rds modify-db-cluster --backup-retention-period 35' }),
        item('velero.schedule.hourly-backup', 'pass', { area: 'velero', title: 'Velero schedule hourly-backup as the plan writes it' }),
        item('images.dr-region', 'unknown', { area: 'images', title: 'Images production runs exist in the DR region', reason: 'ECR did not answer within 10s' }),
      ], at),
      target('dr', [item('dr-region.nodegroup', 'warn', { area: 'dr-region', title: 'Pilot-light node group exists', reason: 'scaled to 0 nodes' })], at, 'dr'),
    ],
    [exposure('region-outage', 720, 300, 'fail'), exposure('data-corruption', undefined, 300, 'unknown')],
  );

describe('readiness in the bot: drift notices, /metrics, App Home, /dr check status', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  let redis: Redis;
  let runs: RunStore;
  const scrape = async (url = bot.internalUrl) => (await fetch(`${url}/metrics`)).text();
  const notices = () => [...slack.messages.values()].filter((m) => m.channel === CHANNEL);
  const status = async () => {
    const res = await sendSlashCommand(bot.url, { text: 'check status', channel_id: 'C0OPS00001', response_url: slack.responseUrl(`status-${Date.now()}`) });
    expect(res.json?.response_type).toBe('ephemeral');
    return res;
  };
  const home = async (user: string) => {
    const before = slack.callsTo('views.publish').length;
    await sendEvent(bot.url, { type: 'app_home_opened', user, channel: 'D0HOME0001', tab: 'home', event_ts: `${Date.now() / 1000}` });
    return slack.waitFor(() => slack.callsTo('views.publish').slice(before).find((c) => c.args.user_id === user));
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001']).start();
    bot = await startTestBot({
      slack,
      env: {
        COMMANDS_DIR: FIXTURE_COMMANDS,
        DR_READINESS_CHANNEL: CHANNEL,
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'api:cmpapi0001',
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    runs = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    redis.disconnect();
    await bot.stop();
    await Promise.all([slack.stop(), page.stop()]);
  });

  it('before any check: the status answer and the App Home say there is none yet', async () => {
    expect(String((await status()).json?.text)).toContain('No readiness check has been recorded yet. `/dr check` runs one.');
    expect(JSON.stringify((await home('U0ALICE001')).args.view)).toContain('No check yet.');
  });

  it('an item turning red is posted once in the readiness channel, shown on /metrics, the App Home and /dr check status; its recovery once; nothing reaches Statuspage', async () => {
    const t0 = Date.now() - 2 * 60 * MINUTE;
    await storeReadinessRun(runs, checkAt(t0, 'pass'), { at: t0 });
    await storeReadinessRun(runs, checkAt(t0 + 30 * MINUTE, 'fail'), { at: t0 + 30 * MINUTE });
    const red = await slack.waitFor(() => notices()[0], 10_000);
    expect(readable(red)).toContain('Aurora keeps automated backups 35 days turned red');
    expect(readable(red)).toContain('aws rds modify-db-cluster --backup-retention-period 35');

    let text = await scrape();
    for (let i = 0; i < 50 && sample(text, 'dr_readiness_item_status', { item: 'aurora.retention.prod-aurora' }) !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await scrape();
    }
    expect(sample(text, 'dr_readiness_item_status', { target: 'prod', area: 'aurora', item: 'aurora.retention.prod-aurora' })).toBe(0);
    expect(sample(text, 'dr_readiness_item_status', { target: 'prod', area: 'velero', item: 'velero.schedule.hourly-backup' })).toBe(1);
    expect(sample(text, 'dr_readiness_item_status', { target: 'prod', area: 'images', item: 'images.dr-region' })).toBe(-1);
    expect(sample(text, 'dr_readiness_item_status', { target: 'dr', area: 'dr-region', item: 'dr-region.nodegroup' })).toBe(0.5);
    expect(sample(text, 'dr_readiness_last_check_timestamp_seconds', { target: 'prod' })).toBe((t0 + 30 * MINUTE) / 1_000);
    expect(sample(text, 'dr_rpo_exposure_seconds', { scenario: 'region-outage' })).toBe(720);
    expect(sample(text, 'dr_rpo_objective_seconds', { scenario: 'region-outage' })).toBe(300);
    // Not measured: no sample (never a zero that reads as "nothing lost"); its status says unknown.
    expect(sample(text, 'dr_rpo_exposure_seconds', { scenario: 'data-corruption' })).toBeUndefined();
    expect(sample(text, 'dr_rpo_objective_seconds', { scenario: 'data-corruption' })).toBe(300);
    expect(sample(text, 'dr_rpo_exposure_status', { scenario: 'data-corruption' })).toBe(-1);

    const view = JSON.stringify((await home('U0BOB00001')).args.view);
    expect(view).toContain('*Readiness* (latest check per target)');
    expect(view).toContain(':red_circle: *Aurora keeps automated backups 35 days* — kept 7 days');
    expect(view).toContain(':red_circle: *Region outage* — 12m · objective 5m');

    const answer = JSON.stringify((await status()).json?.blocks);
    const fail = answer.indexOf('*Aurora keeps automated backups 35 days*');
    expect(fail).toBeGreaterThan(0);
    expect(fail).toBeLessThan(answer.indexOf('*Velero schedule hourly-backup as the plan writes it*'));
    expect(answer).toContain(':white_circle: *Data corruption* — not measured · objective 5m');

    await storeReadinessRun(runs, checkAt(t0 + 60 * MINUTE, 'fail'), { at: t0 + 60 * MINUTE });
    await storeReadinessRun(runs, checkAt(t0 + 90 * MINUTE, 'pass'), { at: t0 + 90 * MINUTE });
    const green = await slack.waitFor(() => notices()[1], 10_000);
    expect(readable(green)).toContain('Aurora keeps automated backups 35 days passes again');
    expect(readable(green)).toContain('It was red for 1h');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(notices()).toHaveLength(2);
    expect(page.requests).toEqual([]);
  });

  it('a bot process that runs no follower serves the same readiness gauges, read from the store', async () => {
    const other = await startTestBot({ slack, role: 'bot', prefix: bot.prefix });
    try {
      const text = await scrape(other.internalUrl);
      expect(sample(text, 'dr_readiness_item_status', { target: 'prod', item: 'aurora.retention.prod-aurora' })).toBe(1);
      expect(sample(text, 'dr_rpo_exposure_seconds', { scenario: 'region-outage' })).toBe(720);
    } finally {
      await other.stop({ keepData: true });
    }
  });
});

describe('readiness without DR_READINESS_CHANNEL', () => {
  it('says so once at start, and posts nothing when an item turns red', async () => {
    const slack = await new FakeSlack([BOT_TOKEN]).start();
    const bot = await startTestBot({ slack, prefix: uniquePrefix(), env: { COMMANDS_DIR: FIXTURE_COMMANDS } });
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(bot.logs.filter((l) => l.includes('DR_READINESS_CHANNEL is not set'))).toHaveLength(1);
      const at = Date.now();
      await storeReadinessRun(new RunStore(redis, bot.prefix), checkAt(at, 'fail'), { at });
      await expect
        .poll(async () => sample(await (await fetch(`${bot.internalUrl}/metrics`)).text(), 'dr_readiness_item_status', { item: 'aurora.retention.prod-aurora' }), { timeout: 10_000 })
        .toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(slack.callsTo('chat.postMessage')).toEqual([]);
    } finally {
      redis.disconnect();
      await bot.stop();
      await slack.stop();
    }
  });
});
