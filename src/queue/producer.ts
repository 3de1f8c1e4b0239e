import { Queue } from 'bullmq';
import type { RedisConnection } from './connection.ts';
import type { Logger } from '../log/logger.ts';
import { withTimeout } from './connection.ts';
import { JOB_NAMES, type PingJob, QUEUE_NAMES } from './names.ts';

/** Enqueueing must finish well inside Slack's 3-second ack window. */
const ENQUEUE_TIMEOUT_MS = 1_500;

/** What the bot side puts on the queues. Workers, not the bot, do the work. */
export class BotTaskProducer {
  readonly queue: Queue;

  constructor(connection: RedisConnection, prefix: string, logger: Logger) {
    this.queue = new Queue(QUEUE_NAMES.botTasks, {
      connection,
      prefix,
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
        removeOnComplete: { age: 3_600, count: 1_000 },
        removeOnFail: { age: 7 * 24 * 3_600 },
      },
    });
    // The connection logs outages once; without a listener BullMQ prints each retry to stderr.
    this.queue.on('error', (err) => {
      logger.debug({ err: err.message }, 'queue connection error');
    });
  }

  /**
   * Queues a ping. `dedupeKey` (Slack's trigger id) makes a repeated delivery of
   * the same command a no-op: BullMQ ignores a job id it already holds.
   */
  async enqueuePing(data: PingJob, dedupeKey: string): Promise<string> {
    const jobId = `ping-${safeJobIdPart(dedupeKey)}`;
    const job = await withTimeout(this.queue.add(JOB_NAMES.ping, data, { jobId }), ENQUEUE_TIMEOUT_MS, 'Queueing the job failed');
    return job.id ?? jobId;
  }

  async waitUntilReady(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** BullMQ job ids may not contain ":" and may not be all digits. */
export function safeJobIdPart(value: string): string {
  return value.replace(/[^\w.-]/g, '_').slice(0, 120);
}
