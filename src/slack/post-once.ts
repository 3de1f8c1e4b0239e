/**
 * Posting a message once across crashes. chat.postMessage has no idempotency
 * key, so each message carries its own in `metadata`; a retry that may follow
 * a post whose success was never recorded first looks for that key in the
 * channel's recent history and adopts the message it finds.
 */
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { isPermanentRefusal, slackErrorCode } from './errors.ts';
import type { Block } from './views/message.ts';

export const MESSAGE_EVENT_TYPE = 'dr_chatops_message';

/** How far back a retry looks for its message: a crashed attempt is minutes old, not days. */
const HISTORY_LIMIT = 50;

const HistorySchema = z.object({
  messages: z
    .array(
      z.object({
        ts: z.string(),
        metadata: z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()).optional() }).optional(),
      }),
    )
    .default([]),
});

export function onceMetadata(key: string): { event_type: string; event_payload: { key: string } } {
  return { event_type: MESSAGE_EVENT_TYPE, event_payload: { key } };
}

/** The ts of the bot's message carrying `key` among the channel's latest messages, if there is one. */
export async function findPostedMessage(slack: WebClient, channel: string, key: string): Promise<string | undefined> {
  let answer: unknown;
  try {
    answer = await slack.conversations.history({ channel, include_all_metadata: true, limit: HISTORY_LIMIT });
  } catch (err) {
    // A refusal for good (an install without the history scopes: missing_scope) must not block the post
    // forever: then a rare repeat beats a message that never goes out. Passing failures are retried.
    if (isPermanentRefusal(slackErrorCode(err))) return undefined;
    throw err;
  }
  const history = HistorySchema.parse(answer);
  return history.messages.find((m) => m.metadata?.event_type === MESSAGE_EVENT_TYPE && m.metadata.event_payload?.key === key)?.ts;
}

/** The ts of the bot's reply carrying `key` in the thread of `threadTs`, if there is one (thread replies are not in the history). */
export async function findPostedReply(slack: WebClient, channel: string, threadTs: string, key: string): Promise<string | undefined> {
  let answer: unknown;
  try {
    answer = await slack.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: HISTORY_LIMIT });
  } catch (err) {
    if (isPermanentRefusal(slackErrorCode(err))) return undefined;
    throw err;
  }
  const replies = HistorySchema.parse(answer);
  return replies.messages.find((m) => m.ts !== threadTs && m.metadata?.event_type === MESSAGE_EVENT_TYPE && m.metadata.event_payload?.key === key)?.ts;
}

/** Where one keyed message's progress is recorded (the caller's store). */
export interface PostRecord {
  /** The ts once the post is recorded as done, or true when done without a ts kept. */
  posted(): Promise<string | true | undefined>;
  /** True if an attempt may already have posted (set just before posting). */
  attempted(): Promise<boolean>;
  markAttempted(): Promise<void>;
  /** Records success; set only after Slack confirmed the message. */
  markPosted(ts: string): Promise<void>;
}

export interface PostArgs {
  text: string;
  blocks?: Block[];
  thread_ts?: string;
}

/**
 * Posts `args` in `channel` once per `key` (unique in the channel), returning
 * the message's ts (undefined when it was recorded done without one).
 */
export async function postMessageOnce(slack: WebClient, record: PostRecord, channel: string, key: string, args: PostArgs): Promise<string | undefined> {
  const done = await record.posted();
  if (done) return done === true ? undefined : done;
  if (await record.attempted()) {
    // An earlier attempt may have posted and died before recording it.
    const found = await findPostedMessage(slack, channel, key);
    if (found) {
      await record.markPosted(found);
      return found;
    }
  } else {
    await record.markAttempted();
  }
  const posted = await slack.chat.postMessage({ ...args, channel, metadata: onceMetadata(key) });
  if (!posted.ts) throw new Error('Slack returned no ts for a posted message');
  await record.markPosted(posted.ts);
  return posted.ts;
}

/**
 * Posts `args` in `channel` unless a message carrying `key` is already among its
 * latest: for rare messages with no store of their own (warnings), where one
 * history read per post costs less than keeping a record.
 */
export async function postKeyedMessage(slack: WebClient, channel: string, key: string, args: PostArgs): Promise<string | undefined> {
  const found = await findPostedMessage(slack, channel, key);
  if (found) return found;
  const posted = await slack.chat.postMessage({ ...args, channel, metadata: onceMetadata(key) });
  return posted.ts;
}
