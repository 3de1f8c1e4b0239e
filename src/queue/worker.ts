import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisConnection } from './connection.ts';
import { ZodError } from 'zod';
import type { Logger } from '../log/logger.ts';
import { withTimeout } from './connection.ts';
import { QUEUE_NAMES } from './names.ts';

export interface WorkerOptions {
  connection: RedisConnection;
  prefix: string;
  concurrency: number;
  logger: Logger;
  /**
   * What each job name does. Given by the composition root: the jobs answer in
   * Slack (the ping), and the queue layer does not reach into Slack itself.
   */
  handlers: Readonly<Record<string, BotTaskHandler>>;
}

export type BotTaskHandler = (job: Job, log: Logger) => Promise<unknown>;

export interface WorkerHandle {
  /**
   * Stops taking jobs and waits up to `timeoutMs` for running ones. Jobs still
   * running after that are abandoned to the queue: their lock expires and
   * another worker takes them over (each job is safe to re-enter).
   */
  close(timeoutMs: number): Promise<{ handedBack: boolean }>;
  readonly worker: Worker;
}

export function startBotTaskWorker({ connection, prefix, concurrency, logger, handlers }: WorkerOptions): WorkerHandle {
  const log = logger.child({ component: 'worker', queue: QUEUE_NAMES.botTasks });
  const processor = async (job: Job): Promise<unknown> => {
    try {
      const handle = Object.hasOwn(handlers, job.name) ? handlers[job.name] : undefined;
      if (!handle) throw new UnrecoverableError(`unknown job "${job.name}"`);
      return await handle(job, log);
    } catch (err) {
      // A job whose data does not parse will never succeed: do not retry it.
      if (err instanceof ZodError) throw new UnrecoverableError(`job data is invalid: ${err.message}`);
      throw err;
    }
  };
  const worker = new Worker(QUEUE_NAMES.botTasks, processor, { connection, prefix, concurrency });
  worker.on('completed', (job) => {
    log.info({ jobId: job.id, job: job.name }, 'job completed');
  });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, job: job?.name, attempt: job?.attemptsMade, err: err.message }, 'job failed');
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'worker error');
  });

  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}

/**
 * Stops fetching and waits for running jobs; past `timeoutMs` it abandons them:
 * their locks expire and another worker takes them over.
 */
export async function closeWorker(worker: Worker, timeoutMs: number, log: Logger): Promise<{ handedBack: boolean }> {
  try {
    await withTimeout(worker.close(), timeoutMs, 'running jobs did not finish');
    return { handedBack: false };
  } catch {
    log.warn({ timeoutMs }, 'running jobs did not reach a safe point in time; handing them back to the queue');
    await worker.close(true);
    return { handedBack: true };
  }
}
