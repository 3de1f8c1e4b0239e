/** What the bot needs to know about a Slack user to let them act. */
export interface SlackUser {
  id: string;
  name: string;
  teamId: string;
  enterpriseId?: string;
  deleted: boolean;
  isBot: boolean;
  /** Multi-channel guest. */
  isRestricted: boolean;
  /** Single-channel guest. */
  isUltraRestricted: boolean;
}

/** The Slack installation requests must belong to: learnt from auth.test and bots.info at start. */
export interface Installation {
  teamId: string;
  enterpriseId?: string;
  appId?: string;
  /** Other teams or orgs whose full members may act (SLACK_ALLOWED_TEAMS). */
  allowedTeams: readonly string[];
}

/** Where a request says it comes from (before we look the user up). */
export interface RequestOrigin {
  teamId?: string;
  enterpriseId?: string;
  appId?: string;
  /** Set when a bot or workflow sent it. */
  botId?: string;
}

/**
 * Why this request may not act, or undefined when it may. Only full members of
 * the installing workspace (or its Enterprise Grid org, or a team admitted by
 * configuration) act: guests, people of other organisations in shared channels,
 * bots and workflows are refused, each with its reason.
 */
export function requestRefusal(origin: RequestOrigin, installation: Installation): string | undefined {
  if (origin.appId && installation.appId && origin.appId !== installation.appId) {
    return 'This request was made for another Slack app, not this installation of DR ChatOps. Nothing was done.';
  }
  if (origin.teamId && !ourTeam(origin.teamId, origin.enterpriseId, installation)) {
    return 'This request comes from a workspace this DR ChatOps is not installed for. Nothing was done.';
  }
  if (origin.botId) return 'Requests from bots and workflows are not accepted: a person has to ask. Nothing was done.';
  return undefined;
}

export function actorRefusal(user: SlackUser, installation: Installation): string | undefined {
  if (user.deleted) return 'Your Slack account is deactivated. Nothing was done.';
  if (user.isBot) return 'Requests from bots and workflows are not accepted: a person has to ask. Nothing was done.';
  if (user.isRestricted || user.isUltraRestricted) {
    return 'Guests cannot use DR ChatOps: it changes production. Ask a full member of the workspace (the incident commander or on-call). Nothing was done.';
  }
  if (!ourTeam(user.teamId, user.enterpriseId, installation)) {
    return 'You are a member of another organisation (a shared Slack Connect channel): only members of the workspace that installed DR ChatOps can use it here. Nothing was done.';
  }
  return undefined;
}

function ourTeam(teamId: string, enterpriseId: string | undefined, installation: Installation): boolean {
  if (teamId && (teamId === installation.teamId || installation.allowedTeams.includes(teamId))) return true;
  if (enterpriseId && ((installation.enterpriseId !== undefined && enterpriseId === installation.enterpriseId) || installation.allowedTeams.includes(enterpriseId))) return true;
  return false;
}
