import { describe, expect, it } from 'vitest';
import { slackBodyProblem, socketEnvelopeProblem, timestampProblem } from '../../../src/slack/payload-shape.ts';

const NOW_MS = 1_796_000_000_000;
const NOW = String(NOW_MS / 1000);

describe('timestampProblem: plain integers at most 5 minutes ahead', () => {
  it.each([NOW, String(NOW_MS / 1000 + 300), String(NOW_MS / 1000 - 3600), '1'])('accepts %s (the past is Bolt’s to judge)', (header) => {
    expect(timestampProblem(header, NOW_MS)).toBeUndefined();
  });
  it.each([`${NOW}.5`, '1e9', ` ${NOW}`, `${NOW} `, `+${NOW}`, `-${NOW}`, `0${NOW}`, '0x6b0ea9a6', '', 'soon', `${NOW}, ${NOW}`, '9'.repeat(13)])('refuses %j as not a plain integer', (header) => {
    expect(timestampProblem(header, NOW_MS)).toBe('is not a plain integer (Unix seconds)');
  });
  it('refuses more than 5 minutes ahead', () => {
    expect(timestampProblem(String(NOW_MS / 1000 + 301), NOW_MS)).toBe('is more than 5 minutes in the future');
  });
  it('refuses a header sent twice', () => {
    expect(timestampProblem([NOW, NOW], NOW_MS)).toBeDefined();
  });
});

const user = { id: 'U0ALICE001', team_id: 'T0FAKE0001' };

describe('slackBodyProblem: the shapes Bolt handles', () => {
  it.each([
    ['a slash command', { command: '/dr', text: 'help', user_id: 'U0ALICE001', channel_id: 'C1', team_id: 'T1' }],
    ['an ssl_check', { ssl_check: '1', token: 'x' }],
    ['a url_verification', { type: 'url_verification', challenge: 'abc' }],
    ['an event', { type: 'event_callback', event: { type: 'app_home_opened', user: 'U0ALICE001', channel: 'D1' }, authorizations: [{ team_id: 'T1' }] }],
    ['an event with a channel object', { type: 'event_callback', event: { type: 'channel_created', channel: { id: 'C1', creator: 'U1' } } }],
    ['a button click', { type: 'block_actions', user, team: { id: 'T1' }, channel: { id: 'C1' }, actions: [{ action_id: 'run.approve' }] }],
    ['a button click in a modal (no channel)', { type: 'block_actions', user, actions: [{ action_id: 'x' }], view: { id: 'V1' } }],
    ['an org-wide install (team null)', { type: 'view_submission', user, team: null, enterprise: null, view: { id: 'V1' } }],
    ['a shortcut', { type: 'shortcut', user, callback_id: 'x' }],
    ['a block_suggestion', { type: 'block_suggestion', user, value: 'a' }],
  ])('accepts %s', (_name, body) => {
    expect(slackBodyProblem(body)).toBeUndefined();
  });

  it.each([
    ['null', null, 'the body is null, not an object'],
    ['1', 1, 'the body is a number, not an object'],
    ['"x"', 'x', 'the body is a string, not an object'],
    ['[]', [], 'the body is an array, not an object'],
    ['{}', {}, 'the body has no type'],
    ['an empty type', { type: '' }, 'the body has no type'],
    ['a non-string type', { type: 5 }, 'the body has no type'],
    ['a command array', { command: ['/dr', '/dr'] }, '`command` of a slash command is an array, not a string'],
    ['a command without a slash', { command: 'dr' }, 'a slash command whose `command` does not start with /'],
    ['text as a number', { command: '/dr', text: 1 }, '`text` of a slash command is a number, not a string'],
    ['event null', { type: 'event_callback', event: null }, '`event` is null, not an object'],
    ['an event with no type', { type: 'event_callback', event: {} }, 'the event has no type'],
    ['event.user null', { type: 'event_callback', event: { type: 'message', user: null } }, '`event.user` is null'],
    ['event.item a string', { type: 'event_callback', event: { type: 'reaction_added', item: 'x' } }, 'in the event, `item` is a string, not an object'],
    ['authorizations [null]', { type: 'event_callback', event: { type: 'message' }, authorizations: [null] }, '`authorizations` is not a list of objects'],
    ['an event under another type', { type: 'block_actions', event: 'x' }, '`event` is a string, not an object'],
    ['block_actions without user', { type: 'block_actions', actions: [{}] }, '`user` of a block_actions is missing, not an object'],
    ['channel null', { type: 'block_actions', user, channel: null, actions: [{}] }, '`channel` is null, not an object'],
    ['team a string', { type: 'block_actions', user, team: 'T1', actions: [{}] }, '`team` is a string, not an object'],
    ['actions empty', { type: 'block_actions', user, actions: [] }, '`actions` is not a non-empty list of objects'],
    ['actions [null]', { type: 'block_actions', user, actions: [null] }, '`actions` is not a non-empty list of objects'],
    ['view null', { type: 'view_submission', user, view: null }, '`view` of a view_submission is null, not an object'],
    ['url_verification without challenge', { type: 'url_verification' }, 'a url_verification without a challenge'],
    ['an unknown type', { type: 'app_rate_limited' }, 'type "app_rate_limited" is not one the bot handles'],
  ])('refuses %s', (_name, body, reason) => {
    expect(slackBodyProblem(body)).toBe(reason);
  });
});

describe('socketEnvelopeProblem: what the Socket Mode client may be handed', () => {
  const command = { command: '/dr', text: 'help', user_id: 'U1' };
  it.each([
    ['hello', { type: 'hello' }],
    ['disconnect', { type: 'disconnect', reason: 'refresh_requested' }],
    ['a slash command', { type: 'slash_commands', envelope_id: 'e1', payload: command }],
    ['an event', { type: 'events_api', envelope_id: 'e1', payload: { type: 'event_callback', event: { type: 'app_home_opened' } } }],
    ['an interaction', { type: 'interactive', envelope_id: 'e1', payload: { type: 'block_actions', user, actions: [{}] } }],
  ])('passes %s', (_name, message) => {
    expect(socketEnvelopeProblem(message)).toBeUndefined();
  });
  it.each([
    ['null', null],
    ['a number', 1],
    ['no type', {}],
    ['an unknown envelope type', { type: 'error', envelope_id: 'e1', payload: command }],
    ['no envelope id', { type: 'slash_commands', payload: command }],
    ['payload null', { type: 'slash_commands', envelope_id: 'e1', payload: null }],
    ['events_api payload null', { type: 'events_api', envelope_id: 'e1', payload: null }],
    ['events_api without event', { type: 'events_api', envelope_id: 'e1', payload: { type: 'event_callback' } }],
    ['events_api event null', { type: 'events_api', envelope_id: 'e1', payload: { type: 'event_callback', event: null } }],
    ['an event named like a client state', { type: 'events_api', envelope_id: 'e1', payload: { type: 'event_callback', event: { type: 'connected' } } }],
    ['an event named error', { type: 'events_api', envelope_id: 'e1', payload: { type: 'event_callback', event: { type: 'error' } } }],
  ])('refuses %s', (_name, message) => {
    expect(socketEnvelopeProblem(message)).toBeDefined();
  });
});
