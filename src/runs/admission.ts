/**
 * Who may request a run, and from where (docs/security.md §2–3). One rule for
 * every front end: RunService applies it before it reads a single parameter,
 * so a refused person learns nothing of a runbook's targets or parameter rules.
 * Decisions on a run (approve, reject, cancel) use the same role check.
 */
import { describeMembers, holds, isEmpty, type RoleMembers, ROLE_SETTINGS } from '../access/roles.ts';
import { UserError } from '../errors.ts';
import type { Runbook } from '../runbooks/schema.ts';
import type { Actor } from './model.ts';

/** A person acting, as their front end knows them. */
export interface Identity extends Actor {
  /**
   * The user groups (handles) the person is in, among those the front end was
   * asked about, read from Slack for this request (never from a cache). Absent
   * when the front end cannot ask Slack (the CLI): a role that only a group
   * would grant is then refused, saying why.
   */
  groups?: readonly string[];
}

/** SLACK_RUN_CHANNELS: channel ids, `*` (any channel), `incidents` (open incidents' channels), `dms` (DMs and group DMs). */
export type RunChannels = readonly string[] | '*';

/** Where a request was made, as Slack describes it. */
export interface RequestPlace {
  channelId: string;
  /** `channel`: a public or private channel; `dm`: a DM or group DM; `unknown`: Slack would not describe it. */
  conversation: 'channel' | 'dm' | 'unknown';
  /** The channel of an open incident. */
  incidentChannel: boolean;
}

/** Runbooks that need an approval change production: requesting one (or its dry run) is restricted. */
export function changesProduction(runbook: Runbook): boolean {
  return runbook.approval.required > 0;
}

/** The role's user groups worth asking Slack about for this person: none when the role admits them anyway. */
export function groupsToAsk(members: RoleMembers, userId: string): readonly string[] {
  return holds(members, userId, []) ? [] : members.groups;
}

/**
 * Whether the person holds the role: `unknown` when only a user group could
 * grant it and their groups were not asked (the front end cannot ask Slack).
 */
export function holdsRole(members: RoleMembers, who: Identity): boolean | 'unknown' {
  if (holds(members, who.id, who.groups ?? [])) return true;
  return who.groups === undefined && members.groups.length > 0 ? 'unknown' : false;
}

/** Refuses a request of a changing runbook by someone outside DR_REQUESTERS. */
export function checkRequester(runbook: Runbook, requesters: RoleMembers, who: Identity): void {
  if (!changesProduction(runbook)) return;
  const held = holdsRole(requesters, who);
  if (held === true) return;
  const only = `only ${describeMembers(requesters)} may request \`${runbook.id}\` (and its dry run), which changes production (${ROLE_SETTINGS.requesters})`;
  if (held === 'unknown') {
    throw new UserError(
      `You may not request \`${runbook.id}\` from here: ${only}, and the CLI cannot ask Slack which user groups you are in. Request it in Slack, or have an admin add your Slack user id (${who.id}) to ${ROLE_SETTINGS.requesters}. Nothing was requested.`,
    );
  }
  if (isEmpty(requesters)) throw new UserError(`Nobody may request \`${runbook.id}\`, which changes production: ${ROLE_SETTINGS.requesters} is empty. Nothing was requested.`);
  throw new UserError(`${capitalise(only)}. Nothing was requested.`);
}

/**
 * Refuses a request of a changing runbook made where the team would not see
 * it: outside SLACK_RUN_CHANNELS, in a DM or group DM unless `dms` is listed,
 * or in a conversation Slack would not describe (fail closed). A request made outside Slack
 * (`place` absent: the CLI) has no channel to check.
 */
export function checkPlace(runbook: Runbook, runChannels: RunChannels, place: RequestPlace | undefined): void {
  if (!changesProduction(runbook) || place === undefined) return;
  const listed = runChannels === '*' ? ['*'] : runChannels;
  const dms = listed.includes('dms');
  const inChannels = listed.includes('*') || listed.includes(place.channelId) || (place.incidentChannel && listed.includes('incidents'));
  if (place.conversation === 'dm' ? dms : place.conversation === 'channel' && inChannels) return;
  const nothing = 'Nothing was requested.';
  if (place.conversation === 'dm') {
    throw new UserError(`\`${runbook.id}\` changes production, so it is requested in a channel where the team sees it, not in a DM or group DM (SLACK_RUN_CHANNELS does not list \`dms\`). Ask in ${whereAdmitted(listed)}. ${nothing}`);
  }
  // Whether the team could see it cannot be told: not admitted, whatever the list says.
  if (place.conversation === 'unknown') {
    throw new UserError(`\`${runbook.id}\` changes production, and Slack would not say what kind of conversation this is (a channel, or a DM the team cannot see; the bot may not be in it), so it is not requested here. Ask in ${whereAdmitted(listed)}, with the bot in it. ${nothing}`);
  }
  throw new UserError(`\`${runbook.id}\` changes production, so it may be requested only in ${whereAdmitted(listed)} (SLACK_RUN_CHANNELS). Ask there, or have an admin add this channel. ${nothing}`);
}

function whereAdmitted(listed: readonly string[]): string {
  const where = [
    ...(listed.includes('*') ? ['any channel the bot is in'] : listed.filter((c) => !['incidents', 'dms'].includes(c)).map((c) => `<#${c}>`)),
    ...(listed.includes('incidents') && !listed.includes('*') ? ["an open incident's channel"] : []),
    ...(listed.includes('dms') ? ['a DM or group DM'] : []),
  ];
  return where.join(' or ') || 'no channel yet';
}

/**
 * Refuses a decision on a run (approve, reject, cancel) by someone the run's
 * policy does not name. `policy.source` names where the list came from.
 */
export function checkDecider(runbookId: string, policy: RoleMembers & { source?: string | undefined }, who: Identity, action: string): void {
  const held = holdsRole(policy, who);
  if (held === true) return;
  const source = policy.source ?? ROLE_SETTINGS.approvers;
  if (isEmpty(policy)) throw new UserError(`Nobody may ${action} runs of ${runbookId} yet: no approvers are configured (set ${source}; see docs/security.md). Nothing changed.`);
  if (held === 'unknown') {
    throw new UserError(
      `You may not ${action} runs of ${runbookId} from here: only ${describeMembers(policy)} may (${source}), and the CLI cannot ask Slack which user groups you are in. Do it in Slack, or have an admin name your Slack user id (${who.id}) in ${source}. Nothing changed.`,
    );
  }
  throw new UserError(`You may not ${action} runs of ${runbookId}: only ${describeMembers(policy)} may. Nothing changed.`);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
