/**
 * What the run rules (src/runs/admission.ts) need to know of a Slack request,
 * asked of Slack and the incident store: who acts, with the user groups that
 * matter (asked now, never cached), and what kind of conversation it was made in.
 */
import type { IncidentService } from '../incidents/service.ts';
import { withTimeout } from '../queue/connection.ts';
import type { Identity, RequestPlace } from '../runs/admission.ts';
import type { SlackDirectory } from './directory.ts';
import type { CheckedActor } from './guard.ts';

/** The person, with those of `handles` they are in; a UserError when Slack does not say (see SlackDirectory.groupsOf). */
export async function identityOf(actor: CheckedActor, handles: readonly string[], directory: SlackDirectory, timeoutMs?: number): Promise<Identity> {
  return { ...actor, groups: await directory.groupsOf(actor.id, handles, timeoutMs) };
}

export interface SlackPlace {
  place: RequestPlace;
  /** Runs requested here are shown only here (private channels, DMs, and conversations Slack would not describe). */
  private: boolean;
  /** The open incident whose channel this is. */
  incidentId?: string;
}

/** Where a request was made: the conversation as Slack describes it (undescribed: unknown, and private), and the open incident it belongs to. */
export async function placeOf(channelId: string, deps: { directory: SlackDirectory; incidents: Pick<IncidentService, 'byChannel'> }, timeoutMs: number): Promise<SlackPlace> {
  const [conversation, incident] = await Promise.all([
    withTimeout(deps.directory.conversation(channelId), timeoutMs, 'Reading the channel').catch(() => undefined),
    withTimeout(deps.incidents.byChannel(channelId), timeoutMs, 'Reading run state'),
  ]);
  const incidentId = incident && incident.state !== 'resolved' && incident.channelId === channelId ? incident.id : undefined;
  return {
    place: { channelId, conversation: conversation === undefined ? 'unknown' : conversation.dm ? 'dm' : 'channel', incidentChannel: incidentId !== undefined },
    private: conversation?.private ?? true,
    ...(incidentId ? { incidentId } : {}),
  };
}
