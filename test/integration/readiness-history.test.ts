import { Redis } from 'ioredis';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadinessFollower } from '../../src/readiness/follower.ts';
import { ReadinessStore } from '../../src/readiness/store.ts';
import type { RunEvent } from '../../src/runs/model.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { createReadinessNotifier } from '../../src/slack/readiness-notifier.ts';
import type { ItemStatus } from '../../src/steps/readiness/report.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack, readable } from '../support/fake-slack.ts';
import { DAY, exposure, item, MINUTE, report, storeReadinessRun, target } from '../support/readiness.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const CHANNEL = 'C0READY001';

describe('readiness history and drift notices', () => {
  let slack: FakeSlack;
  let engine: TestEngine;
  let store: ReadinessStore;
  /** Two followers, as two worker processes have them. */
  let followers: ReadinessFollower[];
  const logLines: string[] = [];

  const follower = (name: string, eventsRedis = engine.redis) =>
    new ReadinessFollower({
      eventsRedis,
      runs: engine.store,
      store,
      notify: createReadinessNotifier({ slack: createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger }), channel: CHANNEL, store, slash: '/dr', logger: engine.logger }),
      consumerName: name,
      logger: engine.logger,
    });
  const notices = () => [...slack.messages.values()].filter((m) => m.channel === CHANNEL);
  const succeeded = (runId: string): RunEvent => ({ type: 'run.succeeded', runId, at: Date.now() });
  /** The run's end, delivered twice to each of the two followers at once (a redelivery, two processes). */
  const deliverTwiceToBoth = async (runId: string) => {
    const event = succeeded(runId);
    await Promise.all(followers.flatMap((f) => [f.handle(event), f.handle(event)]));
  };
  /** A check of one item of `targetName`, `minutes` after `t0`, stored and delivered. */
  const check = async (targetName: string, t0: number, minutes: number, status: ItemStatus, id = 'aurora.retention.prod-aurora') => {
    const at = t0 + minutes * MINUTE;
    const runId = await storeReadinessRun(engine.store, report(at, [target(targetName, [item(id, status, { title: 'Aurora keeps automated backups 35 days', value: status === 'pass' ? 'kept 35 days' : 'kept 7 days', reason: 'BackupRetentionPeriod is 7', fix: 'aws rds modify-db-cluster --backup-retention-period 35' })], at)]));
    await deliverTwiceToBoth(runId);
    return runId;
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    engine = await startTestEngine({ workers: 0, logLines });
    store = new ReadinessStore(engine.redis, engine.prefix);
    followers = [follower('bot-a'), follower('bot-b')];
  });
  afterAll(async () => {
    for (const f of followers) f.stop();
    await engine.stop();
    await slack.stop();
  });

  it('an item turning red is posted once (delivered twice to two followers), nothing while it stays red, and its recovery once', async () => {
    const t0 = Date.now() - 3 * 60 * MINUTE;
    await check('prod', t0, 0, 'pass');
    expect(notices()).toHaveLength(0);

    await check('prod', t0, 30, 'fail');
    expect(notices()).toHaveLength(1);
    const red = readable(notices()[0]);
    expect(red).toContain('Aurora keeps automated backups 35 days turned red');
    expect(red).toContain('`prod`');
    expect(red).toContain('kept 7 days');
    expect(red).toContain('≥ 35 days');
    expect(red).toContain('BackupRetentionPeriod is 7');
    expect(red).toContain('aws rds modify-db-cluster --backup-retention-period 35');
    expect(red).toContain(`Failing since ${new Date(t0 + 30 * MINUTE).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    expect(red).toContain(`last passed ${new Date(t0).toISOString().slice(0, 16).replace('T', ' ')} UTC`);

    await check('prod', t0, 60, 'fail');
    expect(notices()).toHaveLength(1);

    const green = await check('prod', t0, 90, 'pass');
    expect(notices()).toHaveLength(2);
    expect(readable(notices()[1])).toContain('Aurora keeps automated backups 35 days passes again');
    expect(readable(notices()[1])).toContain('It was red for 1h');
    await deliverTwiceToBoth(green);
    expect(notices()).toHaveLength(2);
    expect((await store.changes('prod', 'aurora.retention.prod-aurora')).map((c) => [c.from, c.to])).toEqual([
      [undefined, 'pass'],
      ['pass', 'fail'],
      ['fail', 'pass'],
    ]);
  });

  it('warn and unknown post nothing; a red spell broken by an unknown reading is one red, told once', async () => {
    const t0 = Date.now() - 5 * 60 * MINUTE;
    const before = notices().length;
    const statuses: ItemStatus[] = ['pass', 'warn', 'unknown', 'pass', 'fail', 'unknown', 'fail', 'warn', 'pass'];
    const told: number[] = [];
    for (const [i, status] of statuses.entries()) {
      await check('stage', t0, i * 30, status);
      told.push(notices().length - before);
    }
    // Red at the first fail, green at the pass after it; nothing else.
    expect(told).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2]);
    expect(readable(notices().at(-2))).toContain('turned red');
    expect(readable(notices().at(-1))).toContain('It was red for 2h');
  });

  it('an item failing at its very first check is told red', async () => {
    const before = notices().length;
    await check('fresh', Date.now() - MINUTE, 0, 'fail', 'velero.schedule.hourly-backup');
    expect(notices()).toHaveLength(before + 1);
    expect(readable(notices().at(-1))).toContain('its first check');
  });

  it('ignores dry runs and reports that cannot be read, recording nothing', async () => {
    const before = notices().length;
    const dry = await storeReadinessRun(engine.store, report(Date.now(), [target('drytarget', [item('aurora.snapshot', 'fail')], Date.now())]), { dryRun: true });
    await deliverTwiceToBoth(dry);
    const garbled = await storeReadinessRun(engine.store, { raw: '{"checkedAt":"yesterday"}' });
    await deliverTwiceToBoth(garbled);
    expect(notices()).toHaveLength(before);
    expect((await store.latest()).targets.map((t) => t.report.target)).not.toContain('drytarget');
    expect(await store.item('drytarget', 'aurora.snapshot')).toBeUndefined();
    expect(logLines.some((l) => l.includes(garbled) && l.includes('without a readable report'))).toBe(true);
  });

  it('keeps each target\'s latest check and each scenario\'s live RPO for the views', async () => {
    const at = Date.now() - 2 * MINUTE;
    const runId = await storeReadinessRun(
      engine.store,
      report(at, [target('east', [item('dns.failover-pair', 'pass')], at), target('west', [item('dr-region.cluster', 'unknown')], at, 'dr')], [exposure('region-outage', 42, 300, 'pass'), exposure('data-corruption', undefined, 300, 'unknown')]),
    );
    await deliverTwiceToBoth(runId);
    const latest = await store.latest();
    expect(latest.targets.find((t) => t.report.target === 'west')).toMatchObject({ runId, report: { role: 'dr', items: [{ id: 'dr-region.cluster', status: 'unknown' }] } });
    expect(latest.exposures?.exposures.map((e) => [e.scenario, e.exposureSeconds, e.status])).toEqual([
      ['region-outage', 42, 'pass'],
      ['data-corruption', undefined, 'unknown'],
    ]);
    expect(await store.exposures('region-outage')).toEqual([{ at, runId, exposureSeconds: 42, objectiveSeconds: 300, status: 'pass' }]);
    expect(await store.exposures('data-corruption')).toEqual([{ at, runId, objectiveSeconds: 300, status: 'unknown' }]);
  });

  it('a started follower reads the run from the events stream and tells once', async () => {
    // Reading events blocks: a connection of its own, as in the bot.
    const events = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const consumer = follower('bot-c', events);
    await consumer.start();
    try {
      const before = notices().length;
      const at = Date.now();
      await storeReadinessRun(engine.store, report(at, [target('streamed', [item('secrets.replicated', 'fail', { title: 'Secret db-credentials replicated to us-west-2' })], at)]));
      await slack.waitFor(() => notices().length > before, 10_000);
      expect(readable(notices().at(-1))).toContain('Secret db-credentials replicated to us-west-2 turned red');
      await expect.poll(async () => (await store.item('streamed', 'secrets.replicated'))?.result.status, { timeout: 5_000 }).toBe('fail');
      await new Promise((r) => setTimeout(r, 500));
      expect(notices()).toHaveLength(before + 1);
    } finally {
      consumer.stop();
      await new Promise((r) => setTimeout(r, 1_100));
      events.disconnect();
    }
  });

  it('a notice Slack refuses stays pending while the history goes on, and is posted before the item\'s recovery', async () => {
    const t0 = Date.now() - 2 * 60 * MINUTE;
    await check('flaky', t0, 0, 'pass');
    const before = notices().length;
    // The bot was removed from the channel: Slack refuses every post there (not_in_channel) until it is invited back.
    slack.setChannel(CHANNEL, { isPrivate: false, botIsMember: false });
    await check('flaky', t0, 30, 'fail');
    expect(notices()).toHaveLength(before);
    expect((await store.pending()).map((t) => [t.target, t.kind])).toEqual([['flaky', 'red']]);
    expect((await store.item('flaky', 'aurora.retention.prod-aurora'))?.result.status).toBe('fail');
    expect(logLines.some((l) => l.includes('telling a readiness transition failed') && l.includes('not_in_channel'))).toBe(true);

    slack.setChannel(CHANNEL, { isPrivate: false, botIsMember: true });

    await check('flaky', t0, 60, 'pass');
    const told = notices().slice(before);
    expect(told.map((m) => (readable(m).includes('turned red') ? 'red' : 'green'))).toEqual(['red', 'green']);
    expect(await store.pending()).toEqual([]);
  });
});

describe('the readiness store: 7 days of history, idempotent', () => {
  let redis: Redis;
  let engine: TestEngine;
  let clock = Date.UTC(2026, 11, 1, 12, 0);

  beforeAll(async () => {
    engine = await startTestEngine({ workers: 0 });
    redis = new Redis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    redis.disconnect();
    await engine.stop();
  });

  /** Everything the store keeps, as read back: what "changes nothing" is checked against. */
  const snapshot = async (prefix: string) => {
    const keys = (await redis.keys(`${prefix}:readiness:*`)).sort();
    const values = await Promise.all(
      keys.map(async (k) => {
        const type = await redis.type(k);
        if (type === 'hash') return [k, await redis.hgetall(k)];
        if (type === 'zset') return [k, await redis.zrange(k, 0, -1, 'WITHSCORES')];
        return [k, await redis.get(k)];
      }),
    );
    return values;
  };

  it('trims readings and exposures older than 7 days at the next check', async () => {
    const store = new ReadinessStore(engine.redis, `${engine.prefix}-trim`, { now: () => clock });
    const checkAt = async (at: number, status: ItemStatus) => {
      clock = at;
      await store.record(`run-${at}`, report(at, [target('prod', [item('velero.bsl', status)], at)], [exposure('region-outage', 60, 300, 'pass')]));
    };
    const start = clock;
    await checkAt(start, 'pass');
    await checkAt(start + 2 * DAY, 'fail');
    await checkAt(start + 6 * DAY, 'pass');
    expect((await store.readings('prod', 'velero.bsl')).map((r) => r.status)).toEqual(['pass', 'fail', 'pass']);

    await checkAt(start + 8 * DAY, 'warn');
    expect((await store.readings('prod', 'velero.bsl')).map((r) => [r.at, r.status])).toEqual([
      [start + 2 * DAY, 'fail'],
      [start + 6 * DAY, 'pass'],
      [start + 8 * DAY, 'warn'],
    ]);
    // Trimmed in Redis, not only hidden when read.
    expect(await redis.zcard(`${engine.prefix}-trim:readiness:readings:prod:velero.bsl`)).toBe(3);
    expect((await store.exposures('region-outage')).map((e) => e.at)).toEqual([start + 2 * DAY, start + 6 * DAY, start + 8 * DAY]);
    expect(await redis.ttl(`${engine.prefix}-trim:readiness:readings:prod:velero.bsl`)).toBeGreaterThan(7 * 24 * 3_600);
  });

  it('recording the same run again changes nothing and returns the same transitions', async () => {
    const prefix = `${engine.prefix}-again`;
    const store = new ReadinessStore(engine.redis, prefix);
    const at = Date.now();
    await store.record('run-1', report(at - 30 * MINUTE, [target('prod', [item('images.replication', 'pass'), item('dns.health', 'pass')], at - 30 * MINUTE)]));
    const second = report(at, [target('prod', [item('images.replication', 'fail'), item('dns.health', 'pass')], at)], [exposure('single-az-failure', 0, 0, 'pass')]);
    const first = await store.record('run-2', second);
    expect(first.map((t) => [t.kind, t.item.id, t.previous])).toEqual([['red', 'images.replication', 'pass']]);
    const before = await snapshot(prefix);

    const again = await Promise.all([store.record('run-2', second), store.record('run-2', second)]);
    expect(again).toEqual([first, first]);
    expect(await snapshot(prefix)).toEqual(before);
    expect(await store.readings('prod', 'images.replication')).toHaveLength(2);
  });

  it('an older check that finishes late is history only: it does not move the standing or tell anything', async () => {
    const store = new ReadinessStore(engine.redis, `${engine.prefix}-late`);
    const at = Date.now();
    await store.record('newer', report(at, [target('prod', [item('terraform.versioning', 'pass')], at)]));
    const late = await store.record('older', report(at - 10 * MINUTE, [target('prod', [item('terraform.versioning', 'fail')], at - 10 * MINUTE)]));
    expect(late).toEqual([]);
    expect((await store.item('prod', 'terraform.versioning'))?.result.status).toBe('pass');
    expect((await store.latest()).targets[0]?.runId).toBe('newer');
    expect((await store.readings('prod', 'terraform.versioning')).map((r) => r.status)).toEqual(['fail', 'pass']);
  });
});

describe('a readiness run through the engine', () => {
  let slack: FakeSlack;
  let engine: TestEngine;
  let store: ReadinessStore;
  let events: Redis;
  let consumer: ReadinessFollower;

  beforeAll(async () => {
    // The real readiness.summary step, joining checklists given as parameters (the checks' own tests reach AWS fakes).
    const commands = mkdtempSync(join(tmpdir(), 'readiness-'));
    writeFileSync(
      join(commands, 'readiness-given.yaml'),
      [
        'id: readiness-given',
        'title: Readiness from given checklists',
        'approval: { required: 0 }',
        'params:',
        '  prod: { type: string }',
        '  dr: { type: string }',
        'steps:',
        '  - id: summary',
        '    name: Join the checklists',
        '    use: readiness.summary',
        "    with: { reports: ['${{ params.prod }}', '${{ params.dr }}'] }",
        '',
      ].join('\n'),
    );
    slack = await new FakeSlack([BOT_TOKEN]).start();
    engine = await startTestEngine({ commandsDir: commands });
    store = new ReadinessStore(engine.redis, engine.prefix);
    events = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    consumer = new ReadinessFollower({
      eventsRedis: events,
      runs: engine.store,
      store,
      notify: createReadinessNotifier({ slack: createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger }), channel: CHANNEL, store, slash: '/dr', logger: engine.logger }),
      consumerName: 'worker-1',
      logger: engine.logger,
    });
    await consumer.start();
  });
  afterAll(async () => {
    consumer.stop();
    await new Promise((r) => setTimeout(r, 1_100));
    events.disconnect();
    await engine.stop();
    await slack.stop();
  });

  const run = async (retention: ItemStatus, at: number) => {
    const params = {
      prod: JSON.stringify(target('prod', [item('aurora.retention.prod-aurora', retention, { title: 'Aurora keeps automated backups 35 days' }), item('velero.bsl', 'pass')], at)),
      dr: JSON.stringify(target('dr', [item('dr-region.cluster', 'pass')], at, 'dr')),
    };
    const created = await engine.service.create({ runbookId: 'readiness-given', params, requester: ALICE });
    return engine.waitForState(created.id, ['succeeded']);
  };

  it('records what the summary step reported, and tells the item that turned red once', async () => {
    const t0 = Date.now() - 60 * MINUTE;
    const first = await run('pass', t0);
    await expect.poll(async () => (await store.latest()).targets.find((t) => t.report.target === 'prod')?.runId, { timeout: 10_000 }).toBe(first.id);
    await run('fail', t0 + 30 * MINUTE);
    const red = await slack.waitFor(() => [...slack.messages.values()].find((m) => m.channel === CHANNEL), 10_000);
    expect(readable(red)).toContain('Aurora keeps automated backups 35 days turned red');
    expect((await store.latest()).targets.map((t) => [t.report.target, t.report.items.map((i) => i.status)])).toEqual([
      ['prod', ['fail', 'pass']],
      ['dr', ['pass']],
    ]);
    await new Promise((r) => setTimeout(r, 500));
    expect([...slack.messages.values()].filter((m) => m.channel === CHANNEL)).toHaveLength(1);
  });
});
