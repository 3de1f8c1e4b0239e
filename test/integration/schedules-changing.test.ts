import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderSchedules } from '../../src/cli/schedule-command.ts';
import { ReadinessStore } from '../../src/readiness/store.ts';
import { loadRunbooks } from '../../src/runbooks/load.ts';
import { RunService } from '../../src/runs/service.ts';
import { checkConfigSchedules } from '../../src/schedules/config.ts';
import type { Schedule } from '../../src/schedules/model.ts';
import { ScheduleService } from '../../src/schedules/service.ts';
import type { ReadinessReport } from '../../src/steps/readiness/report.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { DEFAULT_LIMITS } from '../../src/steps/limits.ts';
import type { Targets } from '../../src/targets/targets.ts';
import { ALICE, BOB, startTestEngine, TEST_OUTBOUND, type TestEngine, testTargets, userErrorOf } from '../support/engine.ts';
import { fireClaims, runsOf, SCHEDULE_COMMANDS, TEST_MIN_EVERY_MS, type TestSchedules, testSchedules, until } from '../support/schedules.ts';

/** `drill`'s own approvers (its runbook names them), with BOB. */
const CAROL = { id: 'U0CAROL001', name: 'carol', via: 'slack' as const };
const DAVE = { id: 'U0DAVE0001', name: 'dave', via: 'slack' as const };
/** A member who approves nothing. */
const ERIN = { id: 'U0ERIN0001', name: 'erin', via: 'slack' as const };
const OPS = { id: 'C0OPS00001' };

const PROD = { label: 'Production', region: 'us-east-1', account: '111111111111' };
const DRILL = { label: 'Drill', region: 'us-west-2', account: '222222222222', drill: true };
/** Production, and a drill target: the only kind a changing runbook's schedule may act on. */
const targetsWith = (drill: Record<string, unknown> = DRILL, more: Record<string, unknown> = {}): Targets => testTargets({ targets: { prod: PROD, drill, ...more }, defaultTarget: 'prod' });

const RED_ITEM = 'aurora.retention.prod-aurora';

/** One readiness check's report: `RED_ITEM` on prod with `status`. */
function readinessReport(status: 'pass' | 'fail', at: number): ReadinessReport {
  return {
    checkedAt: at,
    exposures: [],
    targets: [
      {
        target: 'prod',
        role: 'primary',
        checkedAt: at,
        readings: {},
        items: [{ id: RED_ITEM, area: 'aurora', title: 'Aurora backup retention', status, value: status === 'pass' ? 'kept 35 days' : 'kept 1 day', objective: '≥ 35 days', reason: status === 'pass' ? 'as the plan asks' : 'retention is 1 day, the plan asks 35' }],
      },
    ],
  };
}

/**
 * Schedules of changing runbooks on real Redis and BullMQ: approved by two
 * approvers as a schedule, each fire a run already approved; suspended when
 * the runbook or a place changes; drill targets only; skipped while a
 * readiness item it depends on is red.
 */
