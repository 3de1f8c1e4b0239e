import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operatorKeyCommand, parseArgs, UsageError } from '../../../src/cli/commands.ts';
import { findOperator, hashKey, identify, newOperatorKey, operatorActor, parseOperators, type CliOperator } from '../../../src/cli/operators.ts';
import { renderAudit as renderCliAudit, whoFull } from '../../../src/cli/render.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import type { AuditEntry, Run } from '../../../src/runs/model.ts';
import { renderAudit as renderSlackAudit } from '../../../src/slack/views/audit.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const KEY_A = 'alice-key-0123456789abcdefghijklmnopqrstuvw';
const KEY_B = 'bob-key-0123456789abcdefghijklmnopqrstuvwxyz';
const MAP = `alice:U0ALICE001:${sha(KEY_A)}, bob:U0BOB00001:${sha(KEY_B)}`;
const ORIGIN = { osUser: 'ops', host: 'bastion-1' };

function operators(text: string): CliOperator[] {
  const parsed = parseOperators(text);
  if ('problems' in parsed) throw new Error(parsed.problems.join('\n'));
  return parsed;
}

function problemsOf(text: string | string[]): string[] {
  const parsed = parseOperators(text);
  return 'problems' in parsed ? parsed.problems : [];
}

describe('the CLI operator map (DR_CLI_OPERATORS)', () => {
  it('parses name:slack user id:sha256 entries, comma separated or as a list', () => {
    expect(operators(MAP)).toEqual([
      { name: 'alice', slackUserId: 'U0ALICE001', keyHash: sha(KEY_A) },
      { name: 'bob', slackUserId: 'U0BOB00001', keyHash: sha(KEY_B) },
    ]);
    expect(parseOperators([`alice:U0ALICE001:${sha(KEY_A)}`, `bob:U0BOB00001:${sha(KEY_B)}`])).toEqual(operators(MAP));
    expect(operators('')).toEqual([]);
    // Upper-case hex is the same hash.
    expect(operators(`alice:U0ALICE001:${sha(KEY_A).toUpperCase()}`)[0]?.keyHash).toBe(sha(KEY_A));
  });

  it('refuses malformed entries, naming each by position, without echoing what could be a key', () => {
    const problems = problemsOf(`Alice:U0ALICE001:${sha(KEY_A)},bob:bob:${sha(KEY_B)},carol:U0CAROL001:${KEY_A},dave:U0DAVE0001`);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^entry 1 \(bad name\): the name must be lowercase/);
    expect(problems[1]).toMatch(/^entry 2 \(bob\): the second part is not a Slack user id/);
    expect(problems[2]).toMatch(/^entry 3 \(carol\): the key hash must be 64 hex characters/);
    expect(problems[3]).toMatch(/^entry 4 \(dave\) must be <name>:<slack user id>:<sha256 hex of the key>/);
    expect(problems.join('\n')).not.toContain(KEY_A);
    expect(problemsOf(`a:U0A0:${'0'.repeat(63)}`)).toHaveLength(1);
    expect(problemsOf(`1a:U0A0:${sha('x')}`)).toHaveLength(1);
  });

  it('refuses duplicate names, Slack users and keys, naming the entry', () => {
    expect(problemsOf(`alice:U0ALICE001:${sha(KEY_A)},alice:U0OTHER001:${sha(KEY_B)}`)).toEqual([
      'entry 2 (alice) repeats the name alice of the entry for alice: one entry per person, one key per entry',
    ]);
    expect(problemsOf(`alice:U0ALICE001:${sha(KEY_A)},al:U0ALICE001:${sha(KEY_B)}`)).toEqual([
      'entry 2 (al) repeats the Slack user U0ALICE001 of the entry for alice: one entry per person, one key per entry',
    ]);
    expect(problemsOf(`alice:U0ALICE001:${sha(KEY_A)},bob:U0BOB00001:${sha(KEY_A)}`)).toEqual([
      'entry 2 (bob) repeats the key hash of the entry for alice: one entry per person, one key per entry',
    ]);
  });

  it('is a setting: DR_CLI_OPERATORS or cli.operators in the file, bad entries stop the start', () => {
    expect(loadConfig({ env: { DR_CLI_OPERATORS: MAP }, needsSlack: false }).cli.operators).toEqual(operators(MAP));
    expect(loadConfig({ env: {}, needsSlack: false }).cli.operators).toEqual([]);
    const file = join(mkdtempSync(join(tmpdir(), 'dr-cli-ops-')), 'config.yaml');
    writeFileSync(file, `cli:\n  operators:\n    - alice:U0ALICE001:${sha(KEY_A)}\n    - bob:U0BOB00001:${sha(KEY_B)}\n`);
    expect(loadConfig({ env: {}, configFile: file, needsSlack: false }).cli.operators).toEqual(operators(MAP));
    try {
      loadConfig({ env: { DR_CLI_OPERATORS: `alice:U0ALICE001:${sha(KEY_A)},alice:U0BOB00001:${sha(KEY_B)}` }, needsSlack: false });
      expect.fail('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        'DR_CLI_OPERATORS: entry 2 (alice) repeats the name alice of the entry for alice: one entry per person, one key per entry',
      ]);
    }
  });
});

