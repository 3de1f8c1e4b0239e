import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import type { SlackUser } from '../access/actor.ts';
import { UserError } from '../errors.ts';
import { withTimeout } from '../queue/connection.ts';

const UserInfo = z.object({
  id: z.string(),
  name: z.string().optional(),
  real_name: z.string().optional(),
  team_id: z.string().optional(),
  deleted: z.boolean().optional(),
  is_bot: z.boolean().optional(),
  is_app_user: z.boolean().optional(),
  is_restricted: z.boolean().optional(),
  is_ultra_restricted: z.boolean().optional(),
  enterprise_user: z.object({ enterprise_id: z.string().optional() }).optional(),
});

const ChannelInfo = z.object({ id: z.string(), is_private: z.boolean().optional(), is_im: z.boolean().optional(), is_mpim: z.boolean().optional() });

/** At most a minute: a guest demotion takes effect within it. Group membership is never cached (decisions rest on it). */
export const DIRECTORY_TTL_MS = 60_000;

/** How long a decision waits for Slack to say which user groups someone is in before it is refused. */
export const GROUPS_TIMEOUT_MS = 5_000;

/** What a conversation is: a channel (public or private), or a DM or group DM the team does not see. */
export interface Conversation {
  private: boolean;
  dm: boolean;
}

interface Cached<T> {
  at: number;
  value: T;
}

/**
 * Users, channels and user groups as Slack knows them (users:read,
 * channels:read, groups:read, im:read, mpim:read, usergroups:read). Users and
 * channels are cached for at most a minute so checks stay inside Slack's
 * 3-second window and rate limits; user-group membership is asked every time,
 * because it decides who may request, approve, cancel or publish.
 */
export class SlackDirectory {
  private readonly users = new Map<string, Cached<Promise<SlackUser>>>();
  private readonly channels = new Map<string, Cached<Promise<Conversation>>>();
  private readonly members = new Map<string, Cached<Promise<Set<string>>>>();
  private readonly client: WebClient;
  private readonly now: () => number;

  constructor(client: WebClient, now: () => number = Date.now) {
    this.client = client;
    this.now = now;
  }

  /** The user, from `users.info`; rejects when Slack does not know them. */
  async user(id: string): Promise<SlackUser> {
    return this.cached(this.users, id, async () => {
      const res = await this.client.users.info({ user: id });
      const u = UserInfo.parse(res.user);
      return {
        id: u.id,
        name: u.name ?? u.real_name ?? u.id,
        teamId: u.team_id ?? '',
        ...(u.enterprise_user?.enterprise_id ? { enterpriseId: u.enterprise_user.enterprise_id } : {}),
        deleted: u.deleted === true,
        isBot: u.is_bot === true || u.is_app_user === true,
        isRestricted: u.is_restricted === true,
        isUltraRestricted: u.is_ultra_restricted === true,
      };
    });
  }

  /** Whether a channel is private (private channels, DMs and group DMs). */
  async isPrivate(channelId: string): Promise<boolean> {
    return (await this.conversation(channelId)).private;
  }

  /** What kind of conversation a channel id is, by Slack's answer (a group DM's id may start with C or G, like a channel's). */
  async conversation(channelId: string): Promise<Conversation> {
    return this.cached(this.channels, channelId, async () => {
      const res = await this.client.conversations.info({ channel: channelId });
      const c = ChannelInfo.parse(res.channel);
      const dm = c.is_im === true || c.is_mpim === true;
      return { private: c.is_private === true || dm, dm };
    });
  }

  /** Whether a user is a member of a channel (`conversations.members`, every page). */
  async isMember(channelId: string, userId: string): Promise<boolean> {
    const members = await this.cached(this.members, channelId, async () => {
      const ids = new Set<string>();
      let cursor: string | undefined;
      do {
        const res = await this.client.conversations.members({ channel: channelId, limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const m of res.members ?? []) ids.add(m);
        cursor = res.response_metadata?.next_cursor || undefined;
      } while (cursor);
      return ids;
    });
    return members.has(userId);
  }

  /**
   * The subset of `handles` whose user group contains `userId`, asked of Slack
   * now (`usergroups.list`, then `usergroups.users.list` per group): someone
   * removed from a group is out at once. When Slack does not answer within
   * `timeoutMs`, a UserError refuses: nothing is granted on doubt.
   */
  async groupsOf(userId: string, handles: readonly string[], timeoutMs = GROUPS_TIMEOUT_MS): Promise<string[]> {
    if (handles.length === 0) return [];
    try {
      return await withTimeout(this.askGroupsOf(userId, handles), timeoutMs, 'Reading user groups');
    } catch {
      throw new UserError('Slack did not say just now which user groups you are in, so DR ChatOps cannot tell whether you may do this. Nothing was done; try again in a moment.');
    }
  }

  private async askGroupsOf(userId: string, handles: readonly string[]): Promise<string[]> {
    const res = await this.client.usergroups.list({ include_disabled: false });
    const ids = new Map((res.usergroups ?? []).flatMap((g) => (g.handle && g.id ? [[g.handle, g.id] as const] : [])));
    const found: string[] = [];
    for (const handle of handles) {
      const id = ids.get(handle);
      if (!id) continue;
      const members = await this.client.usergroups.users.list({ usergroup: id });
      if ((members.users ?? []).includes(userId)) found.push(handle);
    }
    return found;
  }

  /** Answers from the cache; concurrent misses for one key share one call to Slack, and a failure is not kept. */
  private async cached<T>(map: Map<string, Cached<Promise<T>>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (hit && this.now() - hit.at < DIRECTORY_TTL_MS) return hit.value;
    const value = load();
    map.set(key, { at: this.now(), value });
    value.catch(() => {
      if (map.get(key)?.value === value) map.delete(key);
    });
    // Bounded: a flood of distinct ids cannot grow the cache without limit.
    if (map.size > 5_000) map.delete(map.keys().next().value as string);
    return value;
  }
}
