import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../src/runs/model.ts';
import { READINESS_SCHEDULE_ID } from '../../src/schedules/model.ts';
import { ALICE, BOB, startTestEngine, type TestEngine, userErrorOf } from '../support/engine.ts';
import { fireClaims, runsOf, SCHEDULE_COMMANDS, type TestSchedules, testSchedules, until } from '../support/schedules.ts';

const CAROL = { id: 'U0CAROL001', name: 'carol', via: 'slack' as const };

/** Schedules on real Redis and BullMQ: fires, pause, resume, delete, refusals, the config's schedules. */
describe('schedules', () => {
  let engine: TestEngine;
  let s: TestSchedules;

  beforeAll(async () => {
    engine = await startTestEngine({ commandsDir: SCHEDULE_COMMANDS });
    // BOB approves (DR_APPROVERS); ALICE and CAROL do not.
    s = testSchedules(engine, { approvers: { users: [BOB.id], groups: [] } });
    // Two fire workers, as two worker processes have them.
    s.startWorker();
    s.startWorker();
  });
  afterAll(async () => {
    await s.stop();
    await engine.stop();
  });

  it('fires once per fire across two workers: one background run each, requested by the creator, the last and next shown', async () => {
    const added = await s.service.add({ runbookId: 'probe', cadence: 'every 700ms', params: { label: 'nightly' }, requester: ALICE, source: 'cli' });
    expect(added.id).toMatch(/^s-[a-z2-9]{6}$/);
    expect(added.paused).toBe(false);
    expect(added.next).toBeGreaterThan(added.createdAt);

    const runs = await until(async () => {
      const found = await runsOf(engine, 'probe');
      return found.length >= 4 && found;
    }, 'four scheduled runs');
    await s.service.pause(added.id, ALICE);
    // Every fire before the pause has its run (a fire under way at the pause finishes first), and one only.
    const { claims, all } = await until(async () => {
      const fired = [...(await fireClaims(engine.prefix)).entries()].filter(([fire]) => fire.includes(added.id));
      const made = await runsOf(engine, 'probe');
      return made.length === fired.length && { claims: fired, all: made };
    }, 'a run for every fire');
    expect(new Set(claims.map(([, runId]) => runId)).size).toBe(claims.length);
    expect(new Set(all.map((r) => r.id))).toEqual(new Set(claims.map(([, runId]) => runId)));
    for (const run of runs) {
      expect(run.priority).toBe('background');
      expect(run.requester.id).toBe(ALICE.id);
      expect(run.params).toEqual({ label: 'nightly' });
    }
    const done = await engine.waitForState(runs[0]?.id ?? '', ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');

    const [listed] = (await s.service.list()).filter((x) => x.id === added.id);
    expect(listed?.last?.runId).toBe(all.at(-1)?.id);
    expect(listed?.lastState).toBeDefined();
    expect(listed?.paused).toBe(true);
    expect(listed?.next).toBeUndefined();
  });

  it('makes no run while paused, fires again once resumed, and is gone once deleted', async () => {
    const added = await s.service.add({ runbookId: 'probe', cadence: 'every 600ms', params: {}, requester: ALICE, source: 'slack' });
    await until(async () => (await s.service.get(added.id)).last?.runId, 'a first fire');
    const paused = await s.service.pause(added.id, BOB);
    expect(paused.changed).toBe(true);
    expect((await s.queue.nextFires()).has(added.id)).toBe(false);
    const before = (await fireClaims(engine.prefix)).size;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await fireClaims(engine.prefix)).size).toBe(before);
    expect((await s.service.pause(added.id, ALICE)).changed).toBe(false);

    const resumed = await s.service.resume(added.id, ALICE);
    expect(resumed.changed).toBe(true);
    expect(resumed.schedule.next).toBeDefined();
    await until(async () => (await fireClaims(engine.prefix)).size > before, 'a fire after resuming');

    await s.service.delete(added.id, ALICE);
    expect(await s.store.get(added.id)).toBeUndefined();
    expect((await s.queue.nextFires()).has(added.id)).toBe(false);
    expect(await userErrorOf(s.service.get(added.id))).toContain(`There is no schedule \`${added.id}\``);
  });

  it('a fire tried again (a crash, a redelivery) finds its run instead of making a second one', async () => {
    const added = await s.service.add({ runbookId: 'probe', cadence: 'every 1h', params: {}, requester: ALICE, source: 'cli' });
    const count = async () => (await runsOf(engine, 'probe')).length;
    const before = await count();
    expect(await s.service.fire(added.id, `repeat:${added.id}:1`)).toBe('created');
    expect(await s.service.fire(added.id, `repeat:${added.id}:1`)).toBe('found');
    expect(await count()).toBe(before + 1);
    // An attempt that claimed its run id and died before creating the run: the next one creates exactly that run.
    const runId = await s.store.claimFire(`repeat:${added.id}:2`, 'rcrashed1');
    expect(await s.service.fire(added.id, `repeat:${added.id}:2`)).toBe('created');
    expect((await engine.store.get(runId))?.runbookId).toBe('probe');
    expect(await count()).toBe(before + 2);
    await s.service.delete(added.id, ALICE);
  });

  it('refuses what cannot be scheduled, saying why and how to write it, and stores nothing', async () => {
    const before = (await s.store.list()).length;
    const add = (runbookId: string, cadence: string, params: Record<string, string> = {}) =>
      userErrorOf(s.service.add({ runbookId, cadence, params, requester: ALICE, source: 'slack' }));
    // A changing runbook's schedule acts on drill targets only (schedules-changing.test.ts); the default target is not one.
    expect(await add('restart', 'every 30m')).toContain('Step `act` acts on target `default`');
    expect(await add('restart', 'every 30m')).toContain('which is not a drill target. A schedule of a changing runbook acts only on drill targets');
    expect(await add('prboe', 'every 30m')).toContain('There is no runbook `prboe`. Did you mean `probe`?');
    expect(await add('probe', 'every 30m', { label: 'Not Valid' })).toContain('Parameters for probe are not valid');
    expect(await add('probe', 'every 30m', { colour: 'red' })).toContain('`colour` is not a parameter of probe');
    expect(await add('probe', '61 * * * *')).toContain('`61 * * * *` is not a valid cron expression');
    expect(await add('probe', '0 6 * *')).toContain('write `every <duration>` (`every 30m`) or a cron expression of five fields in UTC');
    expect(await add('probe', 'every soon')).toContain('`every soon` is not an interval');
    // The people's shortest: a minute, whatever the tests allow themselves.
    const strict = testSchedules(engine, { minEveryMs: undefined });
    expect(await userErrorOf(strict.service.add({ runbookId: 'probe', cadence: 'every 10s', params: {}, requester: ALICE, source: 'slack' }))).toContain(
      '`every 10s` is more often than a schedule may run (at most every 1m): write `every 1m` or longer.',
    );
    await strict.queue.close();
    expect((await s.store.list()).length).toBe(before);
  });

  it('lets only the creator or an approver pause, resume or delete', async () => {
    const added = await s.service.add({ runbookId: 'probe', cadence: '0 6 * * 1', params: {}, requester: ALICE, source: 'slack' });
    expect(added.next).toBeDefined();
    expect(new Date(added.next ?? 0).getUTCHours()).toBe(6);
    expect(await userErrorOf(s.service.pause(added.id, CAROL))).toBe(
      `You may not pause schedule \`${added.id}\`: only <@${ALICE.id}>, who made it, or the approvers of its runbook may; approvers: <@${BOB.id}> (runbook probe). Nothing changed.`,
    );
    expect(await userErrorOf(s.service.delete(added.id, CAROL))).toContain('You may not delete schedule');
    expect((await s.store.get(added.id))?.paused).toBe(false);
    expect((await s.service.pause(added.id, BOB)).changed).toBe(true);
    await s.service.delete(added.id, BOB);
  });

  it('keeps the configuration\'s schedules: written once however often, paused ones stay paused, gone ones removed, never deleted by hand', async () => {
    const readiness = { id: READINESS_SCHEDULE_ID, runbookId: 'probe', cadence: { every: 30 * 60_000 }, params: {} };
    const weekly = { id: 'weekly-probe', runbookId: 'probe', cadence: { cron: '0 6 * * 1' }, params: { label: 'weekly' }, channel: 'C0OPS00001' };
    await s.service.syncConfig([readiness, weekly]);
    const first = await s.queue.nextFires();
    await s.service.syncConfig([readiness, weekly]);
    // A second process starting with the same configuration changes nothing, not even the next fire.
    expect(await s.queue.nextFires()).toEqual(first);
    const listed = await s.service.get('weekly-probe');
    expect(listed).toMatchObject({ source: 'config', createdBy: SYSTEM_ACTOR, channel: { id: 'C0OPS00001' }, params: { label: 'weekly' } });

    expect(await userErrorOf(s.service.pause('weekly-probe', ALICE))).toContain('only the approvers of its runbook may');
    await s.service.pause('weekly-probe', BOB);
    expect(await userErrorOf(s.service.delete('weekly-probe', BOB))).toContain('comes from the configuration: remove it in the config file\'s schedules:, or pause it here');
    await s.service.syncConfig([readiness, weekly]);
    expect((await s.service.get('weekly-probe')).paused).toBe(true);

    const { removed } = await s.service.syncConfig([readiness]);
    expect(removed).toEqual(['weekly-probe']);
    expect(await s.store.get('weekly-probe')).toBeUndefined();
    expect((await s.queue.nextFires()).has(READINESS_SCHEDULE_ID)).toBe(true);
    await s.service.syncConfig([]);
    expect((await s.queue.nextFires()).has(READINESS_SCHEDULE_ID)).toBe(false);
  });
});
