import { randomBytes } from 'node:crypto';
import { getNextMillis } from 'bullmq';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { ActorSchema, type RunState } from '../runs/model.ts';
import { ItemResultSchema } from '../steps/readiness/report.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';
import { type Cadence, CadenceSchema } from './cadence.ts';
import type { ScheduleApproval } from './approval-model.ts';

export { type Cadence, CadenceSchema } from './cadence.ts';

/**
 * A schedule: a runbook, its parameters as written, and when to run it
 * (docs/schedules.md). Each fire creates one run through the run service, at
 * background priority, requested by whoever made the schedule.
 */

/** The shortest `every` people may write: a schedule is a standing request, not a loop. Tests lower it through the service. */
export const MIN_EVERY_MS = 60_000;
/** The longest: a year. */
const MAX_EVERY_MS = 366 * 86_400_000;

/** `s-` and 6 readable characters for added schedules; config schedules are named by their file, never `s-…`. */
export const SCHEDULE_ID = /^[a-z][a-z0-9-]{1,39}$/;
const ADDED_ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export function newScheduleId(): string {
  return `s-${[...randomBytes(6)].map((b) => ADDED_ID_ALPHABET[b % ADDED_ID_ALPHABET.length] ?? 'x').join('')}`;
}

/** A Slack channel id: where each run's message is posted. */
export const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;

/** `every`: a fixed interval (the first fire one interval after it is added or resumed); `cron`: five fields, in UTC. */

/** Most readiness items one schedule may depend on. */
const MAX_SKIP_WHEN_RED = 20;

/** Readiness item ids (`aurora.retention.prod-aurora`): a fire is skipped while any of them fails in the latest readiness check. */
export const SkipWhenRedSchema = z
  .array(
    z.string().refine((id) => ItemResultSchema.shape.id.safeParse(id).success, 'must be readiness item ids like aurora.retention.prod-aurora'),
    { error: 'must be a list of readiness item ids like aurora.retention.prod-aurora' },
  )
  .max(MAX_SKIP_WHEN_RED, `names at most ${MAX_SKIP_WHEN_RED} readiness items`);

export const SCHEDULE_SOURCES = ['config', 'slack', 'cli'] as const;
export type ScheduleSource = (typeof SCHEDULE_SOURCES)[number];

const ScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** What a schedule is. Kept whole in one field; paused and the last fire live beside it, so neither rewrites it. */
export const ScheduleDocSchema = z.object({
  id: z.string().regex(SCHEDULE_ID),
  runbookId: z.string(),
  /** As written (`to=15m ago` stays relative): bound again at every fire. */
  params: z.record(z.string(), ScalarSchema),
  cadence: CadenceSchema,
  /** Where each run's message is posted; none: runs are listed, nothing is posted. */
  channel: z.object({ id: z.string().regex(CHANNEL_ID), private: z.boolean().optional() }).optional(),
  createdBy: ActorSchema,
  createdAt: z.number(),
  source: z.enum(SCHEDULE_SOURCES),
  /** Readiness items it depends on: a fire while one of them fails makes no run (docs/schedules.md, "Skip when red"). */
  skipWhenRed: SkipWhenRedSchema.optional(),
});
export type ScheduleDoc = z.infer<typeof ScheduleDocSchema>;

/** What the last fire did: the run it created, or why it created none. */
export const LastFireSchema = z.object({
  at: z.number(),
  /** The BullMQ job of the fire (`repeat:<schedule>:<millis>`). */
  fireId: z.string(),
  runId: z.string().optional(),
  /** Why no run was created (the runbook is gone, its parameters no longer bind…), or why its message was not posted. */
  problem: z.string().optional(),
  /** No run because a readiness item it depends on was red (`problem` says which). */
  skipped: z.boolean().optional(),
});
export type LastFire = z.infer<typeof LastFireSchema>;

export interface Schedule extends ScheduleDoc {
  paused: boolean;
  last?: LastFire;
  /** A schedule of a changing runbook: what its approval covers, who approved it, and whether it fires. */
  approval?: ScheduleApproval;
}

/** Where a scheduled run's message goes: the schedule's channel, if it has one. */
export function originOf(schedule: Pick<ScheduleDoc, 'channel'>): { channelId?: string; private?: boolean } {
  return schedule.channel ? { channelId: schedule.channel.id, ...(schedule.channel.private ? { private: true } : {}) } : {};
}

/** A schedule as people see it: with its last run's state now and its next fire. */
export interface ScheduleView extends Schedule {
  lastState?: RunState;
  /** When the next fire is due (epoch ms); none while paused. */
  next?: number;
}

/**
 * `every 30m` or a five-field cron expression in UTC (`0 6 * * 1`), as people
 * write it; a UserError says what was wrong and how to write it.
 */
