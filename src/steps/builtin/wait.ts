import { z } from 'zod';
import { defineStep } from '../types.ts';

/**
 * `wait`: pauses the run, e.g. to let DNS or caches settle.
 * Reads nothing, changes nothing; cancellation interrupts it. A pause of 2 s
 * or more parks the run: no worker is held while it waits.
 */
export const waitStep = defineStep({
  id: 'wait',
  targetless: true,
  // Reads only: entering it again after a park repeats a look.
  resumable: true,
  summary: 'Pause for a number of seconds',
  params: z.object({ seconds: z.number().min(0).max(86_400), reason: z.string().max(200).optional() }),
  outputs: [],
  plan: (_ctx, p) =>
    Promise.resolve([{ action: 'wait', resource: 'run', detail: `wait ${p.seconds}s${p.reason ? ` (${p.reason})` : ''}` }]),
  async run(ctx, p) {
    // A long pause parks the run (the worker is freed); re-entered, it waits only for what is left.
    const memo = await ctx.waitMemo('pause');
    const startedAt = memo?.startedAt ?? Date.now();
    const left = startedAt + p.seconds * 1000 - Date.now();
    if (left <= 0) return {};
    if (!memo) ctx.progress(`waiting ${p.seconds}s`);
    await ctx.pause('pause', left, { startedAt, looks: 0, delayMs: 0, state: `waiting ${p.seconds}s` });
    return {};
  },
});