describe('CLI identity from DR_OPERATOR_KEY', () => {
  const ops = operators(MAP);

  it('finds the operator whose key hashes to an entry, and nobody for any other key', () => {
    expect(findOperator(KEY_A, ops)?.name).toBe('alice');
    expect(findOperator(`${KEY_B}\n`, ops)?.name).toBe('bob');
    expect(findOperator(sha(KEY_A), ops)).toBeUndefined(); // the hash is not the key
    expect(findOperator('', ops)).toBeUndefined();
    expect(findOperator(KEY_A.slice(0, -1), ops)).toBeUndefined();
  });

  it('acts as the mapped Slack user, via cli, from the OS user and host', () => {
    expect(identify('approve', KEY_B, ops, ORIGIN)).toEqual({
      actor: { id: 'U0BOB00001', name: 'bob', via: 'cli', osUser: 'ops', host: 'bastion-1' },
      operator: ops[1],
    });
  });

  it('says what is missing: no key, no operators, an unknown key', () => {
    const refusal = (key: string | undefined, list: CliOperator[]) => {
      const who = identify('run', key, list, ORIGIN);
      return 'refusal' in who ? who.refusal : '';
    };
    expect(refusal(undefined, ops)).toMatch(/^`run` changes something, so it needs to know who you are, and DR_OPERATOR_KEY is not set\. Nothing changed\./);
    expect(refusal('  ', ops)).toContain('DR_OPERATOR_KEY is not set');
    expect(refusal(KEY_A, [])).toMatch(/^DR_CLI_OPERATORS lists no operators/);
    const unknown = refusal('not-a-key', ops);
    expect(unknown).toMatch(/^DR_OPERATOR_KEY is not the key of any operator in DR_CLI_OPERATORS, so `run` is refused\. Nothing changed\./);
    expect(unknown).toContain('npm run dr -- operator-key <name> <your Slack user id>');
    expect(unknown).not.toContain('not-a-key');
  });

  it('makes keys of 32 random bytes, base64url', () => {
    const key = newOperatorKey();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key, 'base64url')).toHaveLength(32);
    expect(newOperatorKey()).not.toBe(key);
    expect(hashKey(key)).toBe(sha(key));
  });
});

