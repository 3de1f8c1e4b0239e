import { type Job, Queue, type RepeatOptions, UnrecoverableError, Worker } from 'bullmq';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { withTimeout } from '../queue/connection.ts';
import { stalledIntervalMs } from '../queue/run-worker.ts';
import { closeWorker, type WorkerHandle } from '../queue/worker.ts';
import type { Cadence } from './model.ts';

/**
 * The BullMQ side of schedules: one job scheduler per active schedule (its id
 * is the schedule's), on a queue of their own. BullMQ keeps one next job per
 * scheduler in Redis, so each fire is one job however many workers run, and
 * the schedule outlives every process.
 */
export const SCHEDULE_QUEUE = 'schedules';
export const FIRE_JOB = 'fire';

export const FireJobSchema = z.object({ scheduleId: z.string().min(1) });

const CALL_TIMEOUT_MS = 2_000;

/** A fire that failed for a passing reason (Redis, planning) is tried again; each attempt finds the same run (ScheduleStore.claimFire). */
const FIRE_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { count: 1_000 },
  removeOnFail: { age: 30 * 24 * 3_600 },
};

export class ScheduleQueue {
  readonly queue: Queue;

  constructor(connection: RedisConnection, prefix: string, logger: Logger) {
    this.queue = new Queue(SCHEDULE_QUEUE, { connection, prefix });
    this.queue.on('error', (err) => {
      logger.debug({ err: err.message }, 'schedule queue connection error');
    });
  }

  /**
   * Starts (or keeps) firing the schedule. The same call again changes
   * nothing: BullMQ keeps the next fire it already planned, so every process
   * may upsert the config's schedules at start. An `every` schedule new to
   * BullMQ fires first one interval from now.
   */
  async upsert(id: string, cadence: Cadence, now = Date.now()): Promise<void> {
    const repeat: Omit<RepeatOptions, 'key'> = 'every' in cadence ? { every: cadence.every, startDate: now + cadence.every } : { pattern: cadence.cron, tz: 'UTC' };
    await withTimeout(
      this.queue.upsertJobScheduler(id, repeat, { name: FIRE_JOB, data: { scheduleId: id }, opts: FIRE_JOB_OPTIONS }),
      CALL_TIMEOUT_MS,
      'Scheduling in the job queue failed',
    );
  }

  /** Stops firing: the scheduler and its next job are removed. */
  async remove(id: string): Promise<void> {
    await withTimeout(this.queue.removeJobScheduler(id), CALL_TIMEOUT_MS, 'Unscheduling in the job queue failed');
  }

  /** When each active schedule fires next (epoch ms), by schedule id. */
  async nextFires(): Promise<Map<string, number>> {
    const schedulers = await withTimeout(this.queue.getJobSchedulers(0, -1, true), CALL_TIMEOUT_MS, 'Reading the job queue failed');
    return new Map(schedulers.flatMap((s) => (s.next !== undefined ? [[s.key, s.next] as const] : [])));
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface ScheduleWorkerOptions {
  connection: RedisConnection;
  prefix: string;
  /** How long a worker's claim on a fire lasts without renewal: a dead worker's fire is taken over within about 1.5 times this. */
  lockDurationMs: number;
  /** What a fire does (ScheduleService.fire). */
  fire: (scheduleId: string, fireId: string) => Promise<unknown>;
  logger: Logger;
}

/** Takes fires off the schedules queue; one worker per worker process, two fires at a time. */
export function startScheduleWorker(o: ScheduleWorkerOptions): WorkerHandle {
  const log = o.logger.child({ component: 'schedules' });
  const processor = async (job: Job): Promise<unknown> => {
    const parsed = FireJobSchema.safeParse(job.data);
    if (job.name !== FIRE_JOB || !parsed.success || !job.id) throw new UnrecoverableError(`not a schedule fire: ${job.name}`);
    return o.fire(parsed.data.scheduleId, job.id);
  };
  const worker = new Worker(SCHEDULE_QUEUE, processor, {
    connection: o.connection,
    prefix: o.prefix,
    concurrency: 2,
    lockDuration: o.lockDurationMs,
    stalledInterval: stalledIntervalMs(o.lockDurationMs),
    // A fire taken over after its worker died is re-entered safely (it finds its claimed run).
    maxStalledCount: 5,
  });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'schedule fire failed; retried while attempts remain');
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'schedule worker error');
  });
  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}
