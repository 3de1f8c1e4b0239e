import { describe, expect, it } from 'vitest';
import { actorRefusal, requestRefusal, type Installation, type SlackUser } from '../../../src/access/actor.ts';
import { describeMembers, holds, parseMembers } from '../../../src/access/roles.ts';
import { loadConfig } from '../../../src/config/load.ts';

const CREDENTIALS = { SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' };

describe('roles', () => {
  it('a fresh install: anyone may request, nobody may approve, respond or publish', () => {
    const { roles } = loadConfig({ env: CREDENTIALS });
    expect(describeMembers(roles.requesters)).toBe('any full member of the workspace');
    for (const role of [roles.approvers, roles.responders, roles.publishers]) {
      expect(describeMembers(role)).toBe('nobody');
      expect(holds(role, 'U0ALICE001', ['sre-oncall'])).toBe(false);
    }
  });

  it('reads users, @groups and * from the environment and as YAML lists', () => {
    const { roles } = loadConfig({ env: { ...CREDENTIALS, DR_APPROVERS: 'U0ALICE001, @sre-oncall', DR_PUBLISHERS: '*' } });
    expect(holds(roles.approvers, 'U0ALICE001', [])).toBe(true);
    expect(holds(roles.approvers, 'U0BOB00001', [])).toBe(false);
    expect(holds(roles.approvers, 'U0BOB00001', ['sre-oncall'])).toBe(true);
    expect(describeMembers(roles.approvers)).toBe('<@U0ALICE001>, members of @sre-oncall');
    expect(holds(roles.publishers, 'U0ANYONE01', [])).toBe(true);
    expect(parseMembers('@a, U0X1, @a')).toEqual({ anyone: false, users: ['U0X1'], groups: ['a'] });
  });

  it('names a bad entry by its setting', () => {
    expect(() => loadConfig({ env: { ...CREDENTIALS, DR_APPROVERS: 'alice' } })).toThrow(/DR_APPROVERS: `alice` is neither a user id/);
    expect(() => loadConfig({ env: { ...CREDENTIALS, SLACK_RUN_CHANNELS: 'C0RUNS00001,everywhere' } })).toThrow(/SLACK_RUN_CHANNELS/);
    expect(loadConfig({ env: { ...CREDENTIALS, SLACK_RUN_CHANNELS: 'C0RUNS00001, incidents' } }).slack.runChannels).toEqual(['C0RUNS00001', 'incidents']);
    expect(loadConfig({ env: { ...CREDENTIALS, SLACK_RUN_CHANNELS: '*,dms' } }).slack.runChannels).toEqual(['*', 'dms']);
    expect(() => loadConfig({ env: { ...CREDENTIALS, SLACK_RUN_CHANNELS: '*,dm' } })).toThrow(/SLACK_RUN_CHANNELS/);
  });
});

describe('who may act', () => {
  const installation: Installation = { teamId: 'T0OURS0001', enterpriseId: 'E0OURORG01', appId: 'A0DRCHATOP', allowedTeams: ['T0SISTER01'] };
  const member: SlackUser = { id: 'U1', name: 'alice', teamId: 'T0OURS0001', deleted: false, isBot: false, isRestricted: false, isUltraRestricted: false };

  it('admits full members of our team, our org, and admitted teams', () => {
    expect(actorRefusal(member, installation)).toBeUndefined();
    expect(actorRefusal({ ...member, teamId: 'T0OTHERWS1', enterpriseId: 'E0OURORG01' }, installation)).toBeUndefined();
    expect(actorRefusal({ ...member, teamId: 'T0SISTER01' }, installation)).toBeUndefined();
  });

  it.each([
    [{ isRestricted: true }, 'Guests'],
    [{ isUltraRestricted: true }, 'Guests'],
    [{ isBot: true }, 'bots and workflows'],
    [{ deleted: true }, 'deactivated'],
    [{ teamId: 'T0STRANGER' }, 'another organisation'],
    [{ teamId: 'T0STRANGER', enterpriseId: 'E0THEIRORG' }, 'another organisation'],
  ])('refuses %o', (change, reason) => {
    expect(actorRefusal({ ...member, ...change }, installation)).toContain(reason);
  });

  it('refuses requests for another app or team, and from bots', () => {
    expect(requestRefusal({ teamId: 'T0OURS0001', appId: 'A0DRCHATOP' }, installation)).toBeUndefined();
    expect(requestRefusal({ teamId: 'T0OURS0001', appId: 'A0SOMEAPP1' }, installation)).toContain('another Slack app');
    expect(requestRefusal({ teamId: 'T0STRANGER' }, installation)).toContain('not installed for');
    expect(requestRefusal({ teamId: 'T0STRANGER', enterpriseId: 'E0OURORG01' }, installation)).toBeUndefined();
    expect(requestRefusal({ teamId: 'T0OURS0001', botId: 'B0WORKFLOW' }, installation)).toContain('bots and workflows');
  });
});
