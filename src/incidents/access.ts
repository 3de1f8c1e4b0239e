import { describeMembers, holds, isEmpty, type RoleMembers, ROLE_SETTINGS } from '../access/roles.ts';
import { UserError } from '../errors.ts';
import type { Limit, RateLimiter } from '../runs/rate-limit.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { formatDuration } from '../util/duration.ts';
import { type Incident, type IncidentState, mayReopen } from './model.ts';
import { type Installation, actorRefusal, type SlackUser } from '../access/actor.ts';
import { withTimeout } from '../queue/connection.ts';
import { slackErrorCode } from '../slack/errors.ts';
import type { DeclareCheck } from './declaration.ts';
import type { TransitionCheck } from './service.ts';

/** What the rules need to know of Slack: users, user-group membership and channel membership (cached by the directory). */
export interface MembershipLookup {
  /** Rejects when Slack does not know the user. */
  user(userId: string): Promise<SlackUser>;
  groupsOf(userId: string, handles: readonly string[]): Promise<string[]>;
  isMember(channelId: string, userId: string): Promise<boolean>;
}

export interface IncidentAccessDeps {
  /** DR_RESPONDERS: may change any incident's status (with its commander). */
  responders: RoleMembers;
  /** DR_PUBLISHERS: may confirm a public incident's first status page post. */
  publishers: RoleMembers;
  directory: MembershipLookup;
  limiter: RateLimiter;
  /** Status changes per public incident per 10 minutes (DR_STATUS_CHANGES_PER_10_MINUTES). */
  statusPerIncident: number;
  /** Declarations per person, and by everyone, per 10 minutes (DR_DECLARATIONS_PER_USER_PER_10_MINUTES, DR_DECLARATIONS_PER_10_MINUTES). */
  declarationsPerUser: number;
  declarationsTotal: number;
  /** The installation whose full members may command an incident; undefined until Slack has confirmed it. */
  installation: () => Installation | undefined;
}

export const STATUS_WINDOW_MS = 10 * 60_000;
export const DECLARATION_WINDOW_MS = 10 * 60_000;
/** A declaration is answered within Slack's 3 seconds: the commander's lookup gets half of them. */
const LOOKUP_TIMEOUT_MS = 1_500;

/**
 * Who may change an incident, and where (README, "Incidents"):
 *
 * - status changes and resolution: in the incident's own channel, by its
 *   commander or a holder of the responders role; reopening a resolved
 *   incident: its commander only;
 * - the first public status page post: a holder of the publishers role, in
 *   the incident's channel;
 * - checklist ticks: members of the incident's channel; what the bot ticked
 *   itself stays ticked.
 *
 * Declaring grants nothing: the declarer is the commander only when the
 * declaration names nobody else, and the commander's rights are per incident.
 * Every refusal is a UserError saying who may and where; nothing changes.
 */
export class IncidentAccess {
  private readonly d: IncidentAccessDeps;

  constructor(deps: IncidentAccessDeps) {
    this.d = deps;
  }

  /** The checks around one person's status change, made from `channel`. */
  statusCheck(actor: string, channel: string | undefined): TransitionCheck {
    return {
      authorize: (incident, to) => this.mayChangeStatus(incident, actor, channel, to),
      admit: (incident) => this.takeStatusChange(incident),
    };
  }

  /** The checks around a declaration, from any front end. */
  declareCheck(): DeclareCheck {
    return {
      mayCommand: (commander) => this.mayCommand(commander),
      admit: (input) => this.takeDeclaration(input.requester, input.dedupeKey),
    };
  }

  /**
   * The commander holds the incident's rights: an active full member of this
   * workspace (not deactivated, not a bot or app, not a guest, not of another
   * organisation). Refusals name the commander field.
   */
  async mayCommand(commander: string): Promise<void> {
    const installation = this.d.installation();
    if (!installation) throw new UserError('Slack has not confirmed who this workspace is yet, so the commander cannot be checked; try again in a minute. Nothing was declared.', 'commander');
    let user: SlackUser;
    try {
      user = await withTimeout(this.d.directory.user(commander), LOOKUP_TIMEOUT_MS, 'Looking up the commander');
    } catch (err) {
      if (slackErrorCode(err) === 'user_not_found') throw new UserError('The commander must be a person of this workspace; Slack does not know this one. Choose someone from the list. Nothing was declared.', 'commander');
      throw new UserError('Slack did not say just now who the commander is; try again in a moment. Nothing was declared.', 'commander');
    }
    const why = user.deleted
      ? 'is deactivated'
      : user.isBot
        ? 'is a bot or an app, not a person'
        : user.isRestricted || user.isUltraRestricted
          ? 'is a guest of this workspace'
          : actorRefusal(user, installation)
            ? 'is a member of another organisation'
            : undefined;
    if (why) throw new UserError(`The commander ${why}: choose an active full member of this workspace. Nothing was declared.`, 'commander');
  }

  /**
   * Declaring is never gated by a role, but it is limited: per person and for
   * everyone, per 10 minutes, in Redis for every bot process. A retry of the
   * same declaration (its dedupe key) counts once.
   */
  async takeDeclaration(requester: string, dedupeKey: string): Promise<void> {
    const perUser: Limit = { key: `declare:user:${requester}`, max: this.d.declarationsPerUser, windowMs: DECLARATION_WINDOW_MS };
    const total: Limit = { key: 'declare:all', max: this.d.declarationsTotal, windowMs: DECLARATION_WINDOW_MS };
    const taken = await this.d.limiter.take([perUser, total], { key: `declare:${dedupeKey}`, ttlMs: 24 * 3_600_000 });
    if (taken.ok) return;
    const wait = formatDuration(taken.retryInMs);
    throw new UserError(
      taken.limit === perUser
        ? `You have declared ${perUser.max} incidents in 10 minutes, the most one person may (DR_DECLARATIONS_PER_USER_PER_10_MINUTES). Try again in ${wait}, or ask another responder to declare. Nothing was declared.`
        : `${total.max} incidents have been declared in 10 minutes, the most the bot takes (DR_DECLARATIONS_PER_10_MINUTES). Try again in ${wait}; follow the incidents already open meanwhile. Nothing was declared.`,
    );
  }

