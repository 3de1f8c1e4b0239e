import { Queue } from 'bullmq';
import type { RedisConnection } from './connection.ts';
import type { Logger } from '../log/logger.ts';
import type { RunPriority } from '../runbooks/schema.ts';
import { withTimeout } from './connection.ts';
import { QUEUE_NAMES, RUN_JOB_NAMES } from './names.ts';
import { JOB_PRIORITY } from './priority.ts';

const ENQUEUE_TIMEOUT_MS = 1_500;

/**
 * Puts runs on the `runs` queue. Job ids are derived from the run id, so a
 * second enqueue of the same run (a retried click, a racing approver) adds
 * nothing: BullMQ ignores a job id it already holds.
 */
export class RunQueue {
  readonly queue: Queue;

  constructor(connection: RedisConnection, prefix: string, logger: Logger) {
    this.queue = new Queue(QUEUE_NAMES.runs, {
      connection,
      prefix,
      defaultJobOptions: {
        // Re-entering a run is safe (steps are idempotent), so infrastructure
        // failures of the job itself (Redis blips) are retried.
        attempts: 10,
        backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
        removeOnComplete: { age: 7 * 24 * 3_600 },
        removeOnFail: { age: 30 * 24 * 3_600 },
      },
    });
    this.queue.on('error', (err) => {
      logger.debug({ err: err.message }, 'run queue connection error');
    });
  }

  /** `priority` is the run's own (what was approved): a free worker takes urgent runs first. */
  async enqueueExecution(runId: string, priority: RunPriority): Promise<void> {
    await withTimeout(
      this.queue.add(RUN_JOB_NAMES.execute, { runId }, { jobId: `exec-${runId}`, priority: JOB_PRIORITY[priority] }),
      ENQUEUE_TIMEOUT_MS,
      'Queueing the run failed',
    );
  }

  /**
   * Takes a parked run's job out of its wait at once, so a worker looks at
   * the run now (a cancel acts at once, not at the next look). False when
   * the job is not waiting in the delayed set (running, or gone).
   */
  async wake(runId: string): Promise<boolean> {
    const job = await this.queue.getJob(`exec-${runId}`);
    if (!job || !(await job.isDelayed())) return false;
    try {
      await job.promote();
      return true;
    } catch {
      // It left the delayed set meanwhile (a worker took it): that worker sees the cancel.
      return false;
    }
  }

  /** Marks the run expired if nobody approved it by then. */
  async scheduleExpiry(runId: string, delayMs: number): Promise<void> {
    await withTimeout(
      this.queue.add(RUN_JOB_NAMES.expire, { runId }, { jobId: `expire-${runId}`, delay: Math.max(0, delayMs) }),
      ENQUEUE_TIMEOUT_MS,
      'Scheduling the approval expiry failed',
    );
  }

  async waitUntilReady(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