export function parseCadence(text: string, minEveryMs = MIN_EVERY_MS): Cadence {
  const written = text.trim().replace(/\s+/g, ' ');
  const shown = code(truncate(written, 60, ''));
  const every = /^every\s*(.*)$/i.exec(written);
  if (every) {
    const ms = parseDuration(every[1] ?? '');
    if (ms === undefined) throw new UserError(`${shown} is not an interval: write \`every\` and a duration, like \`every 30m\`, \`every 2h\` or \`every 1d\`.`);
    if (ms < minEveryMs) throw new UserError(`${shown} is more often than a schedule may run (at most every ${formatDuration(minEveryMs)}): write \`every ${formatDuration(minEveryMs).replace(' ', '')}\` or longer.`);
    if (ms > MAX_EVERY_MS) throw new UserError(`${shown} is longer than a year: write a cron expression instead, like \`"0 6 1 1 *"\` (06:00 UTC every 1 January).`);
    return { every: ms };
  }
  const fields = written.split(' ');
  const how = 'write `every <duration>` (`every 30m`) or a cron expression of five fields in UTC (minute hour day-of-month month day-of-week) in quotes, like `"0 6 * * 1"` (06:00 UTC every Monday)';
  if (fields.length !== 5) throw new UserError(`${shown} is not a schedule: ${how}.`);
  try {
    // The parser BullMQ fires by: what it accepts here is what it will run.
    if (getNextMillis(Date.now(), { pattern: written, tz: 'UTC' }) === undefined) throw new Error('it never fires');
  } catch (err) {
    const why = err instanceof Error ? truncate(err.message.split('\n')[0] ?? '', 120, '') : '';
    throw new UserError(`${shown} is not a valid cron expression${why ? ` (${why})` : ''}: ${how}.`);
  }
  return { cron: written };
}

/** `every 30m` or `cron 0 6 * * 1 (UTC)`. */
export function describeCadence(cadence: Cadence): string {
  return 'every' in cadence ? `every ${formatDuration(cadence.every)}` : `cron ${cadence.cron} (UTC)`;
}

/** A schedule named in the config file (`schedules:`) or by `readiness.every`. */
export interface ConfigSchedule {
  id: string;
  runbookId: string;
  cadence: Cadence;
  params: Record<string, string | number | boolean>;
  channel?: string;
  skipWhenRed?: string[];
}

/** The id of the default readiness schedule (`readiness.every`). */
export const READINESS_SCHEDULE_ID = 'readiness-default';
export const READINESS_RUNBOOK_ID = 'readiness-check';

/** One entry of `schedules:` in the config file. */
const ConfigScheduleEntrySchema = z
  .object({
    id: z
      .string()
      .regex(SCHEDULE_ID, 'must be 2 to 40 lower-case letters, digits and -, starting with a letter')
      .refine((id) => !id.startsWith('s-'), 'must not start with s- (kept for schedules added in Slack or the CLI)')
      .refine((id) => id !== READINESS_SCHEDULE_ID, `must not be ${READINESS_SCHEDULE_ID} (the default readiness schedule's; set readiness.every instead)`),
    runbook: z.string().min(1),
    every: z.string().optional(),
    cron: z.string().optional(),
    params: z.record(z.string(), ScalarSchema).default({}),
    channel: z.string().regex(CHANNEL_ID, 'must be a channel id like C0123ABCD').optional(),
    skipWhenRed: SkipWhenRedSchema.optional(),
  })
  .strict()
  .transform((entry, ctx): ConfigSchedule => {
    if ((entry.every === undefined) === (entry.cron === undefined)) {
      ctx.addIssue({ code: 'custom', message: `schedule ${entry.id} needs exactly one of every (like 30m) or cron (like "0 6 * * 1")` });
      return z.NEVER;
    }
    let cadence: Cadence;
    try {
      cadence = parseCadence(entry.every !== undefined ? `every ${entry.every}` : (entry.cron ?? ''));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `schedule ${entry.id}: ${err instanceof Error ? err.message : String(err)}` });
      return z.NEVER;
    }
    return {
      id: entry.id,
      runbookId: entry.runbook,
      cadence,
      params: entry.params,
      ...(entry.channel ? { channel: entry.channel } : {}),
      ...(entry.skipWhenRed?.length ? { skipWhenRed: entry.skipWhenRed } : {}),
    };
  });

/**
 * The setting `schedules`: a YAML list in the config file, or DR_SCHEDULES
 * holding the same list as JSON (or YAML) text. Ids are unique.
 */
export const ConfigSchedulesSettingSchema = z
  .preprocess((value) => {
    if (typeof value !== 'string') return value;
    try {
      return (parseYaml(value) as unknown) ?? [];
    } catch {
      // Left as text: the list schema then says what it must be.
      return value;
    }
  }, z.array(ConfigScheduleEntrySchema, { error: 'must be a list of schedules, each with id, runbook, every or cron, and optionally params, channel and skipWhenRed' }))
  .default([])
  .superRefine((list, ctx) => {
    const ids = list.map((s) => s.id);
    for (const id of new Set(ids.filter((id, i) => ids.indexOf(id) !== i))) ctx.addIssue({ code: 'custom', message: `the id ${id} is given twice: each schedule needs its own` });
  });

/** The setting `readiness.every`: how often the default readiness schedule runs `readiness-check`, or `off`. */
export const ReadinessEverySchema = z
  .string()
  .trim()
  .default('30m')
  .transform((text, ctx): Cadence | null => {
    if (text.toLowerCase() === 'off') return null;
    try {
      return parseCadence(`every ${text}`);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be a duration of a minute or more (like 30m or 2h), or off: ${err instanceof Error ? err.message : String(err)}` });
      return z.NEVER;
    }
  });

/**
 * Every schedule the configuration names: the file's `schedules:` and the
 * default readiness check (unless `readiness.every` is `off`).
 */
export function configSchedules(settings: { schedules: readonly ConfigSchedule[]; readinessEvery: Cadence | null }): ConfigSchedule[] {
  const readiness: ConfigSchedule[] =
    settings.readinessEvery === null ? [] : [{ id: READINESS_SCHEDULE_ID, runbookId: READINESS_RUNBOOK_ID, cadence: settings.readinessEvery, params: {} }];
  return [...readiness, ...settings.schedules];
}
