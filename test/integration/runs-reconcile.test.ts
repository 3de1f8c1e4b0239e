import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

/**
 * The workers' reconciler: what no job will repair. An approved run whose
 * job ended before any worker started it (BullMQ fails a job whose workers
 * keep dying before the claim, "stalled more than allowable limit", with no
 * 'failed' event) must not wait for ever: nothing of it was done, so it is
 * queued afresh and runs, once.
 */
describe('the reconciler and an approved run whose job ended without starting it', () => {
  let engine: TestEngine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  it('queues it afresh: the run starts once and succeeds', async () => {
    engine = await startTestEngine({ workers: 0 });
    const run = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    expect(run.state).toBe('approved');

    // A worker that dies before the claim, as BullMQ ends it after too many stalls.
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const dying = new Worker(QUEUE_NAMES.runs, () => Promise.reject(new UnrecoverableError('job stalled more than allowable limit')), { connection, prefix: engine.prefix });
    const job = await engine.queue.queue.getJob(`exec-${run.id}`);
    for (let i = 0; i < 200 && !(await job?.isFailed()); i++) await new Promise((r) => setTimeout(r, 20));
    await dying.close();
    connection.disconnect();
    expect(await job?.isFailed()).toBe(true);
    expect((await engine.store.get(run.id))?.state).toBe('approved');

    // A live worker's reconciler (every 200 ms here, 30 s in production) finds it once it is more than 5 s old.
    engine.startWorker(8, { reconcileIntervalMs: 200 });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 20_000);
    expect(done.state).toBe('succeeded');
    expect((await engine.store.audit(run.id)).filter((a) => a.action === 'started')).toHaveLength(1);
  });
});
