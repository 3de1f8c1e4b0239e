import type { WebClient } from '@slack/web-api';

/**
 * The link to a message (chat.getPermalink, which needs no scope), or
 * undefined when Slack does not give one: a link is a convenience, and its
 * absence never stops what it was for.
 */
export async function permalinkOf(client: WebClient, message: { channel: string; ts: string }): Promise<string | undefined> {
  try {
    const res = await client.chat.getPermalink({ channel: message.channel, message_ts: message.ts });
    return typeof res.permalink === 'string' && /^https:\/\//.test(res.permalink) ? res.permalink : undefined;
  } catch {
    return undefined;
  }
}
