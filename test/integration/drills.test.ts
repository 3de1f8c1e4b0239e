import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillFollower, type ShareDrillReport } from '../../src/drills/follower.ts';
import { resultOf } from '../../src/drills/model.ts';
import { DrillStore } from '../../src/drills/store.ts';
import { trendOf } from '../../src/drills/trend.ts';
import { scenarioTargets } from '../../src/incidents/scenarios.ts';
import type { Run, RunEvent } from '../../src/runs/model.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { createDrillReporter } from '../../src/slack/drill-report.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { drillRecord } from '../support/drills.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';

const FIXTURE_DRILLS = fileURLToPath(new URL('../fixtures/drills/', import.meta.url));
const CHANNEL = 'C0DRILL001';
const MIN = 60_000;

/**
 * Drill runbooks (test/fixtures/drills) through the real engine on real
 * Redis, their ends delivered to two drill followers (as two worker
 * processes have them), each twice; reports shared with the fake Slack.
 * Objectives: data-corruption RTO 1m / RPO 10m; accidental-deletion an RTO
 * of 100 ms, which its fixture's waits always exceed (as INCIDENT_TARGETS
 * would set it).
 */
describe('the drill record: drill runs scored and recorded once, each with its report file once', () => {
  let engine: TestEngine;
  let api: FakeService;
  let slack: FakeSlack;
  let store: DrillStore;
  let followers: DrillFollower[];
  const objectives = scenarioTargets({ 'data-corruption': { rtoMs: MIN, rpoMs: 10 * MIN }, 'accidental-deletion': { rtoMs: 100, rpoMs: MIN } });

  const reporter = (): ShareDrillReport => createDrillReporter({ slack: createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger }), store, logger: engine.logger });
  const follower = (name: string, share: ShareDrillReport = reporter(), reportLeaseMs?: number) =>
    new DrillFollower({ eventsRedis: engine.redis, runs: engine.store, store, runbooks: engine.service.runbooks, objectives, share, consumerName: name, logger: engine.logger, ...(reportLeaseMs ? { reportLeaseMs } : {}) });
  const ended = (run: Run): RunEvent => ({ type: `run.${run.state}` as RunEvent['type'], runId: run.id, at: Date.now() });
  /** The run's end, delivered twice to each of the two followers at once (a redelivery, two processes). */
  const deliverTwiceToBoth = (run: Run) => Promise.all(followers.flatMap((f) => [f.handle(ended(run)), f.handle(ended(run))]));
  const drill = async (runbookId: string, params: Record<string, string | number>): Promise<Run> => {
    const requested = await engine.service.create({ runbookId, params, requester: ALICE, origin: { channelId: CHANNEL } });
    const run = await engine.waitForState(requested.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    await deliverTwiceToBoth(run);
    return run;
  };
  /** Data restored as of `minutes` before the loss, which happened a minute ago. */
  const restore = (minutes: number, checkPath = '/health') => {
    const lostAt = Date.now() - MIN;
    return { baseUrl: api.url, checkPath, dataAsOf: new Date(lostAt - minutes * MIN).toISOString(), lostAt: new Date(lostAt).toISOString() };
  };
  const reportFiles = (runId: string) => [...slack.files.values()].filter((f) => f.name === `drill-${runId}.md` && f.completed);
  const sharedMessages = (runId: string) => [...slack.messages.values()].filter((m) => m.channel === CHANNEL && m.files?.some((f) => f.name === `drill-${runId}.md`));

  beforeAll(async () => {
    api = await new FakeService().start();
    slack = await new FakeSlack([BOT_TOKEN]).start();
    engine = await startTestEngine({ commandsDir: FIXTURE_DRILLS });
    store = new DrillStore(engine.redis, engine.prefix);
    followers = [follower('worker-a'), follower('worker-b')];
  });
  afterAll(async () => {
    for (const f of followers) f.stop();
    await engine.stop();
    await Promise.all([api.stop(), slack.stop()]);
  });

  it('a drill within its objectives passes: RTO to the end of the last main step (not the cleanup), RPO as report.rpo measured it; recorded and reported once', async () => {
    const run = await drill('restore-drill', restore(5));
    expect(run.state).toBe('succeeded');
    const recorded = await store.get(run.id);
    expect(recorded).toMatchObject({ runId: run.id, runbookId: 'restore-drill', scenario: 'data-corruption', outcome: 'succeeded', passed: true, reasons: [], notes: [], measuredRpoMs: 5 * MIN, rpoStepId: 'measure', rtoObjectiveMs: MIN, rpoObjectiveMs: 10 * MIN });
    const steps = Object.fromEntries((recorded?.steps ?? []).map((s) => [s.stepId, s]));
    expect(recorded?.achievedRtoMs).toBe((steps.measure?.finishedAt ?? 0) - (run.startedAt ?? 0));
    expect(steps.cleanup).toMatchObject({ cleanup: true, state: 'succeeded' });
    // The cleanup ended after the recovery: the whole run is longer than the RTO by at least the cleanup's 0.3 s wait.
    expect((recorded?.durationMs ?? 0) - (recorded?.achievedRtoMs ?? 0)).toBeGreaterThanOrEqual(300);
    for (const s of recorded?.steps ?? []) expect(s.durationMs).toBe((s.finishedAt ?? 0) - (s.startedAt ?? 0));

    expect((await store.results()).map((d) => d.runId)).toEqual([run.id]);
    expect(reportFiles(run.id)).toHaveLength(1);
    expect(sharedMessages(run.id)).toHaveLength(1);
    expect(sharedMessages(run.id)[0]?.text).toContain(`:white_check_mark: Drill *Restore test (fixture)* passed (\`${run.id}\`, Data corruption): RTO`);
    const report = reportFiles(run.id)[0]?.content ?? '';
    expect(report).toContain('# Drill report: Restore test (fixture)');
    expect(report).toContain('| Result | **PASSED** |');
    expect(report).toContain('| RPO | 5m (step `measure`) | 10m | within |');
    expect(report).toMatch(/\| RTO \| [\d.]+(ms|s) \| 1m \| within \|/);
    expect(report).toMatch(/\| 4 \| `cleanup` \| Delete what the restore created \(stand-in\) \(cleanup\) \| succeeded \| \d\d:\d\d:\d\d \| [\d.]+(ms|s) \|/);
    // The timeline, from the run's audit: who asked, then what the bot did.
    expect(report).toContain(`UTC: alice (slack): requested: restore-drill`);
    for (const action of ['approved', 'started', 'step succeeded: restore', 'step succeeded: measure', 'cleanup started', 'succeeded']) expect(report).toContain(`UTC: dr-chatops (system): ${action}`);
  });

  it('a failed drill: its step and why, no RTO, the cleanup still ran; its report says what failed', async () => {
    const run = await drill('restore-drill', restore(5, '/down'));
    expect(run.state).toBe('failed');
    const recorded = await store.get(run.id);
    expect(recorded).toMatchObject({ outcome: 'failed', passed: false });
    expect(recorded?.achievedRtoMs).toBeUndefined();
    expect(recorded?.reasons).toHaveLength(1);
    expect(recorded?.reasons[0]).toMatch(/^the run failed at step verify: http:\/\/127\.0\.0\.1:\d+\/down did not answer HTTP 200 within 1s/);
    expect(recorded?.steps.find((s) => s.stepId === 'cleanup')?.state).toBe('succeeded');
    expect(reportFiles(run.id)).toHaveLength(1);
    const report = reportFiles(run.id)[0]?.content ?? '';
    expect(report).toContain('| Result | **FAILED** |');
    expect(report).toContain('## Why it failed');
    expect(report).toContain('| RTO | not achieved (a main step did not succeed) | 1m | missed |');
    expect(report).toContain('| RPO | not measured | 10m | — |');
    expect(sharedMessages(run.id)[0]?.text).toContain(':x: Drill *Restore test (fixture)* failed');
  });

  it('an RTO over its objective fails; an RPO over its objective fails; a drill that measures no RPO says so', async () => {
    const slow = await drill('slow-drill', {});
    expect(await store.get(slow.id)).toMatchObject({ outcome: 'succeeded', passed: false, notes: ['RPO not measured: no step reported measuredRpoSeconds'] });
    expect((await store.get(slow.id))?.measuredRpoMs).toBeUndefined();
    expect((await store.get(slow.id))?.reasons[0]).toMatch(/^RTO missed: recovered in [\d.]+m?s, the objective is 100ms$/);

    const lossy = await drill('restore-drill', restore(20));
    expect(await store.get(lossy.id)).toMatchObject({ passed: false, reasons: ['RPO missed: 20m of data lost (measured by step measure), the objective is 10m'], measuredRpoMs: 20 * MIN });
    expect(reportFiles(slow.id)).toHaveLength(1);
    expect(reportFiles(lossy.id)).toHaveLength(1);

    // Data newer than the loss: the times are swapped or a clock is wrong, and report.rpo measures nothing rather than a wrong number.
    const swapped = restore(5);
    const wrong = await drill('restore-drill', { ...swapped, dataAsOf: swapped.lostAt, lostAt: swapped.dataAsOf });
    expect((await store.get(wrong.id))?.reasons[0]).toContain(`the run failed at step measure: dataAsOf (${swapped.lostAt}) is after the loss`);
  });

  it('a cancelled drill fails, saying during which step and by whom; its cleanup ran', async () => {
    const requested = await engine.service.create({ runbookId: 'restore-drill', params: { ...restore(5), restoreSeconds: 60 }, requester: ALICE, origin: { channelId: CHANNEL } });
    await engine.waitForState(requested.id, ['running']);
    await engine.service.cancel(requested.id, ALICE, 'wrong day');
    const run = await engine.waitForState(requested.id, ['cancelled'], 30_000);
    await deliverTwiceToBoth(run);
    const recorded = await store.get(run.id);
    expect(recorded).toMatchObject({ outcome: 'cancelled', passed: false, reasons: ['the run was cancelled during step restore by alice (wrong day)'] });
    expect(recorded?.steps.find((s) => s.stepId === 'cleanup')?.state).toBe('succeeded');
    expect(reportFiles(run.id)).toHaveLength(1);
  });

  it('records nothing for a runbook that is no drill, a dry run, or a run still going', async () => {
    const before = (await store.results()).length;
    const other = await engine.service.create({ runbookId: 'not-a-drill', params: {}, requester: ALICE, origin: { channelId: CHANNEL } });
    await deliverTwiceToBoth(await engine.waitForState(other.id, ['succeeded']));
    const dry = await engine.service.create({ runbookId: 'restore-drill', params: restore(5), requester: ALICE, origin: { channelId: CHANNEL }, dryRun: true });
    await deliverTwiceToBoth(await engine.waitForState(dry.id, ['succeeded']));
    expect((await store.results()).length).toBe(before);
    expect([...slack.files.values()].filter((f) => f.name === `drill-${other.id}.md` || f.name === `drill-${dry.id}.md`)).toEqual([]);
  });

  it('the history across several runs: newest first per scenario, and the trend of the achieved RTOs', async () => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await drill('slow-drill', { seconds: 0.2 + 0.4 * i }));
    const deletion = await store.results({ scenario: 'accidental-deletion' });
    expect(deletion.map((d) => d.runId).slice(0, 3)).toEqual(runs.map((r) => r.id).reverse());
    const trend = trendOf(deletion);
    expect(trend?.recentRtoMs).toHaveLength(Math.min(5, deletion.length));
    // Each run waited 0.4 s longer than the one before: the newest is slower than the median of those before it.
    expect(trend?.direction).toBe('worse');
    expect(trend?.passedOfLast).toBe(0);
    const all = await store.results();
    expect(all.map((d) => d.startedAt)).toEqual([...all.map((d) => d.startedAt)].sort((a, b) => b - a));
  });

  it('a report whose sharing died after the upload (before it was marked) is not shared again by the process that takes it over', async () => {
    // This process shares the file, then dies before recording that it did: its lease ends at once.
    const dying = follower('worker-dying', async (input) => {
      await reporter()(input);
      throw new Error('worker killed');
    }, 1);
    // A drill whose end only the dying process gets.
    const fresh = await engine.service.create({ runbookId: 'restore-drill', params: restore(1), requester: ALICE, origin: { channelId: CHANNEL } });
    const finished = await engine.waitForState(fresh.id, ['succeeded'], 30_000);
    await dying.handle(ended(finished));
    expect(reportFiles(finished.id)).toHaveLength(1);
    expect((await store.pending()).map((p) => p.runId)).toContain(finished.id);
    // Another process tells what is pending: it finds the file in the channel and marks it shared.
    expect(await followers[0]?.sharePending()).toBe(0);
    expect(reportFiles(finished.id)).toHaveLength(1);
    expect(sharedMessages(finished.id)).toHaveLength(1);
    expect((await store.pending()).map((p) => p.runId)).not.toContain(finished.id);
    await deliverTwiceToBoth(finished);
    expect(reportFiles(finished.id)).toHaveLength(1);
  });

  it('a report Slack refused stays pending and is shared once when Slack takes it', async () => {
    slack.failNext('files.getUploadURLExternal', { error: 'internal_error' });
    const requested = await engine.service.create({ runbookId: 'restore-drill', params: restore(2), requester: ALICE, origin: { channelId: CHANNEL } });
    const run = await engine.waitForState(requested.id, ['succeeded'], 30_000);
    await followers[0]?.handle(ended(run));
    expect(await store.get(run.id)).toBeDefined();
    expect(reportFiles(run.id)).toHaveLength(0);
    expect((await store.pending()).map((p) => p.runId)).toContain(run.id);
    expect(await followers[1]?.sharePending()).toBe(0);
    expect(reportFiles(run.id)).toHaveLength(1);
    await deliverTwiceToBoth(run);
    expect(reportFiles(run.id)).toHaveLength(1);
  });
});

