import { z } from 'zod';
import { defineStep } from '../types.ts';

/**
 * `wait`: pauses the run, e.g. to let DNS or caches settle.
 * Reads nothing, changes nothing; cancellation interrupts it.
 */
export const waitStep = defineStep({
  id: 'wait',
  targetless: true,
  summary: 'Pause for a number of seconds',
  params: z.object({ seconds: z.number().min(0).max(86_400), reason: z.string().max(200).optional() }),
  outputs: [],
  plan: (_ctx, p) =>
    Promise.resolve([{ action: 'wait', resource: 'run', detail: `wait ${p.seconds}s${p.reason ? ` (${p.reason})` : ''}` }]),
  async run(ctx, p) {
    if (p.seconds > 0) ctx.progress(`waiting ${p.seconds}s`);
    await ctx.sleep(p.seconds * 1000);
    return {};
  },
});
