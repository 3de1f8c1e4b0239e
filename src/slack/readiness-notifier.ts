import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';
import type { ReadinessStore } from '../readiness/store.ts';
import type { NotifyTransition } from '../readiness/transitions.ts';
import { type PostRecord, postMessageOnce } from './post-once.ts';
import { renderReadinessNotice } from './views/readiness-notice.ts';

export interface ReadinessNotifierOptions {
  slack: WebClient;
  /** DR_READINESS_CHANNEL; unset: nothing is posted. */
  channel: string | undefined;
  store: Pick<ReadinessStore, 'noticeMark' | 'setNoticeMark'>;
  slash: string;
  logger: Logger;
}

/**
 * Tells readiness transitions in the readiness channel: one message per item
 * turning red or green, posted once across crashes (a retry after an attempt
 * that may have posted looks for the message's key in the channel first).
 * Nothing goes anywhere else (no status page: readiness is the team's, not
 * the public's). Without a channel it says so once, at start, and tells
 * nothing; history and metrics are kept all the same.
 */
export function createReadinessNotifier(o: ReadinessNotifierOptions): NotifyTransition {
  const { channel } = o;
  if (!channel) {
    o.logger.info('DR_READINESS_CHANNEL is not set: readiness items turning red or green are not posted (their history and metrics are kept)');
    return () => Promise.resolve();
  }
  return async (transition) => {
    const message = renderReadinessNotice(transition, o.slash);
    const record: PostRecord = {
      posted: () => o.store.noticeMark(transition.key, 'ts'),
      attempted: async () => (await o.store.noticeMark(transition.key, 'attempted')) !== undefined,
      markAttempted: () => o.store.setNoticeMark(transition.key, 'attempted', String(Date.now())),
      markPosted: (ts) => o.store.setNoticeMark(transition.key, 'ts', ts),
    };
    await postMessageOnce(o.slack, record, channel, `readiness:${transition.key}`, { text: message.text, blocks: message.blocks ?? [] });
  };
}
