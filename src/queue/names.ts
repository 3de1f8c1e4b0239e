import { z } from 'zod';

/**
 * Queue names and the shape of each job's data. Jobs are parsed with these
 * schemas when a worker takes them, so a job written by an older or newer
 * version of the bot fails clearly instead of half-running.
 */
export const QUEUE_NAMES = {
  /** Short jobs the bot hands to workers (ping today; notifications later). */
  botTasks: 'bot-tasks',
  /** Run execution (one job per run) and approval expiry. */
  runs: 'runs',
  /** Incident channel setup and messages. */
  incidents: 'incidents',
  /** Ordered Statuspage deliveries. */
  statuspage: 'statuspage',
} as const;

export const IncidentJobSchema = z.object({ incidentId: z.string().min(1), kind: z.enum(['setup', 'update', 'resolved', 'refresh']), seq: z.number().int().optional() });
export type IncidentJob = z.infer<typeof IncidentJobSchema>;

export const RunJobSchema = z.object({ runId: z.string().regex(/^[\w-]{1,64}$/) });
export type RunJob = z.infer<typeof RunJobSchema>;

export const RUN_JOB_NAMES = { execute: 'execute', expire: 'expire' } as const;

export const PingJobSchema = z.object({
  channelId: z.string().min(1),
  userId: z.string().min(1),
  /** Used only when the bot cannot post in the channel (not invited to a private channel). */
  responseUrl: z.url().optional(),
  requestedAt: z.number().int().positive(),
});
export type PingJob = z.infer<typeof PingJobSchema>;

export const JOB_NAMES = { ping: 'ping' } as const;
