import { formatDuration } from '../util/duration.ts';
import { PermanentStepError, type StepContext } from './types.ts';

/**
 * One look: done; not yet, with a short state for progress ("creating"); or
 * failed for good (a terminal state such as `incompatible-parameters`), which
 * ends the wait at once with `failed` as the message.
 */
export type PollLook = { done: true } | { done: false; state: string; percent?: number } | { done: false; failed: string };

export interface PollOptions {
  /** What is awaited, for messages: `cluster prod-aurora-dr-r1 to be available`. */
  what: string;
  /** One look: done, not yet (with a short state for progress), or failed for good. */
  check: () => Promise<PollLook>;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Polls until `check` says done, with backoff (0.5 s growing to 30 s), until
 * the step's deadline. Reports progress on every look; cancellation interrupts
 * the sleeps. Past the deadline it fails with the last state seen; a look that
 * says `failed` ends the wait at once (PermanentStepError with that message).
 */
export async function pollUntil(ctx: StepContext, { what, check, firstDelayMs = 500, maxDelayMs = 30_000 }: PollOptions): Promise<void> {
  const started = Date.now();
  let delay = firstDelayMs;
  for (;;) {
    const result = await check();
    if (result.done) return;
    if ('failed' in result) throw new PermanentStepError(result.failed);
    const waited = Date.now() - started;
    ctx.progress(`waiting for ${what}: ${result.state} (${formatDuration(waited)})`, result.percent);
    if (Date.now() + delay > ctx.deadline) {
      throw new PermanentStepError(`gave up waiting for ${what}: still ${result.state} after ${formatDuration(waited)}`);
    }
    await ctx.sleep(delay);
    delay = Math.min(maxDelayMs, Math.round(delay * 1.6));
  }
}