describe('the drill record keeps 2 years, at most 200 per scenario', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ workers: 0 });
  });
  afterAll(async () => {
    await engine.stop();
  });

  it('drops the oldest past the count of a scenario and those past the retention; recording a run again changes nothing', async () => {
    const now = Date.now();
    const store = new DrillStore(engine.redis, engine.prefix, { keepPerScenario: 3, retentionMs: 30 * 24 * 3_600_000 });
    const records = [5, 4, 3, 2, 1].map((daysAgo) => drillRecord('region-outage', now - daysAgo * 24 * 3_600_000));
    for (const r of records) expect(await store.record(r)).toBe(true);
    const other = drillRecord('data-corruption', now - 40 * 24 * 3_600_000);
    await store.record(other);
    expect(await store.record(records[4] ?? other)).toBe(false);
    expect((await store.results({ scenario: 'region-outage' })).map((d) => d.runId)).toEqual([records[4], records[3], records[2]].map((r) => r?.runId));
    expect(await store.get(records[0]?.runId ?? '')).toBeUndefined();
    // Older than the retention: not kept (nor listed).
    expect(await store.results({ scenario: 'data-corruption' })).toEqual([]);
    expect((await store.results()).map((d) => d.runId)).toEqual([records[4], records[3], records[2]].map((r) => r?.runId));
    expect(await store.latestPerScenario()).toEqual([resultOf(records[4] ?? other)]);
  });
});
