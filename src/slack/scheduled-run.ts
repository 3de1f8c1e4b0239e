import type { WebClient } from '@slack/web-api';
import { UserError } from '../errors.ts';
import type { Run } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { explainSlackError, isPermanentRefusal, slackErrorCode } from './errors.ts';
import { postMessageOnce } from './post-once.ts';
import { renderRunMessage } from './views/run.ts';

/**
 * Posts a scheduled run's message in its schedule's channel, once however
 * often the fire is retried (the message carries the same key a slash
 * command's plan does), and makes it the run's message: from then on the
 * bot's notifier keeps it current like any other. The run may have moved on
 * while it was posted, before the notifier knew the message: it is then
 * brought up to date here. A refusal for good (no such channel, the bot not in
 * it) is a UserError saying so; anything else is thrown to be retried.
 */
export async function postScheduledRun(slack: WebClient, store: RunStore, run: Run, channel: string): Promise<void> {
  if (run.message) return;
  const attempt = `scheduled-post:${run.id}`;
  const posted = renderRunMessage(run, Date.now());
  let ts: string | undefined;
  try {
    ts = await postMessageOnce(
      slack,
      {
        posted: async () => (await store.get(run.id))?.message?.ts,
        attempted: () => store.claimed(attempt),
        markAttempted: async () => {
          await store.once(attempt);
        },
        markPosted: (at) => store.setMessage(run.id, { channel, ts: at }),
      },
      channel,
      `run:${run.id}:plan`,
      { text: posted.text, blocks: posted.blocks ?? [] },
    );
  } catch (err) {
    if (isPermanentRefusal(slackErrorCode(err))) throw new UserError(`Its run's message could not be posted in <#${channel}>. ${explainSlackError(err)}`);
    throw err;
  }
  const now = await store.get(run.id);
  if (!ts || !now || (now.state === run.state && JSON.stringify(now.steps) === JSON.stringify(run.steps))) return;
  const current = renderRunMessage(now, Date.now());
  // Best effort: a run still going is updated again by the notifier at its next event.
  await slack.chat.update({ channel, ts, text: current.text, blocks: current.blocks ?? [] }).catch(() => undefined);
}
