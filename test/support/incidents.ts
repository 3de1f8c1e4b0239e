/**
 * Incident helpers for end-to-end tests: find an incident's summary in its
 * channel, and press its buttons as a person would (signed block actions).
 */
import { type FakeSlack, readable, type StoredMessage } from './fake-slack.ts';
import { sendBlockAction } from './slack-requests.ts';

/** The incident summary posted in `channel` (the message with the status block), once it is there. */
export async function waitForSummary(slack: FakeSlack, channel: string, timeoutMs = 15_000): Promise<{ ts: string; incidentId: string; message: StoredMessage }> {
  return slack.waitFor(() => {
    const message = [...slack.messages.values()].find((m) => m.channel === channel && /"block_id":"incident-(status|publish)"|Incident `inc-/.test(JSON.stringify(m.blocks ?? [])));
    const incidentId = message ? /Incident `([\w-]+)`/.exec(readable(message))?.[1] : undefined;
    return message && incidentId ? { ts: message.ts, incidentId, message } : undefined;
  }, timeoutMs);
}

let presses = 0;

/**
 * Presses "Publish to status page" on the summary as `userId` (after Slack's
 * confirmation dialog); resolves with the private answer's text, if any came.
 */
export async function pressPublish(botUrl: string, slack: FakeSlack, channel: string, userId: string, options: { waitForAnswerMs?: number } = {}): Promise<string | undefined> {
  const { ts, incidentId } = await waitForSummary(slack, channel);
  const id = `publish-${String(++presses)}-${String(Date.now())}`;
  const res = await sendBlockAction(botUrl, { actionId: 'incident.publish', value: incidentId, userId, channelId: channel, messageTs: ts, responseUrl: slack.responseUrl(id) });
  if (res.status !== 200) throw new Error(`publish click answered HTTP ${String(res.status)}`);
  if (!options.waitForAnswerMs) return undefined;
  const answer = await slack.waitFor(() => slack.responses.find((r) => r.id === id), options.waitForAnswerMs).catch(() => undefined);
  return answer ? String(answer.body.text) : undefined;
}

/** Lets `users` into a channel the bot created, as if they had joined it. */
export function joinChannel(slack: FakeSlack, channel: string, ...users: string[]): void {
  const created = slack.createdChannels.get(channel);
  if (!created) throw new Error(`the bot created no channel ${channel}`);
  for (const u of users) if (!created.members.includes(u)) created.members.push(u);
}
