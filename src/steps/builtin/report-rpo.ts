import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import { defineStep, PermanentStepError } from '../types.ts';

/** An ISO 8601 time with its offset, as `time` parameters and restore steps give it (`2026-12-07T10:00:00Z`). */
const ISO_TIME = z
  .string()
  .max(40)
  .refine((t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(t) && Number.isFinite(Date.parse(t)), 'must be an ISO 8601 time with its offset, e.g. 2026-12-07T10:00:00Z');

/**
 * `report.rpo`: the data a recovery did not bring back, measured: from the
 * newest data it restored (`dataAsOf`: a restore point, a backup's time, the
 * newest row a check found) to when the loss happened (`lostAt`; for a drill,
 * its start). Its `measuredRpoSeconds` is what the drill record scores
 * against the scenario's RPO (docs/drills.md). Reads and changes nothing.
 */
export const reportRpoStep = defineStep({
  id: 'report.rpo',
  targetless: true,
  summary: 'Report the data a recovery lost: from the newest data it restored to the loss',
  params: z.object({ dataAsOf: ISO_TIME, lostAt: ISO_TIME.optional() }),
  outputs: ['measuredRpoSeconds', 'summary'],
  plan: (_ctx, p) =>
    Promise.resolve([{ action: 'check' as const, resource: 'run', detail: `measure the data lost: from ${p.dataAsOf} to ${p.lostAt ?? "the run's start"}` }]),
  run(ctx, p) {
    const lostAt = p.lostAt === undefined ? ctx.runStartedAt : Date.parse(p.lostAt);
    const dataAsOf = Date.parse(p.dataAsOf);
    // Data newer than the loss means the two times were swapped or a clock is wrong: no number is better than a wrong one.
    if (dataAsOf > lostAt + 1_000) return Promise.reject(new PermanentStepError(`dataAsOf (${p.dataAsOf}) is after the loss (${new Date(lostAt).toISOString()}): check which time is which`));
    const seconds = Math.max(0, Math.round((lostAt - dataAsOf) / 1_000));
    const summary = `${seconds === 0 ? 'no data' : formatDuration(seconds * 1_000)} lost: the newest data restored is from ${p.dataAsOf}`;
    ctx.progress(summary);
    return Promise.resolve({ measuredRpoSeconds: seconds, summary });
  },
});