describe('schedules of changing runbooks', () => {
  let engine: TestEngine;
  let s: TestSchedules;
  let readiness: ReadinessStore;
  const told: { scheduleId: string; text: string }[] = [];
  const tell = (schedule: Schedule, text: string) => {
    told.push({ scheduleId: schedule.id, text });
    return Promise.resolve();
  };
  const work = mkdtempSync(join(tmpdir(), 'dr-changing-schedules-'));

  /**
   * The bot after a restart with other runbook files or another target
   * configuration: a run service over what it loads now, on the same Redis.
   */
  const restarted = (o: { runbooksDir?: string; targets?: Targets } = {}): ScheduleService => {
    const targets = o.targets ?? targetsWith();
    const registry = buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: TEST_OUTBOUND });
    const runs = new RunService({ store: engine.store, queue: engine.queue, runbooks: loadRunbooks(o.runbooksDir ?? SCHEDULE_COMMANDS, registry, targets.names()), registry, targets, logger: engine.logger, approvers: { users: [BOB.id], groups: [] } });
    return new ScheduleService({ store: s.store, queue: s.queue, runs, approvers: { users: [BOB.id], groups: [] }, logger: engine.logger, minEveryMs: TEST_MIN_EVERY_MS, tell, readiness });
  };
  /** Added by BOB and approved by CAROL and DAVE, with `service`. */
  const approved = async (service: ScheduleService, extra: { skipWhenRed?: string[] } = {}) => {
    const added = await service.add({ runbookId: 'drill', cadence: 'every 1h', params: { target: 'drill' }, channel: OPS, requester: BOB, source: 'slack', ...extra });
    await service.approve(added.id, CAROL);
    expect((await service.approve(added.id, DAVE)).outcome).toBe('approved');
    return added.id;
  };
  const runsOfSchedule = async (id: string) => (await runsOf(engine, 'drill')).filter((r) => r.origin.scheduleId === id);

  beforeAll(async () => {
    engine = await startTestEngine({ commandsDir: SCHEDULE_COMMANDS, targets: targetsWith() });
    readiness = new ReadinessStore(engine.redis, engine.prefix);
    s = testSchedules(engine, { approvers: { users: [BOB.id], groups: [] }, tell, readiness });
    s.startWorker();
  });
  afterAll(async () => {
    await s.stop();
    await engine.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('needs two approvers other than its creator, each once; then every fire runs without asking, approved by them', async () => {
    const added = await s.service.add({ runbookId: 'drill', cadence: 'every 700ms', params: { target: 'drill' }, requester: BOB, source: 'slack' });
    expect(added.approval).toMatchObject({ state: 'awaiting', required: 2, approvals: [] });
    expect(added.approval?.covers.places).toEqual([expect.objectContaining({ stepId: 'act', target: 'drill', shown: 'Drill (drill) · us-west-2 · account 222222222222' })]);
    expect(added.approval?.covers.runbookDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Not firing until approved.
    expect(added.next).toBeUndefined();
    expect((await s.queue.nextFires()).has(added.id)).toBe(false);
    expect(renderSchedules([added], Date.now()).join('\n')).toContain('awaiting approval: it needs 2 approvals from different people before it fires · 0 of 2 approvals · acts on Drill (drill) · us-west-2 · account 222222222222 (drill targets only)');

    expect(await userErrorOf(s.service.approve(added.id, BOB))).toBe(`You made schedule \`${added.id}\`: the two-person rule needs 2 approvals from others. Nothing changed.`);
    expect(await userErrorOf(s.service.approve(added.id, ERIN))).toBe('You may not approve runs of drill: only <@U0BOB00001>, <@U0CAROL001>, <@U0DAVE0001> may. Nothing changed.');
    const first = await s.service.approve(added.id, CAROL);
    expect(first).toMatchObject({ outcome: 'recorded', count: 1, required: 2 });
    expect(first.schedule.approval?.state).toBe('awaiting');
    expect(await userErrorOf(s.service.approve(added.id, CAROL))).toContain(`You already approved schedule \`${added.id}\`; it needs 2 approvals from different people (1 of 2 approvals (<@U0CAROL001>))`);
    expect((await s.queue.nextFires()).has(added.id)).toBe(false);
    expect([...(await fireClaims(engine.prefix)).keys()].some((fire) => fire.includes(added.id))).toBe(false);

    const second = await s.service.approve(added.id, DAVE);
    expect(second).toMatchObject({ outcome: 'approved', count: 2, required: 2 });
    expect(second.schedule.approval?.state).toBe('approved');
    expect(second.schedule.next).toBeDefined();
    expect(await userErrorOf(s.service.approve(added.id, ERIN))).toContain('You may not approve runs of drill');

    const [run] = await until(async () => {
      const found = await runsOfSchedule(added.id);
      return found.length > 0 && found;
    }, 'a run of the approved schedule');
    await s.service.pause(added.id, BOB);
    const done = await engine.waitForState(run?.id ?? '', ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');
    expect(done.priority).toBe('background');
    expect(done.requester.id).toBe(BOB.id);
    expect(done.approvals.map((a) => a.by.id)).toEqual([CAROL.id, DAVE.id]);
    expect(done.plan[0]?.place?.target).toBe('drill');
    const audit = await engine.store.audit(done.id);
    const approvals = audit.filter((e) => e.action === 'approved');
    expect(approvals.map((e) => e.actor.id)).toEqual([CAROL.id, DAVE.id, 'system']);
    expect(approvals[0]?.detail).toMatch(new RegExp(`^schedule ${added.id}, approved \\d{4}-\\d\\d-\\d\\dT`));
    expect(approvals[2]?.detail).toContain(`schedule ${added.id}, approved by carol (`);
    expect(approvals[2]?.detail).toContain('no approval asked for this run');
    // Resumed with nothing changed, it keeps its approval and fires again.
    const before = (await runsOfSchedule(added.id)).length;
    await s.service.resume(added.id, CAROL);
    await until(async () => (await runsOfSchedule(added.id)).length > before, 'a fire after resuming');
    await s.service.delete(added.id, BOB);
  });

  it('never acts on production: a place that is not a drill target is refused when it is added, and nothing is stored', async () => {
    const before = await s.store.count();
    const add = (runbookId: string, params: Record<string, string>, service = s.service) => userErrorOf(service.add({ runbookId, cadence: 'every 1h', params, requester: BOB, source: 'cli' }));
    expect(await add('drill', { target: 'prod' })).toBe(
      'Step `act` acts on target `prod` (Production (prod) · us-east-1 · account 111111111111), which is not a drill target. A schedule of a changing runbook acts only on drill targets (`drill: true` in the target\'s configuration, docs/targets.md), never on production\'s own resources: give the runbook a drill target (a `target=` parameter, if it has one). Nothing was scheduled.',
    );
    // No target named: the default one, production.
    expect(await add('restart', {})).toContain('Step `act` acts on target `prod` (Production (prod) · us-east-1 · account 111111111111), which is not a drill target.');
    // Marked as a drill target but production under another name.
    const twin = restarted({ targets: targetsWith(DRILL, { sandbox: { ...PROD, label: 'Sandbox', drill: true } }) });
    expect(await add('drill', { target: 'sandbox' }, twin)).toContain('Target `sandbox` (step `act`) is marked as a drill target but resolves exactly where `prod`, which is not one, does.');
    // The configuration cannot approve one: refused at start.
    const configured = checkConfigSchedules([{ id: 'weekly-drill', runbookId: 'drill', cadence: { cron: '0 6 * * 1' }, params: { target: 'drill' } }], engine.service.runbooks, ['prod', 'drill']);
    expect(configured.valid).toEqual([]);
    expect(configured.problems[0]).toContain('schedules: weekly-drill: `drill` changes production (each run needs 1 approval), so a schedule of it must be approved by two people, which the configuration cannot do: add it from Slack');
    expect(await s.store.count()).toBe(before);
  });

  it('a changed runbook file suspends it at its next fire: no run, approvals cleared, its channel told once; approved again, it runs the new runbook', async () => {
    const id = await approved(s.service);
    // The file edited; the bot loads runbooks at start, so the change reaches it with a restart.
    const dir = join(work, 'edited');
    cpSync(SCHEDULE_COMMANDS, dir, { recursive: true });
    writeFileSync(join(dir, 'drill.yaml'), readFileSync(join(dir, 'drill.yaml'), 'utf8').replace('with: { seconds: 0 }', 'with: { seconds: 1 }'));
    const after = restarted({ runbooksDir: dir });

    expect(await after.fire(id, `repeat:${id}:1`)).toBe('suspended');
    const suspended = await after.get(id);
    expect(suspended.approval).toMatchObject({ state: 'suspended', approvals: [] });
    expect(suspended.approval?.why).toBe('runbook `drill` changed since the schedule was approved (its file was edited and the bot loaded it at its restart)');
    expect(suspended.last?.problem).toContain('suspended, no run: runbook `drill` changed');
    expect(suspended.next).toBeUndefined();
    expect(told.filter((t) => t.scheduleId === id)).toEqual([
      { scheduleId: id, text: expect.stringContaining(`Schedule \`${id}\` (\`drill\`) is suspended and made no run: runbook \`drill\` changed since the schedule was approved`) as unknown },
    ]);
    // A later fire (one due before the suspension) makes nothing and tells nobody again.
    expect(await after.fire(id, `repeat:${id}:2`)).toBe('unapproved');
    expect(told.filter((t) => t.scheduleId === id)).toHaveLength(1);
    expect(await runsOfSchedule(id)).toEqual([]);

    await after.approve(id, CAROL);
    expect((await after.approve(id, DAVE)).schedule.approval?.state).toBe('approved');
    expect(await after.fire(id, `repeat:${id}:3`)).toBe('created');
    const [run] = await runsOfSchedule(id);
    expect(run?.plan[0]?.with).toEqual({ seconds: 1 });
    // The bot back on the old file: changed again, suspended again.
    expect(await s.service.fire(id, `repeat:${id}:4`)).toBe('suspended');
    await s.service.delete(id, BOB);
  });

  it('a place that resolves elsewhere suspends it, and a target that is no longer a drill target cannot be approved again', async () => {
    const id = await approved(s.service);
    const moved = restarted({ targets: targetsWith({ ...DRILL, region: 'eu-west-1' }) });
    expect(await moved.fire(id, `repeat:${id}:1`)).toBe('suspended');
    const suspended = await moved.get(id);
    expect(suspended.approval?.why).toBe('target `drill` (step `act`) now resolves to region eu-west-1, but the schedule was approved for region us-west-2');
    // It now covers the new place: approved again there, it runs there.
    expect(suspended.approval?.covers.places[0]?.resolved.region).toBe('eu-west-1');
    await moved.approve(id, CAROL);
    await moved.approve(id, DAVE);
    expect(await moved.fire(id, `repeat:${id}:2`)).toBe('created');

    const demoted = restarted({ targets: targetsWith({ ...DRILL, region: 'eu-west-1', drill: false }) });
    expect(await demoted.fire(id, `repeat:${id}:3`)).toBe('suspended');
    expect((await demoted.get(id)).approval?.why).toContain('Step `act` acts on target `drill` (Drill (drill) · eu-west-1 · account 222222222222), which is not a drill target.');
    expect(await userErrorOf(demoted.approve(id, CAROL))).toContain(`Schedule \`${id}\` cannot be approved: Step \`act\` acts on target \`drill\``);
    expect((await demoted.get(id)).approval?.approvals).toEqual([]);
    expect(await runsOfSchedule(id)).toHaveLength(1);
    await s.service.delete(id, BOB);
  });

  it('a read-only runbook that becomes a changing one suspends its schedule until approved', async () => {
    const added = await s.service.add({ runbookId: 'probe', cadence: 'every 1h', params: {}, requester: ALICE, source: 'cli' });
    const dir = join(work, 'probe-changes');
    cpSync(SCHEDULE_COMMANDS, dir, { recursive: true });
    writeFileSync(join(dir, 'probe.yaml'), readFileSync(join(dir, 'probe.yaml'), 'utf8').replace('required: 0', 'required: 1'));
    expect(await restarted({ runbooksDir: dir }).fire(added.id, `repeat:${added.id}:1`)).toBe('suspended');
    const suspended = await s.service.get(added.id);
    expect(suspended.approval?.state).toBe('suspended');
    expect(suspended.approval?.why).toContain('runbook `probe` now changes production (its runs need approval), so the schedule needs 2 approvals first. Step `look` acts on target `prod`');
    await s.service.delete(added.id, ALICE);
  });

  it('skips a fire while a readiness item it depends on is red, recording why; runs again once it is green', async () => {
    expect(await userErrorOf(s.service.add({ runbookId: 'probe', cadence: 'every 1h', params: {}, requester: ALICE, source: 'cli', skipWhenRed: ['Not An Id'] }))).toContain(
      'skip-when-red must be readiness item ids like aurora.retention.prod-aurora',
    );
    const probe = await s.service.add({ runbookId: 'probe', cadence: 'every 1h', params: {}, requester: ALICE, source: 'cli', skipWhenRed: [RED_ITEM] });
    const drill = await approved(s.service, { skipWhenRed: [RED_ITEM] });
    // The configuration's schedules name them as `skipWhenRed`.
    await s.service.syncConfig([{ id: 'nightly-probe', runbookId: 'probe', cadence: { every: 3_600_000 }, params: {}, skipWhenRed: [RED_ITEM] }]);
    expect((await s.service.get('nightly-probe')).skipWhenRed).toEqual([RED_ITEM]);
    await readiness.record('rcheckred1', readinessReport('fail', Date.now()));

    expect(await s.service.fire('nightly-probe', 'repeat:nightly-probe:1')).toBe('skipped');
    expect(await s.service.fire(probe.id, `repeat:${probe.id}:1`)).toBe('skipped');
    expect(await s.service.fire(drill, `repeat:${drill}:1`)).toBe('skipped');
    const skipped = await s.service.get(drill);
    expect(skipped.last).toMatchObject({ skipped: true });
    expect(skipped.last?.runId).toBeUndefined();
    expect(skipped.last?.problem).toContain(`skipped: readiness item it depends on is red: \`${RED_ITEM}\` on prod (checked `);
    expect(skipped.last?.problem).toContain('retention is 1 day, the plan asks 35');
    // Skipping is not a change: it stays approved.
    expect(skipped.approval?.state).toBe('approved');
    expect(await runsOfSchedule(drill)).toEqual([]);

    await readiness.record('rcheckgreen', readinessReport('pass', Date.now() + 1));
    expect(await s.service.fire(probe.id, `repeat:${probe.id}:2`)).toBe('created');
    expect(await s.service.fire(drill, `repeat:${drill}:2`)).toBe('created');
    expect((await s.service.get(drill)).last?.skipped).toBeUndefined();
    await s.service.syncConfig([]);
    await s.service.delete(probe.id, ALICE);
    await s.service.delete(drill, BOB);
  });
});