  async mayChangeStatus(incident: Incident, actor: string, channel: string | undefined, to: IncidentState): Promise<void> {
    this.inOwnChannel(incident, channel, 'changed');
    if (incident.state === 'resolved' && to !== 'resolved') {
      if (mayReopen(incident, actor)) return;
      throw new UserError(`Only the commander of *${escapeMrkdwn(incident.title)}*, <@${incident.commander}>, may reopen it once resolved (\`/dr status investigating "why"\` or the Reopen button, in <#${incident.channelId ?? ''}>). Nothing changed.`);
    }
    if (actor === incident.commander) return;
    if (holds(this.d.responders, actor, await this.groupsOf(actor, this.d.responders))) return;
    throw new UserError(`${this.whoMayChange(incident)}. Nothing changed.`);
  }

  /** `Only the commander <@U…> or … (DR_RESPONDERS) may change the status of *title*, in <#C…>`. */
  whoMayChange(incident: Incident): string {
    const responders = isEmpty(this.d.responders) ? `nobody else yet (${ROLE_SETTINGS.responders} is empty)` : `${describeMembers(this.d.responders)} (${ROLE_SETTINGS.responders})`;
    return `Only the commander, <@${incident.commander}>, or ${responders} may change the status of *${escapeMrkdwn(incident.title)}*, in <#${incident.channelId ?? ''}>`;
  }

  /** Public status changes are limited per incident: each one notifies the page's subscribers. */
  async takeStatusChange(incident: Incident): Promise<void> {
    if (!incident.public) return;
    const limit: Limit = { key: `status:${incident.id}`, max: this.d.statusPerIncident, windowMs: STATUS_WINDOW_MS };
    const taken = await this.d.limiter.take([limit]);
    if (taken.ok) return;
    throw new UserError(
      `*${escapeMrkdwn(incident.title)}* has changed status ${limit.max} times in 10 minutes, the most for a public incident (DR_STATUS_CHANGES_PER_10_MINUTES): each change notifies the status page's subscribers. Try again in ${formatDuration(taken.retryInMs)}; meanwhile say what is happening in the channel. Nothing changed.`,
    );
  }

  async mayPublish(incident: Incident, actor: string, channel: string | undefined): Promise<void> {
    this.inOwnChannel(incident, channel, 'published');
    if (holds(this.d.publishers, actor, await this.groupsOf(actor, this.d.publishers))) return;
    throw new UserError(
      isEmpty(this.d.publishers)
        ? `Nobody may publish to the status page yet: set ${ROLE_SETTINGS.publishers} (user ids or @user-groups). Nothing was published.`
        : `Only ${describeMembers(this.d.publishers)} (${ROLE_SETTINGS.publishers}) may publish *${escapeMrkdwn(incident.title)}* to the status page, from <#${incident.channelId ?? ''}>. Nothing was published.`,
    );
  }

  async mayTick(incident: Incident, actor: string): Promise<void> {
    if (!incident.channelId) throw new UserError('The incident\'s channel is still being created; try again in a moment. Nothing changed.');
    let member: boolean;
    try {
      member = await this.d.directory.isMember(incident.channelId, actor);
    } catch {
      throw new UserError(`Slack did not say just now who is in <#${incident.channelId}>; try again in a moment. Nothing changed.`);
    }
    if (member) return;
    throw new UserError(`Only members of <#${incident.channelId}> may tick or untick the checklists of *${escapeMrkdwn(incident.title)}*: join the channel first. Nothing changed.`);
  }

  /** The role's user groups the person is in; Slack not answering refuses (nothing is granted on doubt). */
  private async groupsOf(actor: string, role: RoleMembers): Promise<string[]> {
    if (role.anyone || role.users.includes(actor) || role.groups.length === 0) return [];
    try {
      return await this.d.directory.groupsOf(actor, role.groups);
    } catch {
      throw new UserError('Slack did not say just now which user groups you are in; try again in a moment. Nothing changed.');
    }
  }

  /** Changes happen where the team sees them: the incident's own channel, not where it was declared. */
  private inOwnChannel(incident: Incident, channel: string | undefined, what: string): void {
    if (!incident.channelId) throw new UserError(`The channel of *${escapeMrkdwn(incident.title)}* is still being created; try again in a moment. Nothing ${what === 'published' ? 'was published' : 'changed'}.`);
    if (channel === incident.channelId) return;
    throw new UserError(`*${escapeMrkdwn(incident.title)}* can be ${what} only in its own channel, <#${incident.channelId}>. Nothing ${what === 'published' ? 'was published' : 'changed'}.`);
  }
}

/** What the summary says about publishing: the role's holders, or that nobody may yet. */
export function describePublishers(publishers: RoleMembers): { nobody: boolean; who: string } {
  return isEmpty(publishers) ? { nobody: true, who: `nobody may publish yet: set ${ROLE_SETTINGS.publishers}` } : { nobody: false, who: `${describeMembers(publishers)} (${ROLE_SETTINGS.publishers})` };
}
