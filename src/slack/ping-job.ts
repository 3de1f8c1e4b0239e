import type { WebClient } from '@slack/web-api';
import type { Job } from 'bullmq';
import type { Logger } from '../log/logger.ts';
import { PingJobSchema } from '../queue/names.ts';
import { slackErrorCode } from './errors.ts';
import { findPostedMessage, onceMetadata } from './post-once.ts';
import { renderPong } from './views/pong.ts';

export interface PingDeps {
  slack: WebClient;
  logger: Logger;
  workerName: string;
  now?: () => number;
}

export interface PingResult {
  via: 'channel' | 'response_url';
  ts?: string;
}

/** Slack errors meaning "the bot may not post here", where the command's response_url still works. */
const CANNOT_POST_IN_CHANNEL = new Set(['not_in_channel', 'channel_not_found', 'is_archived', 'restricted_action']);

/**
 * Answers `/dr ping` in the channel it came from. If the bot is not a member of
 * a private channel, it answers through the command's response_url instead and
 * says how to invite it.
 */
export async function processPing(job: Job, { slack, logger, workerName, now = Date.now }: PingDeps): Promise<PingResult> {
  const data = PingJobSchema.parse(job.data);
  const message = renderPong({ userId: data.userId, requestedAt: data.requestedAt, pickedUpAt: now(), worker: workerName });
  // A retried job (a worker that stopped after posting) finds its answer by the key in its metadata.
  const key = `ping:${job.id ?? data.requestedAt}`;
  try {
    const posted = job.attemptsMade > 0 ? await findPostedMessage(slack, data.channelId, key) : undefined;
    if (posted) return { via: 'channel', ts: posted };
    const res = await slack.chat.postMessage({ channel: data.channelId, text: message.text, blocks: message.blocks, metadata: onceMetadata(key) });
    return res.ts ? { via: 'channel', ts: res.ts } : { via: 'channel' };
  } catch (err) {
    const code = slackErrorCode(err);
    if (!code || !CANNOT_POST_IN_CHANNEL.has(code) || !data.responseUrl) throw err;
    logger.warn({ jobId: job.id, channel: data.channelId, error: code }, 'cannot post in channel; answering via response_url');
    const res = await fetch(data.responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        response_type: 'in_channel',
        text: code === 'is_archived' ? `${message.text}\n_This channel is archived: I cannot post run progress here._` : `${message.text}\n_I am not a member of this channel: invite me with \`/invite @DR ChatOps\` so I can post run progress here._`,
      }),
    });
    if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`, { cause: err });
    return { via: 'response_url' };
  }
}
