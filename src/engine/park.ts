import { z } from 'zod';

/**
 * Parked waits: a step that waits long gives its worker back. What the wait
 * had reached is kept in the run's hash, the run's job is delayed until the
 * next look, and whichever worker is free then enters the step again
 * (docs/engine.md, "Parked waits").
 *
 * Run hash fields:
 * - `parked`: the step parked and the attempt it was in (ParkMarker); the
 *   execution that takes the run up again consumes it ('' afterwards).
 * - `wait:<stepId>:<name>`: where wait `name` of the step was (WaitMemo).
 * - `ck:<stepId>:<name>`: the stored result of the step's checkpoint `name` (ctx.once).
 */

/**
 * Waits shorter than this stay in the process (a fast step stays fast: a park
 * costs a few Redis writes and a trip through the queue); longer ones park.
 */
export const PARK_MIN_MS = 2_000;

export const ParkMarkerSchema = z.object({
  stepId: z.string(),
  /** When the next look is due. */
  wakeAt: z.number(),
  /** When the step's current attempt started: its timeout runs from there, across looks. */
  attemptStartedAt: z.number(),
  /** Failed attempts of the step so far (its retries are counted across looks). */
  failures: z.number().int().min(0),
});
export type ParkMarker = z.infer<typeof ParkMarkerSchema>;

export const WaitMemoSchema = z.object({
  startedAt: z.number(),
  looks: z.number().int().min(0),
  delayMs: z.number().min(0),
  state: z.string(),
  marks: z.record(z.string(), z.number()).optional(),
});

export const PARKED_FIELD = 'parked';
export const waitField = (stepId: string, name: string) => `wait:${stepId}:${name}`;
export const checkpointField = (stepId: string, name: string) => `ck:${stepId}:${name}`;

/** The park marker stored in the run, if the run is parked ('' or absent: it is not). */
export function parseParkMarker(raw: string | null | undefined): ParkMarker | undefined {
  if (!raw) return undefined;
  const parsed = ParkMarkerSchema.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : undefined;
}
