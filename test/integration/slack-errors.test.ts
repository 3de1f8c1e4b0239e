import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainSlackError, slackErrorCode } from '../../src/slack/errors.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';

/** What a person is told when Slack refuses a post: the reason Slack gave, never a guessed one. */
describe('Slack refusals, told as they are', () => {
  let slack: FakeSlack;
  let client: WebClient;

  const refusal = async (channel: string): Promise<unknown> => {
    try {
      await client.chat.postMessage({ channel, text: 'plan' });
    } catch (err) {
      return err;
    }
    throw new Error('the post was not refused');
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    client = new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    slack.setChannel('C0ARCHIVED1', { archived: true });
    slack.setChannel('C0NOTMEMBER', { botIsMember: false });
    slack.setChannel('C0PRIVATE01', { isPrivate: true, botIsMember: false });
  });
  afterAll(async () => {
    await slack.stop();
  });

  it('an archived channel is said to be archived, with no advice to invite the bot', async () => {
    const err = await refusal('C0ARCHIVED1');
    expect(slackErrorCode(err)).toBe('is_archived');
    expect(explainSlackError(err)).toContain('archived');
    expect(explainSlackError(err)).not.toContain('/invite');
  });

  it('a channel the bot is not in, or a private one it cannot see, asks for an invitation', async () => {
    expect(explainSlackError(await refusal('C0NOTMEMBER'))).toContain('not a member of this channel');
    const hidden = explainSlackError(await refusal('C0PRIVATE01'));
    expect(hidden).toContain('`channel_not_found`');
    expect(hidden).toContain('/invite @DR ChatOps');
  });

  it('a code the bot does not know is named as it is, not explained away', async () => {
    slack.failNext('chat.postMessage', { error: 'team_access_not_granted' });
    const told = explainSlackError(await refusal('C0GENERAL01'));
    expect(told).toContain('`team_access_not_granted`');
    expect(told).not.toContain('/invite');
  });

  it('an error that is not Slack\'s is not blamed on Slack', () => {
    expect(explainSlackError(new Error('redis down'))).not.toContain('Slack');
  });
});
