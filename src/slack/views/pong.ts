import { context, type SlackMessage, section } from './message.ts';

export interface PongView {
  userId: string;
  requestedAt: number;
  pickedUpAt: number;
  worker: string;
}

/** The worker's answer to `/dr ping`: proves Slack → queue → worker → Slack, with timings. */
export function renderPong({ userId, requestedAt, pickedUpAt, worker }: PongView): SlackMessage {
  const queuedMs = Math.max(0, pickedUpAt - requestedAt);
  const text = `:white_check_mark: Pong <@${userId}>: command → queue → worker → Slack works (picked up after ${queuedMs} ms).`;
  return {
    text,
    blocks: [section(text), context(`Worker \`${worker}\` · requested ${new Date(requestedAt).toISOString()}`)],
  };
}
