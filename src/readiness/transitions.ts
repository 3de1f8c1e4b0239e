import { z } from 'zod';
import { ITEM_STATUSES, ItemResultSchema } from '../steps/readiness/report.ts';

/**
 * An item of the readiness checklist turning red (failing, from anything
 * else) or green (passing again after it was told red). Warn and unknown
 * tell nothing: an item that fails, goes unknown (an API did not answer) and
 * fails again is one red spell, told once; its recovery is told once too.
 */
export const ReadinessTransitionSchema = z.object({
  kind: z.enum(['red', 'green']),
  /** Unique per run, target and item: the once-key of its notice. */
  key: z.string(),
  /** The readiness run whose check saw it. */
  runId: z.string(),
  target: z.string(),
  role: z.enum(['primary', 'dr']),
  /** The item as that check measured it: value, objective, reason, fix. */
  item: ItemResultSchema,
  /** When that check measured it. */
  at: z.number(),
  /** The first failing check of the red spell (for green: how long it was red). */
  redSince: z.number(),
  /** The item's status at the check before; absent at its first check. */
  previous: z.enum(ITEM_STATUSES).optional(),
  /** The last check it passed, within the 7 days kept. */
  lastPassAt: z.number().optional(),
});
export type ReadinessTransition = z.infer<typeof ReadinessTransitionSchema>;

/** Tells a transition somewhere (the configured Slack channel); throws when it could not, to be retried. */
export type NotifyTransition = (transition: ReadinessTransition) => Promise<void>;
