import { z } from 'zod';
import { ActorSchema } from './actor.ts';

/**
 * A run-time gate (`approval.gate`, docs/engine.md "Run-time gates"): a
 * question the run's approvers answer while the run waits, parked. Kept in
 * the run's hash as the field `gate` (one gate at a time: steps run one
 * after another); a later gate replaces an earlier, decided one.
 */

export const GATE_CHOICES = ['accept', 'refuse'] as const;
export type GateChoice = (typeof GATE_CHOICES)[number];

/** open, then accepted (enough accepts), refused (one refusal) or expired (nobody decided in time). */
export const GATE_STATES = ['open', 'accepted', 'refused', 'expired'] as const;
export type GateState = (typeof GATE_STATES)[number];

/** Redis's JSON encoder writes an empty list as `{}`: read it back as a list. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? [] : v), z.array(item));

export const GateVoteSchema = z.object({
  by: ActorSchema,
  choice: z.enum(GATE_CHOICES),
  at: z.number(),
  reason: z.string().max(500).optional(),
});
export type GateVote = z.infer<typeof GateVoteSchema>;

export const GateSchema = z.object({
  /** `g` and 7 characters: names this gate (buttons carry it, so a click on an older gate's buttons acts on nothing). */
  id: z.string().regex(/^g[a-z0-9]{7}$/),
  stepId: z.string(),
  question: z.string(),
  facts: list(z.string()),
  /** Accepts from different people needed. */
  required: z.number().int().min(1),
  /** The buttons' labels. */
  choices: z.object({ accept: z.string(), refuse: z.string() }),
  onTimeout: z.enum(['fail', 'proceed']),
  openedAt: z.number(),
  expiresAt: z.number(),
  state: z.enum(GATE_STATES),
  votes: list(GateVoteSchema),
  decidedAt: z.number().optional(),
});
export type Gate = z.infer<typeof GateSchema>;

/** The gate stored in a run's hash, or undefined when there is none (or it cannot be read). */
export function parseGate(raw: string | null | undefined): Gate | undefined {
  if (!raw) return undefined;
  try {
    const parsed = GateSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whoever accepted, as the step's output and the audit name them. */
export function acceptedBy(gate: Gate): string[] {
  return gate.votes.filter((v) => v.choice === 'accept').map((v) => v.by.name ?? v.by.id);
}
