/**
 * Schedules over a test engine: the service as the bot has it (with a
 * shorter `every` allowed, so a test sees fires in seconds), and fire workers
 * as worker processes have them, each on its own connection.
 */
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import type { Run } from '../../src/runs/model.ts';
import { ScheduleQueue, startScheduleWorker } from '../../src/schedules/queue.ts';
import { ScheduleService, type ScheduleServiceDeps } from '../../src/schedules/service.ts';
import { ScheduleStore } from '../../src/schedules/store.ts';
import type { TestEngine } from './engine.ts';
import { TEST_REDIS_URL } from './redis.ts';

/** `probe` (read-only, marked urgent, a `label` parameter) and `restart` (changes production). */
export const SCHEDULE_COMMANDS = fileURLToPath(new URL('../fixtures/schedules/', import.meta.url));

/** The shortest `every` the tests use; people's is a minute. */
export const TEST_MIN_EVERY_MS = 500;

export interface TestSchedules {
  service: ScheduleService;
  store: ScheduleStore;
  queue: ScheduleQueue;
  /** A fire worker as a worker process runs one; stopped by stop(). */
  startWorker(): WorkerHandle;
  stop(): Promise<void>;
}

export function testSchedules(engine: TestEngine, deps: Partial<ScheduleServiceDeps> = {}): TestSchedules {
  const store = new ScheduleStore(engine.redis, engine.prefix);
  const queue = new ScheduleQueue(engine.redis, engine.prefix, engine.logger);
  const service = new ScheduleService({ store, queue, runs: engine.service, approvers: { users: [], groups: [] }, logger: engine.logger, minEveryMs: TEST_MIN_EVERY_MS, ...deps });
  const workers: { handle: WorkerHandle; connection: Redis }[] = [];
  return {
    service,
    store,
    queue,
    startWorker() {
      const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
      const handle = startScheduleWorker({ connection, prefix: engine.prefix, lockDurationMs: 2_000, fire: (id, fireId) => service.fire(id, fireId), logger: engine.logger });
      workers.push({ handle, connection });
      return handle;
    },
    async stop() {
      for (const w of workers) {
        await w.handle.close(1_000);
        w.connection.disconnect();
      }
      await queue.close();
    },
  };
}

/** Every fire claimed under `prefix`: its BullMQ job id → the run it created. */
export async function fireClaims(prefix: string): Promise<Map<string, string>> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}:schedule-fire:*`);
    const values = keys.length ? await redis.mget(...keys) : [];
    return new Map(keys.map((k, i) => [k.slice(`${prefix}:schedule-fire:`.length), values[i] ?? '']));
  } finally {
    redis.disconnect();
  }
}

/** The runs of one runbook, oldest first. */
export async function runsOf(engine: Pick<TestEngine, 'store'>, runbookId: string): Promise<Run[]> {
  return (await engine.store.list(10_000)).filter((r) => r.runbookId === runbookId).reverse();
}

/** Resolves once `check` returns something other than undefined or false. */
export async function until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
