import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { closeWorker, type WorkerHandle } from '../queue/worker.ts';
import type { ShiftKeeper } from './keeper.ts';

/**
 * The zonal shift keeper's looks (keeper.ts) as jobs: one job scheduler
 * (one next look in Redis whatever the number of workers, outliving every
 * process), and a look asked at once when an incident is resolved.
 */
export const ZONAL_SHIFT_QUEUE = 'zonal-shifts';
const LOOK_JOB = 'look';

export class ShiftKeeperQueue {
  readonly queue: Queue;

  constructor(connection: RedisConnection, prefix: string, logger: Logger) {
    this.queue = new Queue(ZONAL_SHIFT_QUEUE, { connection, prefix });
    this.queue.on('error', (err) => {
      logger.debug({ err: err.message }, 'zonal shift queue connection error');
    });
  }

  /** Looks every `everyMs` (the same call again changes nothing but the interval). */
  async schedule(everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(LOOK_JOB, { every: everyMs }, { name: LOOK_JOB, data: {}, opts: { removeOnComplete: true, removeOnFail: true } });
  }

  /** A look now (an incident resolved: its runs' shifts are cancelled without waiting for the next scheduled look). */
  async lookNow(reason: string): Promise<void> {
    await this.queue.add(LOOK_JOB, {}, { jobId: `look-${reason.replace(/[^\w-]/g, '_')}`, removeOnComplete: true, removeOnFail: true });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** Takes the looks; one at a time per process (the keeper's lease keeps them one at a time across processes). */
export function startShiftKeeperWorker(o: { connection: RedisConnection; prefix: string; keeper: ShiftKeeper; logger: Logger }): WorkerHandle {
  const log = o.logger.child({ component: 'zonal-shifts' });
  const processor = async (job: Job): Promise<unknown> => {
    if (job.name !== LOOK_JOB) throw new UnrecoverableError(`not a zonal shift look: ${job.name}`);
    return o.keeper.look();
  };
  const worker = new Worker(ZONAL_SHIFT_QUEUE, processor, { connection: o.connection, prefix: o.prefix, concurrency: 1 });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, err: err.message }, 'zonal shift look failed; the next one tries again');
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'zonal shift worker error');
  });
  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}
