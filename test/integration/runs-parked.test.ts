import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseParkMarker } from '../../src/engine/park.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';

const PARKED_COMMANDS = fileURLToPath(new URL('../fixtures/parked/', import.meta.url));

/**
 * A run waiting between looks holds no worker: its job sleeps in BullMQ's
 * delayed set and any free worker takes the next look
 * (test/fixtures/parked/parked-provision.yaml, one worker of concurrency 1).
 */
describe('parked waits: a waiting run holds no worker', () => {
  let engine: TestEngine;
  let api: FakeService;

  beforeEach(async () => {
    api = await new FakeService().start();
    engine = await startTestEngine({ workers: 0, commandsDir: PARKED_COMMANDS });
    // WORKER_CONCURRENCY=1: one run at a time holds this worker.
    engine.startWorker(1);
  });
  afterEach(async () => {
    await engine.stop();
    await api.stop();
  });

  const start = (params: Record<string, number> = {}) => engine.service.create({ runbookId: 'parked-provision', params: { baseUrl: api.url, ...params }, requester: ALICE });

  /** Resolves once the run is parked in `stepId`: its marker stored and its job delayed. */
  const parkedIn = async (runId: string, stepId: string) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const marker = parseParkMarker(await engine.store.field(runId, 'parked'));
      const job = await engine.queue.queue.getJob(`exec-${runId}`);
      if (marker?.stepId === stepId && job && (await job.isDelayed())) return marker;
      if (Date.now() > deadline) throw new Error(`run ${runId} did not park in ${stepId}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const notified = (runId: string, stepId: string) => api.notifications.filter((n) => n.key === `${runId}-${stepId}`);

  it('two runs waiting long do not hold the only worker: a short run finishes while both still wait', async () => {
    const long1 = await start({ seconds: 600 });
    const long2 = await start({ seconds: 600 });
    for (const long of [long1, long2]) {
      const deadline = Date.now() + 15_000;
      while ((await engine.store.get(long.id))?.steps.pause?.state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    }

    const short = await start();
    const done = await engine.waitForState(short.id, ['succeeded', 'failed', 'cancelled']);
    expect(done.state).toBe('succeeded');
    expect(notified(short.id, 'notify')).toHaveLength(1);

    for (const long of [long1, long2]) {
      const now = await engine.store.get(long.id);
      expect(now?.state).toBe('running');
      expect(now?.steps.pause?.state).toBe('running');
      expect(now?.steps['wait-ready']?.state).toBe('pending');
    }
    for (const long of [long1, long2]) await engine.service.cancel(long.id, ALICE);
    for (const long of [long1, long2]) expect((await engine.waitForState(long.id, ['cancelled', 'succeeded', 'failed'])).state).toBe('cancelled');
  });

  it('a cancel during a parked wait stops the run at once, not at its next look, and its cleanup runs', async () => {
    const run = await start({ seconds: 3_000 });
    await parkedIn(run.id, 'pause');

    await engine.service.cancel(run.id, ALICE, 'wrong region');
    // The next look is 50 minutes away: only a woken job ends the run before this waits out.
    const done = await engine.waitForState(run.id, ['cancelled', 'succeeded', 'failed']);
    expect(done.state).toBe('cancelled');
    expect(done.steps.create?.state).toBe('succeeded');
    expect(done.steps.pause?.state).toBe('cancelled');
    expect(done.steps['wait-ready']?.state).toBe('pending');
    expect(done.steps.notify?.state).toBe('pending');
    expect(done.steps.report?.state).toBe('succeeded');
    expect(notified(run.id, 'report')).toHaveLength(1);
    expect(api.creates.get(`res-${run.id}`)).toBe(1);
    expect((await engine.store.audit(run.id)).at(-1)).toMatchObject({ action: 'cancelled', detail: expect.stringContaining('interrupted pause') as unknown });
  });

  it('a wait parked between looks goes on where it was: one attempt, no takeover, each change made once', async () => {
    api.readyAfterMs = 7_000;
    const run = await start({ intervalSeconds: 2.5 });
    await parkedIn(run.id, 'wait-ready');

    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect(done.state).toBe('succeeded');
    // Several looks, one attempt: taking a parked run up again is neither a retry nor a takeover.
    expect(done.steps['wait-ready']).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(Number(done.steps['wait-ready']?.outputs?.attempts)).toBeGreaterThan(1);
    const actions = (await engine.store.audit(run.id)).map((a) => a.action);
    expect(actions).not.toContain('resumed');
    expect(actions).not.toContain('step re-entered');
    expect(api.creates.get(`res-${run.id}`)).toBe(1);
    expect(api.requests.filter((r) => r.method === 'POST' && r.path === '/resources')).toHaveLength(1);
    expect(notified(run.id, 'notify')).toHaveLength(1);
  });
});
