import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseParkMarker } from '../../src/engine/park.ts';
import type { Actor, Run } from '../../src/runs/model.ts';
import { ALICE, BOB, startTestEngine, type TestEngine, userErrorOf } from '../support/engine.ts';

const GATES = fileURLToPath(new URL('../fixtures/gates/', import.meta.url));
const CAROL: Actor = { id: 'U0CAROL001', name: 'carol', via: 'slack' };
const DAVE: Actor = { id: 'U0DAVE0001', name: 'dave', via: 'slack' };

/**
 * approval.gate on real Redis and BullMQ (test/fixtures/gates/): the run
 * parks at the gate holding no worker, the runbook's approvers answer it
 * under Approve's rules, and the answer wakes the run at once.
 */
describe('run-time gates', () => {
  let engine: TestEngine;

  beforeEach(async () => {
    engine = await startTestEngine({ workers: 0, commandsDir: GATES });
    // One worker with one slot: a run parked at a gate must not hold it.
    engine.startWorker(1);
  });
  afterEach(async () => {
    await engine.stop();
  });

  const until = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  /** Resolves with the run once it is parked at its gate (marker stored, job delayed, gate open). */
  const atGate = async (runId: string): Promise<Run & { gate: NonNullable<Run['gate']> }> => {
    await until(`run ${runId} parks at its gate`, async () => {
      const job = await engine.queue.queue.getJob(`exec-${runId}`);
      return parseParkMarker(await engine.store.field(runId, 'parked'))?.stepId === 'accept-loss' && job !== undefined && (await job.isDelayed());
    });
    const run = await engine.store.get(runId);
    if (!run?.gate) throw new Error('no gate');
    return run as Run & { gate: NonNullable<Run['gate']> };
  };
  const startGated = async (params: Record<string, number> = {}, requester: Actor = ALICE, approver: Actor = BOB) => {
    const run = await engine.service.create({ runbookId: 'gated-failover', params, requester });
    await engine.service.approve(run.id, approver);
    return atGate(run.id);
  };
  const ended = (runId: string) => engine.waitForState(runId, ['succeeded', 'failed', 'cancelled']);

  it('parks at the gate with its question and facts holding no worker (another run finishes meanwhile); an accept resumes it', async () => {
    const run = await startGated({ lag: 42 });
    expect(run.gate).toMatchObject({ state: 'open', question: 'Fail over without the primary? Up to 42 s of writes may be lost.', facts: ['last measured replication lag: 42 s', 'primary region: not answering'], required: 1 });
    expect(run.steps.measure?.state).toBe('succeeded');
    expect(run.steps.failover?.state).toBe('pending');

    // The only worker slot is free: another run finishes while this one waits.
    const other = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    expect((await ended(other.id)).state).toBe('succeeded');
    expect((await engine.store.get(run.id))?.steps['accept-loss']?.state).toBe('running');

    await engine.service.decideGate(run.id, run.gate.id, CAROL, 'accept');
    expect((await ended(run.id)).state).toBe('succeeded');
  });

  it('refuses a non-approver and the requester (two-person rule) without changing anything; an approver accepts and the run goes on at once', async () => {
    // Bob, an approver, requested this run: he may not answer its gate.
    const run = await startGated({}, BOB, CAROL);
    expect(await userErrorOf(engine.service.decideGate(run.id, run.gate.id, DAVE, 'accept'))).toMatch(/You may not answer the gates of runs of gated-failover: only .* may/);
    expect(await userErrorOf(engine.service.decideGate(run.id, run.gate.id, BOB, 'accept'))).toMatch(/two-person rule/);
    const still = await engine.store.get(run.id);
    expect(still?.gate).toMatchObject({ state: 'open', votes: [] });
    expect(still?.steps['accept-loss']?.state).toBe('running');

    const answer = await engine.service.decideGate(run.id, run.gate.id, CAROL, 'accept');
    expect(answer).toEqual({ outcome: 'accepted', accepts: 1, required: 1 });
    // The gate expires in 30 min: only the wake ends the run this soon.
    const done = await ended(run.id);
    expect(done.state).toBe('succeeded');
    expect(done.steps['accept-loss']?.outputs).toEqual({ decision: 'accepted', decidedBy: 'carol' });
    expect(done.steps.failover?.state).toBe('succeeded');
    const audit = await engine.store.audit(run.id);
    expect(audit.find((a) => a.action === 'gate opened')?.detail).toContain('last measured replication lag: 42 s');
    expect(audit.find((a) => a.action === 'gate accepted')).toMatchObject({ actor: { id: CAROL.id }, detail: expect.stringContaining('(1 of 1)') as unknown });
    expect(audit.filter((a) => a.action.startsWith('gate ') && a.actor.id !== 'system')).toHaveLength(1);
  });

  it('counts a double click once, and two accepts from different people when two are required', async () => {
    const run = await startGated({ required: 2 });
    const [first, second] = await Promise.allSettled([engine.service.decideGate(run.id, run.gate.id, BOB, 'accept'), engine.service.decideGate(run.id, run.gate.id, BOB, 'accept')]);
    const outcomes = [first, second].map((r) => (r.status === 'fulfilled' ? r.value.outcome : (r.reason as Error).message));
    expect(outcomes).toContain('recorded');
    expect(outcomes.find((o) => o !== 'recorded')).toMatch(/You already answered this gate; it needs 2 accepts from different people/);
    expect((await engine.store.get(run.id))?.steps['accept-loss']?.state).toBe('running');

    expect(await engine.service.decideGate(run.id, run.gate.id, CAROL, 'accept')).toEqual({ outcome: 'accepted', accepts: 2, required: 2 });
    const done = await ended(run.id);
    expect(done.state).toBe('succeeded');
    expect(done.steps['accept-loss']?.outputs?.decidedBy).toBe('bob, carol');
    expect((await engine.store.audit(run.id)).filter((a) => a.action === 'gate accepted')).toHaveLength(2);
  });

  it('a refusal fails the run at the gate with who refused and why; later steps do not run, the cleanup does', async () => {
    const run = await startGated();
    expect((await engine.service.decideGate(run.id, run.gate.id, CAROL, 'refuse', 'the primary is coming back')).outcome).toBe('refused');
    const done = await ended(run.id);
    expect(done.state).toBe('failed');
    expect(done.failure).toMatchObject({ stepId: 'accept-loss', message: expect.stringContaining('refused by carol: the primary is coming back') as unknown });
    expect(done.steps.failover?.state).toBe('pending');
    expect(done.steps.report?.state).toBe('succeeded');
    expect((await engine.store.audit(run.id)).find((a) => a.action === 'gate refused')).toMatchObject({ actor: { id: CAROL.id }, detail: expect.stringContaining('the primary is coming back') as unknown });
    // Decided: a late click changes nothing.
    expect(await userErrorOf(engine.service.decideGate(run.id, run.gate.id, BOB, 'accept'))).toMatch(/already refused|is failed/);
  });

  it('a cancel during the gate cancels the run at once, as for any parked wait, and the gate takes no answer after', async () => {
    const run = await startGated();
    await engine.service.cancel(run.id, ALICE, 'not needed');
    const done = await ended(run.id);
    expect(done.state).toBe('cancelled');
    expect(done.steps['accept-loss']?.state).toBe('cancelled');
    expect(done.steps.report?.state).toBe('succeeded');
    expect(await userErrorOf(engine.service.decideGate(run.id, run.gate.id, BOB, 'accept'))).toMatch(/is cancelled|no longer waits/);
  });

  it('fails when nobody answers in time, or goes on with onTimeout: proceed', async () => {
    const failing = await engine.service.create({ runbookId: 'gated-short', params: {}, requester: ALICE });
    const failed = await ended(failing.id);
    expect(failed.state).toBe('failed');
    expect(failed.failure?.message).toMatch(/nobody answered "Go on\?" in time/);
    expect(failed.steps.after?.state).toBe('pending');
    expect(failed.steps.report?.state).toBe('succeeded');
    expect(failed.gate?.state).toBe('expired');
    expect((await engine.store.audit(failing.id)).some((a) => a.action === 'gate expired')).toBe(true);

    const proceeding = await engine.service.create({ runbookId: 'gated-short', params: { onTimeout: 'proceed' }, requester: ALICE });
    const done = await ended(proceeding.id);
    expect(done.state).toBe('succeeded');
    expect(done.steps.ask?.outputs).toEqual({ decision: 'timed-out', decidedBy: '' });
  });
});
