import { describe, expect, it } from 'vitest';
import { isUserError } from '../../../src/errors.ts';
import { closestCommand, parseDrCommand, tokenize } from '../../../src/slack/grammar.ts';

function userErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isUserError(err)) return err.message;
    throw err;
  }
  throw new Error('expected a UserError');
}

describe('tokenize', () => {
  it('splits on any whitespace and keeps quoted text together', () => {
    expect(tokenize('  declare  region-outage\t"API down in us-east-1" ')).toEqual(['declare', 'region-outage', 'API down in us-east-1']);
  });

  it('accepts the curly quotes Slack clients type', () => {
    expect(tokenize('declare x “API down” ‘really’')).toEqual(['declare', 'x', 'API down', 'really']);
  });

  it('keeps key=value pairs and quoted values in them', () => {
    expect(tokenize('run restore cluster="prod aurora" at=latest')).toEqual(['run', 'restore', 'cluster=prod aurora', 'at=latest']);
  });

  it('keeps an explicitly empty quoted argument', () => {
    expect(tokenize('a "" b')).toEqual(['a', '', 'b']);
  });

  it('refuses an unclosed quote with an example', () => {
    expect(userErrorOf(() => tokenize('declare x "API down'))).toContain('A quote (") is not closed');
  });
});

describe('parseDrCommand', () => {
  it('parses help, help <command> and ping, case-insensitively', () => {
    expect(parseDrCommand('')).toEqual({ name: 'help' });
    expect(parseDrCommand('HELP ping')).toEqual({ name: 'help', topic: 'ping' });
    expect(parseDrCommand('Ping')).toEqual({ name: 'ping' });
  });

  it('suggests the closest command for a typo, with the configured slash command', () => {
    expect(userErrorOf(() => parseDrCommand('pnig', '/recover'))).toBe(
      'Unknown command `pnig`. Did you mean `/recover ping`? Type `/recover help` to see every command.',
    );
    expect(userErrorOf(() => parseDrCommand('hlep'))).toContain('Did you mean `/dr help`?');
  });

  it('suggests nothing for a word that is not close to any command', () => {
    expect(closestCommand('terraform')).toBeUndefined();
    expect(userErrorOf(() => parseDrCommand('terraform'))).toBe('Unknown command `terraform`. Type `/dr help` to see every command.');
  });

  it('cuts a huge unknown word in the message', () => {
    const message = userErrorOf(() => parseDrCommand('x'.repeat(5000)));
    expect(message.length).toBeLessThan(200);
  });

  it('refuses arguments a command does not take, showing its usage', () => {
    expect(userErrorOf(() => parseDrCommand('ping now'))).toBe('`ping` takes no arguments. Usage: `/dr ping`');
    expect(userErrorOf(() => parseDrCommand('help a b'))).toBe('`help` takes at most one command name. Usage: `/dr help [command]`');
    expect(userErrorOf(() => parseDrCommand('help pnig'))).toContain('Did you mean `/dr ping`?');
  });
});