describe('CLI arguments', () => {
  it('refuses --as and a key given as a flag (usage errors, exit 2), saying how identity works', () => {
    for (const argv of [['approve', 'r1234567', '--as', 'U0BOB00001'], ['approve', 'r1234567', '--as=bob'], ['runs', '--as', 'bob']]) {
      expect(() => parseArgs(argv)).toThrow(UsageError);
      expect(() => parseArgs(argv)).toThrow(/The --as option is gone.*\n.*DR_OPERATOR_KEY/);
    }
    expect(() => parseArgs(['approve', 'r1', '--key', 'abc'])).toThrow(/read from the environment variable DR_OPERATOR_KEY only/);
    expect(() => parseArgs(['approve', 'r1', '--operator-key=abc'])).toThrow(/--operator-key: the operator key is read from the environment/);
    expect(parseArgs(['operator-key', 'alice', 'U0ALICE001']).positional).toEqual(['alice', 'U0ALICE001']);
  });

  it('operator-key prints a new key once and the entry whose hash is that key', () => {
    const lines: string[] = [];
    expect(operatorKeyCommand(parseArgs(['operator-key', 'carol', 'U0CAROL001']), operators(MAP), (l) => lines.push(l))).toBe(0);
    const text = lines.join('\n');
    const key = /DR_OPERATOR_KEY=([A-Za-z0-9_-]{43})$/m.exec(text)?.[1];
    const entry = /^ {2}(carol:U0CAROL001:[0-9a-f]{64})$/m.exec(text)?.[1];
    expect(key).toBeDefined();
    expect(entry).toBe(`carol:U0CAROL001:${sha(key ?? '')}`);
    expect(text.split(key ?? '?')).toHaveLength(2); // printed once
    expect(text).toContain('Add this entry to DR_CLI_OPERATORS');
  });

  it('operator-key: a new key for a configured operator keeps their Slack user; refuses what cannot be an entry', () => {
    const lines: string[] = [];
    operatorKeyCommand(parseArgs(['operator-key', 'alice']), operators(MAP), (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/Replace the entry for alice in DR_CLI_OPERATORS[^]*\n {2}alice:U0ALICE001:[0-9a-f]{64}\n/);
    const refused = (argv: string[]) => () => operatorKeyCommand(parseArgs(['operator-key', ...argv]), operators(MAP), () => undefined);
    expect(refused([])).toThrow(/needs the operator's name and Slack user id/);
    expect(refused(['carol'])).toThrow(/needs carol's Slack user id too/);
    expect(refused(['Carol', 'U0CAROL001'])).toThrow(/must be lowercase letters/);
    expect(refused(['carol', 'carol'])).toThrow(/is not a Slack user id/);
    expect(refused(['carol', 'U0ALICE001'])).toThrow(/U0ALICE001 is already the operator alice/);
  });
});

describe('who acted, in the audit', () => {
  const bob = operatorActor(operators(MAP)[1]!, ORIGIN);
  const entries: AuditEntry[] = [
    { at: Date.UTC(2026, 10, 25, 10), actor: { id: 'U0ALICE001', via: 'slack' }, action: 'requested' },
    { at: Date.UTC(2026, 10, 25, 10, 1), actor: bob, action: 'approved' },
    { at: Date.UTC(2026, 10, 25, 10, 2), actor: { id: 'cli:carol', name: 'carol', via: 'cli' }, action: 'cancelled' },
  ];
  const run = { id: 'r1234567', runbookId: 'provision', runbookTitle: 'Provision', state: 'cancelled' } as Run;

  it('the CLI shows the Slack user, via cli, and os user@host', () => {
    expect(whoFull(bob)).toBe('bob U0BOB00001 via cli (ops@bastion-1)');
    const lines = renderCliAudit(run, entries);
    expect(lines[1]).toContain('U0ALICE001 (slack)  requested');
    expect(lines[2]).toContain('bob U0BOB00001 via cli (ops@bastion-1)  approved');
    expect(lines[3]).toContain('carol (cli)  cancelled'); // a run recorded before operator keys
  });

  it('Slack shows via cli (os user@host)', () => {
    const text = JSON.stringify(renderSlackAudit(run, entries).blocks);
    expect(text).toContain('<@U0ALICE001> *requested*');
    expect(text).toContain('bob via cli (ops@bastion-1) *approved*');
    expect(text).toContain('carol via cli *cancelled*');
  });
});
