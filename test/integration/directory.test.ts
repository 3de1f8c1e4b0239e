import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { DIRECTORY_TTL_MS, SlackDirectory } from '../../src/slack/directory.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';

describe('the Slack directory: who someone is, at most a minute old', () => {
  let slack: FakeSlack;
  let now = 1_000_000;
  let directory: SlackDirectory;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    const client = createSlackClient({ token: BOT_TOKEN, apiUrl: slack.apiUrl, logger: createLogger({ level: 'silent' }) });
    directory = new SlackDirectory(client, () => now);
  });
  afterAll(async () => slack.stop());

  it('asks Slack once for a burst of requests from one person', async () => {
    const users = await Promise.all(Array.from({ length: 50 }, () => directory.user('U0ALICE001')));
    expect(users.every((u) => u.teamId === 'T0FAKE0001' && !u.isRestricted)).toBe(true);
    expect(slack.callsTo('users.info')).toHaveLength(1);
  });

  it('sees a demotion to guest once the minute has passed, not before', async () => {
    slack.addUser('U0BOB00001');
    expect((await directory.user('U0BOB00001')).isRestricted).toBe(false);
    slack.addUser('U0BOB00001', { is_restricted: true });
    now += DIRECTORY_TTL_MS - 1;
    expect((await directory.user('U0BOB00001')).isRestricted).toBe(false);
    now += 1;
    expect((await directory.user('U0BOB00001')).isRestricted).toBe(true);
  });

  it('does not keep a failed lookup: the next request asks again', async () => {
    slack.failNext('users.info', { error: 'fatal_error' });
    await expect(directory.user('U0CAROL001')).rejects.toThrow();
    expect((await directory.user('U0CAROL001')).id).toBe('U0CAROL001');
  });

  it('reads group membership and channel privacy from Slack', async () => {
    slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: ['U0CAROL001'] });
    slack.setChannel('C0SECRET001', { isPrivate: true });
    expect(await directory.groupsOf('U0CAROL001', ['sre-oncall', 'dba'])).toEqual(['sre-oncall']);
    expect(await directory.groupsOf('U0ALICE001', ['sre-oncall'])).toEqual([]);
    expect(await directory.isPrivate('C0SECRET001')).toBe(true);
    expect(await directory.isPrivate('C0PUBLIC001')).toBe(false);
  });

  it('asks Slack for group membership every time: someone removed is out at once', async () => {
    slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: ['U0BOB00001'] });
    expect(await directory.groupsOf('U0BOB00001', ['dr-approvers'])).toEqual(['dr-approvers']);
    slack.userGroups.set('dr-approvers', { id: 'S0APPROVERS', users: [] });
    expect(await directory.groupsOf('U0BOB00001', ['dr-approvers'])).toEqual([]);
  });

  it('refuses, saying so, when Slack does not say who is in a group', async () => {
    slack.failNext('usergroups.users.list', { error: 'fatal_error' });
    await expect(directory.groupsOf('U0BOB00001', ['dr-approvers'])).rejects.toThrow('Slack did not say just now which user groups you are in');
  });

  it('tells DMs and group DMs from channels by what Slack says, whatever the id looks like', async () => {
    slack.setChannel('C0GROUPDM01', { kind: 'mpim' });
    slack.setChannel('C0PRIVCHAN1', { isPrivate: true });
    expect(await directory.conversation('D0BOBDM0001')).toEqual({ private: true, dm: true });
    expect(await directory.conversation('C0GROUPDM01')).toEqual({ private: true, dm: true });
    expect(await directory.conversation('C0PRIVCHAN1')).toEqual({ private: true, dm: false });
    expect(await directory.conversation('C0PUBLIC002')).toEqual({ private: false, dm: false });
  });
});
