import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRunWorker } from '../../src/queue/run-worker.ts';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import type { Run } from '../../src/runs/model.ts';
import { DEFAULT_LIMITS } from '../../src/steps/limits.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { ALICE, startTestEngine, TEST_OUTBOUND, type TestEngine } from '../support/engine.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const PRIORITY_COMMANDS = fileURLToPath(new URL('../fixtures/priority/', import.meta.url));

/**
 * Real BullMQ workers on real Redis, with as few slots as a small deployment
 * has. Each fixture runbook's one step is an HTTP call that a loopback server
 * holds unanswered until the test ends, so which runs hold a slot is plain to
 * see; cancelling a run aborts its call and frees its slot.
 */
describe('run priorities: urgent first, background never holds every slot', () => {
  let engine: TestEngine;
  let server: Server;
  let baseUrl: string;
  const held: ServerResponse[] = [];
  const workers: { handle: WorkerHandle; connection: Redis }[] = [];

  const startWorker = (concurrency: number) => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const handle = startRunWorker({
      connection,
      prefix: engine.prefix,
      concurrency,
      lockDurationMs: 5_000,
      logger: engine.logger,
      store: engine.store,
      service: engine.service,
      queue: engine.queue,
      registry: buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: TEST_OUTBOUND }),
      engine: { retryBaseMs: 50, pollMs: 50, progressIntervalMs: 100 },
    });
    workers.push({ handle, connection });
  };
  const request = (runbookId: string): Promise<Run> => engine.service.create({ runbookId, params: { baseUrl }, requester: ALICE });
  /** Running and inside its long step: it holds a worker slot. */
  const holding = async (run: Run): Promise<Run> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const current = await engine.store.get(run.id);
      if (current?.state === 'running' && current.steps.hold?.state === 'running') return current;
      if (Date.now() > deadline) throw new Error(`run ${run.id} (${run.runbookId}) is ${current?.state ?? 'missing'}, not holding a slot`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const state = async (run: Run) => (await engine.store.get(run.id))?.state;
  const cancel = (run: Run) => engine.service.cancel(run.id, ALICE);

  beforeEach(async () => {
    server = createServer((req, res) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    engine = await startTestEngine({ workers: 0, commandsDir: PRIORITY_COMMANDS });
  });
  afterEach(async () => {
    for (const run of await engine.store.list(50)) {
      if (run.state === 'running' || run.state === 'approved') await cancel(run);
    }
    for (const w of workers.splice(0)) {
      await w.handle.close(2_000);
      w.connection.disconnect();
    }
    await engine.stop();
    for (const res of held.splice(0)) res.end('{}');
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a run keeps its runbook\'s priority, and its job carries it', async () => {
    const urgent = await request('urgent-hold');
    const background = await request('background-hold');
    expect(urgent.priority).toBe('urgent');
    expect(background.priority).toBe('background');
    const jobs = await Promise.all([urgent, background].map((r) => engine.queue.queue.getJob(`exec-${r.id}`)));
    expect(jobs.map((j) => j?.priority)).toEqual([1, 3]);
  });

  it('with two slots, two long background runs leave one for a normal request made after them', async () => {
    startWorker(2);
    const first = await request('background-hold');
    await holding(first);
    const second = await request('background-hold');
    const normal = await request('normal-hold');

    await holding(normal);
    expect(await state(first)).toBe('running');
    // The second background run waits for a background slot, not for the request.
    expect(await state(second)).toBe('approved');

    await cancel(first);
    await holding(second);
    expect(await state(normal)).toBe('running');
  });

  it('urgent work queued behind normal work starts first when a slot frees', async () => {
    startWorker(1);
    const busy = await request('normal-hold');
    await holding(busy);
    const normal = await request('normal-hold');
    const urgent = await request('urgent-hold');

    await cancel(busy);
    await holding(urgent);
    expect(await state(normal)).toBe('approved');

    await cancel(urgent);
    await holding(normal);
  });

  it('a run taken over after its worker died does not jump ahead of a more urgent run', async () => {
    startWorker(1);
    const busy = await request('normal-hold');
    await holding(busy);
    // A second worker process, which then dies holding a background run: its lock is no longer renewed.
    startWorker(1);
    const orphan = await request('background-hold');
    await holding(orphan);
    const dying = workers[1];
    await dying?.handle.worker.close(true);
    // BullMQ's stalled check puts the orphan back in its unprioritised wait list, ahead of every priority.
    const deadline = Date.now() + 20_000;
    while (!(await engine.queue.queue.getWaiting()).some((j) => j.id === `exec-${orphan.id}`)) {
      if (Date.now() > deadline) throw new Error('the orphaned run never went back to waiting');
      await new Promise((r) => setTimeout(r, 50));
    }
    const urgent = await request('urgent-hold');

    await cancel(busy);
    await holding(urgent);
    const job = await engine.queue.queue.getJob(`exec-${orphan.id}`);
    expect(await job?.getState()).toBe('prioritized');
  });

  it('a person\'s request goes before scheduled (background) work that was queued first', async () => {
    startWorker(1);
    const busy = await request('normal-hold');
    await holding(busy);
    const scheduled = await request('background-hold');
    const requested = await request('normal-hold');

    await cancel(busy);
    await holding(requested);
    expect(await state(scheduled)).toBe('approved');
  });
});
