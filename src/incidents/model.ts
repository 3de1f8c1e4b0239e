import { z } from 'zod';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { SCENARIO_IDS } from './scenarios.ts';

/**
 * An incident: declared in Slack, with its own channel, a commander, the
 * scenario's RTO/RPO clock, and a state that follows the DR plan's
 * communication template. Its timeline is an append-only stream.
 */
export const INCIDENT_STATES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/**
 * Forward as the work progresses, backward when a fix fails. A resolved
 * incident can only be reopened (back to investigating), and only by its
 * commander: see `mayReopen`.
 */
export const INCIDENT_TRANSITIONS: Readonly<Record<IncidentState, readonly IncidentState[]>> = {
  investigating: ['identified', 'monitoring', 'resolved'],
  identified: ['investigating', 'monitoring', 'resolved'],
  monitoring: ['investigating', 'identified', 'resolved'],
  resolved: ['investigating'],
};

/** Reopening (resolved → investigating) is the commander's decision alone. */
export function mayReopen(incident: Pick<IncidentDoc, 'commander'>, actor: string): boolean {
  return incident.commander === actor;
}

/**
 * Where a public incident stands with the status page: `held` from the
 * declaration until a publisher confirms the first post (nothing is sent,
 * updates queue), then `published`. Unset: private, or declared before the
 * confirmation existed (published at once).
 */
export type Publication = 'held' | 'published';

export const SEVERITIES = ['sev1', 'sev2', 'sev3'] as const;

/**
 * Slack ids as Slack writes them. An incident's people and channels are
 * checked against these before they are stored, mentioned or invited: a value
 * that is not one (`U1> <!channel>`) is never markup.
 */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;
export const SLACK_CHANNEL_ID = /^[CGD][A-Z0-9]{2,20}$/;

/** `<@U…>` for a user id, or the value escaped when it is not one. */
export function mention(userId: string): string {
  return SLACK_USER_ID.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}

export const IncidentSchema = z.object({
  id: z.string(),
  scenario: z.enum(SCENARIO_IDS),
  title: z.string(),
  severity: z.enum(SEVERITIES),
  /** Goes to the public status page (false for drills and internal incidents). */
  public: z.boolean(),
  declaredBy: z.string(),
  commander: z.string(),
  /** Where /dr declare was typed. */
  originChannel: z.string(),
  channelName: z.string(),
  affectedServices: z.array(z.string()),
  impact: z.string(),
  startedAt: z.number(),
  /** The scenario's targets when declared (the DR plan's, or the team's configured ones). */
  rtoMs: z.number(),
  rpoMs: z.number(),
});
export type IncidentDoc = z.infer<typeof IncidentSchema>;

export interface Incident extends IncidentDoc {
  state: IncidentState;
  currentStatus: string;
  resolvedAt?: number;
  /** Set as the setup job creates them. */
  channelId?: string;
  summaryTs?: string;
  /** The restore point a run in this incident actually used (for the achieved RPO). */
  restorePoint?: string;
  /** Runs requested in the incident's channel. */
  runs: string[];
  publication?: Publication;
  /** Who confirmed the first status page post, and when. */
  publishedBy?: string;
  publishedAt?: number;
}

/**
 * Who ticked a checklist item, and when. `auto`: the bot recorded it itself
 * (the declaration's own "incident declared" item, on the declarer's behalf):
 * it is a fact, not a claim, and nobody can untick it.
 */
export const CheckSchema = z.object({ by: z.string(), at: z.number(), auto: z.boolean().optional() });
export type Check = z.infer<typeof CheckSchema>;

/** A declaration form's context, on the server: who opened it, and in which channel. */
export const DeclareFormSchema = z.object({ user: z.string(), channel: z.string() });
export type DeclareForm = z.infer<typeof DeclareFormSchema>;

export const TimelineEntrySchema = z.object({ at: z.number(), actor: z.string(), text: z.string() });
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;
