import { describe, expect, it } from 'vitest';
import { sourceFiles, yamlDocs } from './files.ts';

/**
 * The Slack app manifest asks for exactly the bot scopes the code's Web API
 * calls need: every method called in src/ has a scope that allows it, and
 * every scope is needed by a call (or by the slash command).
 *
 * Which scopes allow a method, from each method's page on api.slack.com
 * ("Required scopes", bot tokens). Methods needing none are listed as [].
 */
const METHOD_SCOPES: Record<string, string[]> = {
  'auth.test': [],
  'bots.info': ['users:read'],
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.getPermalink': [],
  'conversations.create': ['channels:manage', 'groups:write'],
  'conversations.invite': ['channels:manage', 'groups:write'],
  'conversations.history': ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
  'conversations.replies': ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
  'conversations.info': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  'conversations.list': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  'conversations.members': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  'files.getUploadURLExternal': ['files:write'],
  'files.completeUploadExternal': ['files:write'],
  'pins.add': ['pins:write'],
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
  'users.info': ['users:read'],
  'users.list': ['users:read'],
  'views.open': [],
  'views.publish': [],
};

/**
 * Scopes the code needs beyond one method's own: the slash command, posting in
 * public channels the bot has not joined (chat:write.public), and reading
 * private channels, DMs and group DMs (conversations.info / .members on a
 * private incident channel or where a command was typed).
 */
const ALSO_NEEDED: Record<string, string> = {
  commands: 'the /dr slash command',
  'chat:write.public': 'run and incident messages in public channels the bot was not invited to',
  'groups:read': 'conversations.info / members of private channels',
  'im:read': 'conversations.info of a DM where /dr was typed',
  'mpim:read': 'conversations.info of a group DM where /dr was typed',
  'groups:history': 'conversations.history of a private incident channel',
};

const FAMILIES = 'chat|conversations|users|usergroups|bots|auth|files|pins|reactions|views|team|apps|reminders|dnd|emoji|search|stars|admin';

function methodsCalled(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of sourceFiles('src')) {
    // Slack Web API calls go through a WebClient named client, slack or web (this.client, o.slack, app.client…).
    for (const m of file.text.matchAll(new RegExp(`\\b(?:client|slack|web)\\.((?:${FAMILIES})(?:\\.[a-zA-Z]+)+)\\(`, 'g'))) {
      const method = m[1] ?? '';
      if (!used.has(method)) used.set(method, file.path);
    }
    // Calls split over lines: `.client\n  .chat\n  .postEphemeral(` (prettier's chains).
    for (const m of file.text.matchAll(new RegExp(`\\b(?:client|slack|web)\\s*\\.(${FAMILIES})\\s*\\n\\s*\\.([a-zA-Z]+)\\(`, 'g'))) {
      const method = `${m[1] ?? ''}.${m[2] ?? ''}`;
      if (!used.has(method)) used.set(method, file.path);
    }
  }
  return used;
}

const manifest = yamlDocs('deploy/slack-manifest.yaml')[0]?.value as { oauth_config?: { scopes?: { bot?: string[] } } };
const granted = new Set(manifest.oauth_config?.scopes?.bot ?? []);

describe('deploy/slack-manifest.yaml scopes', () => {
  const used = methodsCalled();

  it('finds the Web API calls in src/ (the scan itself works)', () => {
    expect(used.get('chat.postMessage')).toBeDefined();
    expect(used.get('usergroups.users.list')).toMatch(/directory\.ts/);
    expect(used.size).toBeGreaterThan(10);
  });

  it('knows every Web API method the code calls', () => {
    expect([...used.keys()].filter((m) => !(m in METHOD_SCOPES)).map((m) => `${m} (${used.get(m) ?? ''})`)).toEqual([]);
  });

  it('grants a scope for every method the code calls', () => {
    const missing = [...used.keys()].filter((m) => {
      const scopes = METHOD_SCOPES[m] ?? [];
      return scopes.length > 0 && !scopes.some((s) => granted.has(s));
    });
    expect(missing).toEqual([]);
  });

  it('grants no scope that no call needs', () => {
    const needed = new Set([...used.keys()].flatMap((m) => METHOD_SCOPES[m] ?? []).concat(Object.keys(ALSO_NEEDED)));
    expect([...granted].filter((s) => !needed.has(s))).toEqual([]);
  });
});
