import type { Job, Queue } from 'bullmq';
import type { RunPriority } from '../runbooks/schema.ts';

/**
 * A run's priority as a BullMQ job priority: a lower number is taken first.
 * Every execution job carries one (never 0: BullMQ takes unprioritised jobs
 * before any prioritised one), and BullMQ keeps it through delays, retries and
 * hand-backs because it is stored on the job.
 */
export const JOB_PRIORITY: Readonly<Record<RunPriority, number>> = { urgent: 1, normal: 2, background: 3 };

/** How long a background run held back by the cap waits before it asks for a slot again. */
export const BACKGROUND_RETRY_MS = 2_000;

/**
 * At most this many background runs execute at once in one worker process, so
 * at least one slot is always free for a person's request. A process with one
 * slot cannot keep one back: it runs one background run (raise
 * WORKER_CONCURRENCY to 2 or more, as the shipped deployment does).
 */
export function backgroundCap(concurrency: number): number {
  return Math.max(1, concurrency - 1);
}

export function isBackgroundJob(job: Pick<Job, 'priority'>): boolean {
  return job.priority === JOB_PRIORITY.background;
}

/**
 * Whether a job more urgent than `job` is waiting. BullMQ takes the most
 * urgent prioritised job itself, but puts a stalled job (its worker died) back
 * in its unprioritised wait list, ahead of everything: such a job yields here
 * to the more urgent work instead of taking the slot first.
 */
export async function moreUrgentWaiting(queue: Pick<Queue, 'getPrioritized'>, job: Pick<Job, 'priority' | 'stalledCounter'>): Promise<boolean> {
  // A job queued before priorities has none; it would come back to the same wait list and be taken again.
  if (job.priority <= 0) return false;
  // Only a stall puts a job ahead of the priorities (and counts it): a job that never stalled was taken in order, no look needed.
  if (job.stalledCounter === 0) return false;
  // The first prioritised job is the most urgent waiting one.
  const [next] = await queue.getPrioritized(0, 0);
  return next !== undefined && next.priority < job.priority;
}
