import { z } from 'zod';
import { DecisionSchema } from '../runs/model.ts';
import { CadenceSchema } from './cadence.ts';

/** What an approval of a changing schedule covers and records (approval.ts computes and checks it). */

const ScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** Where one planned step acts: its target by name and everything that decides where its calls go (Targets.identity). */
export const CoveredPlaceSchema = z.object({
  stepId: z.string(),
  target: z.string(),
  cluster: z.string().optional(),
  /** As plans show it: `Drill (drill) · us-west-2 · account …`. */
  shown: z.string(),
  resolved: z.record(z.string(), z.string()),
});
export type CoveredPlace = z.infer<typeof CoveredPlaceSchema>;

/** Everything an approval of a schedule is an approval of. */
export const CoversSchema = z.object({
  runbookId: z.string(),
  /** The runbook's definition as loaded (runbookDigest). */
  runbookDigest: z.string(),
  params: z.record(z.string(), ScalarSchema),
  cadence: CadenceSchema,
  places: CoveredPlaceSchema.array(),
  /** Of all of the above: the approvals are recorded against it. */
  digest: z.string(),
});
export type Covers = z.infer<typeof CoversSchema>;

export const SCHEDULE_APPROVAL_STATES = ['awaiting', 'approved', 'suspended'] as const;
export type ScheduleApprovalState = (typeof SCHEDULE_APPROVAL_STATES)[number];

/**
 * A changing schedule's approval: `awaiting` its approvals (never approved),
 * `approved` (it fires), or `suspended` (it was approved, then something it
 * covers changed: it needs its approvals again). Only `approved` fires.
 */
export const ScheduleApprovalSchema = z.object({
  state: z.enum(SCHEDULE_APPROVAL_STATES),
  covers: CoversSchema,
  /** Who approved what `covers` says, and when; cleared whenever it changes. */
  approvals: DecisionSchema.array(),
  /** The runbook's approvals, and at least two. */
  required: z.number().int().min(2),
  /** The runbook lets its requester approve: the creator may be one of the two. */
  allowSelf: z.boolean(),
  /** Why it is awaiting or suspended, in words people act on. */
  why: z.string().optional(),
  /** Since when it has its state. */
  since: z.number(),
});
export type ScheduleApproval = z.infer<typeof ScheduleApprovalSchema>;
