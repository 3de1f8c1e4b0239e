import type { WebClient } from '@slack/web-api';

/**
 * Which approver user groups a person belongs to, from the Slack API
 * (`usergroups.list`, `usergroups.users.list`; scope usergroups:read), cached
 * for a few minutes: approval clicks stay fast and within rate limits.
 */
export class UserGroups {
  private handles: { at: number; ids: Map<string, string> } | undefined;
  private readonly members = new Map<string, { at: number; users: Set<string> }>();
  private readonly client: WebClient;
  private readonly ttlMs: number;

  constructor(client: WebClient, ttlMs = 5 * 60_000) {
    this.client = client;
    this.ttlMs = ttlMs;
  }

  /** The subset of `handles` whose group contains `userId`. */
  async groupsOf(userId: string, handles: readonly string[]): Promise<string[]> {
    if (handles.length === 0) return [];
    const ids = await this.handleIds();
    const found: string[] = [];
    for (const handle of handles) {
      const id = ids.get(handle);
      if (id && (await this.usersOf(id)).has(userId)) found.push(handle);
    }
    return found;
  }

  private async handleIds(): Promise<Map<string, string>> {
    if (this.handles && Date.now() - this.handles.at < this.ttlMs) return this.handles.ids;
    const res = await this.client.usergroups.list({ include_disabled: false });
    const ids = new Map((res.usergroups ?? []).flatMap((g) => (g.handle && g.id ? [[g.handle, g.id] as const] : [])));
    this.handles = { at: Date.now(), ids };
    return ids;
  }

  private async usersOf(groupId: string): Promise<Set<string>> {
    const cached = this.members.get(groupId);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.users;
    const res = await this.client.usergroups.users.list({ usergroup: groupId });
    const users = new Set(res.users ?? []);
    this.members.set(groupId, { at: Date.now(), users });
    return users;
  }
}
