import { formatDuration } from '../util/duration.ts';
import { PermanentStepError, type StepContext } from './types.ts';

/**
 * One look: done; not yet, with a short state for progress ("creating") and
 * optionally when to look next; or failed for good (a terminal state such as
 * `incompatible-parameters`), which ends the wait at once with `failed` as the message.
 */
export type PollLook = { done: true } | { done: false; state: string; percent?: number; nextLookInMs?: number; marks?: PollMarks } | { done: false; failed: string };

/** Times a look notes for the looks after it (since when a node group has been DEGRADED): kept across parks. */
export type PollMarks = Record<string, number>;

/** What a look knows of its wait: when it started (its first look, before any park) and which look this is (1, 2, …). */
export interface PollProgress {
  startedAt: number;
  look: number;
  /** The marks the last look returned ({} on the first). */
  marks: PollMarks;
}

export interface PollOptions {
  /** What is awaited, for messages: `cluster prod-aurora-dr-r1 to be available`. */
  what: string;
  /**
   * Names the wait within its step (kept across parks); `what` by default.
   * Two waits of one step need different names.
   */
  name?: string;
  /** One look: done, not yet (with a short state for progress), or failed for good. Reads only. */
  check: (progress: PollProgress) => Promise<PollLook>;
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** Gives up this long after the wait started (the step's deadline always applies). */
  withinMs?: number;
  /** The message when the wait gives up; `gave up waiting for <what>: still <state> after <time>` by default. */
  gaveUp?: (last: { state: string; waitedMs: number; looks: number }) => string;
}

/**
 * Polls until `check` says done, with backoff (0.5 s growing to 30 s), until
 * the step's deadline. Reports progress on every look; cancellation interrupts
 * the waits. Past the deadline it fails with the last state seen; a look that
 * says `failed` ends the wait at once (PermanentStepError with that message).
 *
 * Between looks the step pauses (`ctx.pause`): a long pause parks the run and
 * frees the worker, and `run()` is entered again later; this wait then
 * resumes where it was (its start, its delay), so everything before the
 * `pollUntil` call must be checkpoints (`ctx.once`) or reads.
 */
export async function pollUntil(ctx: StepContext, options: PollOptions): Promise<void> {
  const { what, check, firstDelayMs = 500, maxDelayMs = 30_000 } = options;
  const name = options.name ?? what;
  const memo = await ctx.waitMemo(name);
  const started = memo?.startedAt ?? Date.now();
  let delay = memo?.delayMs ?? firstDelayMs;
  let looks = memo?.looks ?? 0;
  let marks = memo?.marks ?? {};
  const giveUpAt = Math.min(ctx.deadline, options.withinMs === undefined ? Number.POSITIVE_INFINITY : started + options.withinMs);
  for (;;) {
    looks += 1;
    const result = await check({ startedAt: started, look: looks, marks });
    if (result.done) return;
    if ('failed' in result) throw new PermanentStepError(result.failed);
    const waited = Date.now() - started;
    ctx.progress(`waiting for ${what}: ${result.state} (${formatDuration(waited)})`, result.percent);
    const wait = result.nextLookInMs ?? delay;
    marks = result.marks ?? {};
    if (Date.now() + wait > giveUpAt) {
      throw new PermanentStepError(options.gaveUp?.({ state: result.state, waitedMs: waited, looks }) ?? `gave up waiting for ${what}: still ${result.state} after ${formatDuration(waited)}`);
    }
    delay = Math.min(maxDelayMs, Math.round(delay * 1.6));
    await ctx.pause(name, wait, { startedAt: started, looks, delayMs: delay, state: result.state, ...(Object.keys(marks).length ? { marks } : {}) });
  }
}
