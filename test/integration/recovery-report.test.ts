import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillFollower } from '../../src/drills/follower.ts';
import { DrillStore } from '../../src/drills/store.ts';
import { scenarioTargets } from '../../src/incidents/scenarios.ts';
import { IncidentStore } from '../../src/incidents/store.ts';
import { incidentsFrom, RecoveryReportFollower } from '../../src/reports/follower.ts';
import { buildRecoveryReport, type RecoveryReport } from '../../src/reports/recovery.ts';
import type { Run, RunEvent } from '../../src/runs/model.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { createRecoveryReporter } from '../../src/slack/recovery-report.ts';
import { createDrillReporter } from '../../src/slack/drill-report.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, BOB, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';

const FIXTURE_REPORTS = fileURLToPath(new URL('../fixtures/reports/', import.meta.url));
const CHANNEL = 'C0RECOVER1';
const INCIDENT_CHANNEL = 'C0INCIDNT1';
const MIN = 60_000;

/**
 * Changing runs (test/fixtures/reports) through the real engine on real
 * Redis, approved by a second person; their ends delivered twice to each of
 * two recovery report followers (as two worker processes have them); the
 * files posted to the fake Slack. Objectives: data-corruption RTO 1m, RPO 10m.
 */
describe('recovery reports: one file per changing run that ends, in its incident\'s or its own channel', () => {
  let engine: TestEngine;
  let api: FakeService;
  let slack: FakeSlack;
  let incidents: IncidentStore;
  let followers: RecoveryReportFollower[] = [];
  const objectives = scenarioTargets({ 'data-corruption': { rtoMs: MIN, rpoMs: 10 * MIN } });

  const follower = (name: string) =>
    new RecoveryReportFollower({
      eventsRedis: engine.redis,
      redis: engine.redis,
      prefix: engine.prefix,
      runs: engine.store,
      runbooks: engine.service.runbooks,
      objectives,
      incident: incidentsFrom(incidents),
      post: createRecoveryReporter({ slack: createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger }), logger: engine.logger }),
      consumerName: name,
      logger: engine.logger,
    });
  const ended = (run: Run): RunEvent => ({ type: `run.${run.state}` as RunEvent['type'], runId: run.id, at: Date.now() });
  const deliverTwiceToBoth = (run: Run) => Promise.all(followers.flatMap((f) => [f.handle(ended(run)), f.handle(ended(run))]));
  const files = (runId: string) => [...slack.files.values()].filter((f) => f.name === `recovery-${runId}.md` && f.completed);
  const sharedIn = (runId: string) => [...slack.messages.values()].filter((m) => m.files?.some((f) => f.name === `recovery-${runId}.md`)).map((m) => m.channel);
  const recover = (extra: Record<string, string | number> = {}) => ({ baseUrl: api.url, dataAsOf: new Date(Date.now() - 5 * MIN).toISOString(), ...extra });
  /** Requests, approves (bob), waits for the end and delivers it. */
  const run = async (runbookId: string, params: Record<string, string | number>, origin: Run['origin'] = { channelId: CHANNEL }, dryRun = false): Promise<Run> => {
    const requested = await engine.service.create({ runbookId, params, requester: ALICE, origin, dryRun });
    if (requested.state === 'awaiting_approval') await engine.service.approve(requested.id, BOB);
    const done = await engine.waitForState(requested.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    await deliverTwiceToBoth(done);
    return done;
  };

  beforeAll(async () => {
    api = await new FakeService().start();
    slack = await new FakeSlack([BOT_TOKEN]).start();
    engine = await startTestEngine({ commandsDir: FIXTURE_REPORTS });
    incidents = new IncidentStore(engine.redis, engine.prefix);
    followers = [follower('worker-a'), follower('worker-b')];
  });
  afterAll(async () => {
    for (const f of followers) f.stop();
    await engine.stop();
    await Promise.all([api.stop(), slack.stop()]);
  });

  it('a changing run that ends: one file in its channel, with the plan as approved, who approved when, every step, what changed, recovery time to the health check against the RTO, the RPO', async () => {
    const done = await run('recover-service', recover());
    expect(done.state).toBe('succeeded');
    expect(files(done.id)).toHaveLength(1);
    expect(sharedIn(done.id)).toEqual([CHANNEL]);
    const message = [...slack.messages.values()].find((m) => m.files?.some((f) => f.name === `recovery-${done.id}.md`));
    expect(message?.text).toMatch(/^:white_check_mark: Recovery report: \*Recover the &lt;service&gt; \*now\* \(fixture\)\* \(`r\w+`\) succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 1m: within\); data loss 5m \(RPO 10m: within\)\./);

    const md = files(done.id)[0]?.content ?? '';
    // Escaped: the title's markup is text.
    expect(md).toContain('# Recovery report: Recover the \\<service\\> \\*now\\* (fixture)');
    expect(md).toContain('| Outcome | **SUCCEEDED** |');
    expect(md).toContain('| Scenario | Data corruption (`data-corruption`) |');
    expect(md).toMatch(/\| Requested \| alice \(slack\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/);
    expect(md).toMatch(/\| Approved \| bob \(slack\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/);
    expect(md).toMatch(/\| Recovery time \(RTO\) \| [\d.]+m?s \| 1m \| within \|/);
    expect(md).toContain('| Data loss (RPO) | 5m | 10m | within |');
    expect(md).toContain('until the health check passed (step `verify`');
    expect(md).toContain('Data loss: measured by step `measure` (measuredRpoSeconds).');
    // What changed: every step that ran to its end, the cleanup too.
    for (const id of ['restore', 'verify', 'measure', 'cleanup']) expect(md).toContain(`- \`${id}\` `);
    expect(md).toMatch(/\| 2 \| `verify` \| Check the service answers \| succeeded \| \d\d:\d\d:\d\d \| \d\d:\d\d:\d\d \| [\d.]+m?s \| 1 \|/);
    expect(md).toMatch(/\| 4 \| `cleanup` \| Tidy up \(stand-in\) \(cleanup\) \| succeeded \|/);
    expect(md).toContain('## The plan as approved');
    expect(md).toMatch(/2\. \*\*Check the service answers\*\* `verify` \(`http\.check`\), on default [^\n]*\n {4}- check http:\/\/127\.0\.0\.1:\d+\/health: GET until HTTP 200, for up to 1s\n/);
    expect(md).toContain('UTC: bob (slack): approved');
  });

  it('the recovery time runs from the request (not the start) until the health check passed, not until the last step', async () => {
    const done = await run('recover-service', recover({ restoreSeconds: 0.4 }));
    const audit = await engine.store.audit(done.id);
    const report: RecoveryReport = buildRecoveryReport(done, audit, { objectives, now: Date.now() });
    const verifyEnd = done.steps.verify?.finishedAt ?? 0;
    expect(report.recoveryTime).toEqual({ fromAt: done.createdAt, until: 'health-check', untilAt: verifyEnd, stepId: 'verify', achievedMs: verifyEnd - done.createdAt, objectiveMs: MIN, withinObjective: true });
    // The request waited for bob's approval: the recovery time counts that wait, the run's own duration does not.
    expect(report.recoveryTime.achievedMs).toBeGreaterThan(verifyEnd - (done.startedAt ?? 0));
    // The health check passed before the RPO was measured and the cleanup ran.
    expect(verifyEnd).toBeLessThan(done.steps.measure?.finishedAt ?? 0);
    expect(report.rpo).toEqual({ achievedMs: 5 * MIN, source: 'measured', stepId: 'measure', objectiveMs: 10 * MIN, withinObjective: true });
    expect(files(done.id)).toHaveLength(1);
  });

  it('a failed run: its report says where it failed, recovery not achieved, and what may have changed', async () => {
    const done = await run('recover-service', recover({ checkPath: '/down' }));
    expect(done.state).toBe('failed');
    expect(files(done.id)).toHaveLength(1);
    const md = files(done.id)[0]?.content ?? '';
    expect(md).toMatch(/\| Outcome \| \*\*FAILED\*\*: failed at step verify: http:\/\/127\.0\.0\.1:\d+\/down did not answer HTTP 200/);
    expect(md).toContain('| Recovery time (RTO) | not achieved (a main step did not succeed) | 1m | missed |');
    expect(md).toContain('- `verify` Check the service answers: failed (may have changed something)');
    expect(md).toContain('| Data loss (RPO) | not known | 10m | — |');
  });

  it('a run of an incident: the file goes to the incident\'s channel', async () => {
    const incidentId = 'inc-report-1';
    const startedAt = Date.now() - 10 * MIN;
    await incidents.create(
      { id: incidentId, scenario: 'data-corruption', title: 'Orders corrupted', severity: 'sev2', public: false, declaredBy: ALICE.id, commander: ALICE.id, originChannel: CHANNEL, channelName: 'inc-orders', affectedServices: [], impact: '', startedAt, rtoMs: MIN, rpoMs: 10 * MIN, state: 'identified', currentStatus: 'restoring', runs: [] },
      `report-test-${incidentId}`,
      { at: startedAt, actor: ALICE.id, text: 'declared' },
    );
    await incidents.setField(incidentId, 'channelId', INCIDENT_CHANNEL);
    const done = await run('recover-service', recover(), { channelId: CHANNEL, incidentId });
    expect(files(done.id)).toHaveLength(1);
    expect(sharedIn(done.id)).toEqual([INCIDENT_CHANNEL]);
    expect(files(done.id)[0]?.content).toContain(`| Incident | \`${incidentId}\` |`);
  });

  it('a read-only run, a dry run, a drill and a run from the terminal post no recovery report', async () => {
    const look = await run('look-at-service', { baseUrl: api.url });
    expect(look.state).toBe('succeeded');
    const dry = await run('recover-service', recover(), { channelId: CHANNEL }, true);
    const drill = await run('recover-drill', { baseUrl: api.url });
    expect(drill.state).toBe('succeeded');
    // A drill keeps its one file, the drill report, which carries the recovery record.
    const drills = new DrillStore(engine.redis, engine.prefix);
    const slackClient = createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: engine.logger });
    const drillFollower = new DrillFollower({ eventsRedis: engine.redis, runs: engine.store, store: drills, runbooks: engine.service.runbooks, objectives, share: createDrillReporter({ slack: slackClient, store: drills, logger: engine.logger }), consumerName: 'drills', logger: engine.logger });
    await drillFollower.handle(ended(drill));
    const drillFiles = [...slack.files.values()].filter((f) => f.name === `drill-${drill.id}.md` && f.completed);
    expect(drillFiles).toHaveLength(1);
    const drillReport = drillFiles[0]?.content ?? '';
    expect(drillReport).toContain('# Drill report: Recovery drill (fixture)');
    expect(drillReport).toContain('## Recovery record');
    expect(drillReport).toMatch(/Requested by alice \(slack\) at [\d-]+ [\d:]+ UTC; approved by bob \(slack\) at [\d-]+ [\d:]+ UTC\./);
    expect(drillReport).toMatch(/\| Recovery time \(RTO\) \| [\d.]+m?s \| 1m \| within \|/);
    expect(drillReport).toContain('### The plan as approved');
    expect(drillReport).toContain('- `verify` Check the service answers: done');
    const terminal = await run('recover-service', recover(), {});
    expect(terminal.state).toBe('succeeded');
    for (const r of [look, dry, drill, terminal]) {
      expect(files(r.id)).toHaveLength(0);
      expect(sharedIn(r.id)).toEqual([]);
    }
    // Nothing is left waiting to be posted.
    expect(await engine.redis.hlen(`${engine.prefix}:reports:pending`)).toBe(0);
  });
});
