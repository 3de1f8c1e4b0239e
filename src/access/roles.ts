/**
 * Who holds which role. One place maps Slack users and user groups to the
 * roles the bot checks (docs/security.md). A role's members are written as a
 * comma-separated list: Slack user ids (`U012ABCDEF`), user-group handles
 * (`@sre-oncall`), or `*` for every full member of the workspace. An empty list
 * means nobody: a fresh install grants nothing it was not told to.
 */
export const ROLE_NAMES = ['requesters', 'approvers', 'responders', 'publishers'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** The setting that fills each role. */
export const ROLE_SETTINGS: Readonly<Record<RoleName, string>> = {
  requesters: 'DR_REQUESTERS',
  approvers: 'DR_APPROVERS',
  responders: 'DR_RESPONDERS',
  publishers: 'DR_PUBLISHERS',
};

export interface RoleMembers {
  /** Every full member of the installing workspace. */
  readonly anyone?: boolean;
  readonly users: readonly string[];
  /** User-group handles, without the `@`. */
  readonly groups: readonly string[];
}

export type Roles = Readonly<Record<RoleName, RoleMembers>>;

export const NOBODY: RoleMembers = { anyone: false, users: [], groups: [] };

const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const GROUP_HANDLE = /^@[a-z0-9._-]{1,80}$/;

/** Parses `U0123,@sre-oncall,*`; returns the problem instead when an entry is neither. */
export function parseMembers(text: string): RoleMembers | { problem: string } {
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  const users: string[] = [];
  const groups: string[] = [];
  let anyone = false;
  for (const entry of entries) {
    if (entry === '*') anyone = true;
    else if (USER_ID.test(entry)) users.push(entry);
    else if (GROUP_HANDLE.test(entry)) groups.push(entry.slice(1));
    else return { problem: `\`${entry.slice(0, 40)}\` is neither a user id (U012ABCDEF), a user group (@sre-oncall) nor *` };
  }
  return { anyone, users: [...new Set(users)], groups: [...new Set(groups)] };
}

/** Whether anybody at all holds the role. */
export function isEmpty(members: RoleMembers): boolean {
  return !members.anyone && members.users.length === 0 && members.groups.length === 0;
}

/** `<@U1>, members of @sre-oncall`, `any full member of the workspace`, or `nobody`, for plans and refusals. */
export function describeMembers(members: RoleMembers): string {
  if (members.anyone) return 'any full member of the workspace';
  const names = [...members.users.map((u) => `<@${u}>`), ...members.groups.map((g) => `members of @${g}`)];
  return names.length ? names.join(', ') : 'nobody';
}

/** Whether a user (with the groups they were found in) holds the role. */
export function holds(members: RoleMembers, userId: string, userGroups: readonly string[]): boolean {
  return members.anyone === true || members.users.includes(userId) || userGroups.some((g) => members.groups.includes(g));
}
