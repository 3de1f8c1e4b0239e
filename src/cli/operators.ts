/**
 * Who is at the terminal. The CLI does not take a typed name: an operator
 * proves who they are with their own key (DR_OPERATOR_KEY), and the config's
 * operator map (DR_CLI_OPERATORS, hashes only) says which Slack user that key
 * belongs to. The CLI then acts as that Slack user, so the two-person rule holds
 * across Slack and the terminal. Pure apart from the random key; see
 * docs/security.md, "The CLI".
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../runs/model.ts';

export interface CliOperator {
  /** Short login-like name: `alice`. */
  readonly name: string;
  /** The operator's Slack user id: their actor id in every run and audit entry. */
  readonly slackUserId: string;
  /** sha256 of the operator's key, 64 lowercase hex characters. */
  readonly keyHash: string;
}

export const OPERATOR_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;
const KEY_HASH = /^[0-9a-fA-F]{64}$/;

/** The environment variable that carries the key (never a flag: flags show in `ps` and shell history). */
export const KEY_ENV = 'DR_OPERATOR_KEY';
/** The setting that holds the operator map. */
export const OPERATORS_ENV = 'DR_CLI_OPERATORS';

export const ENTRY_FORMAT = '<name>:<slack user id>:<sha256 hex of the key>';

/**
 * Parses `alice:U0ALICE001:9f86…,bob:U0BOB0001:2c26…` (or a YAML list of such
 * entries). Returns every problem, each naming its entry, instead when any entry
 * is malformed or repeats a name, a Slack user id or a key.
 */
export function parseOperators(value: string | readonly string[]): CliOperator[] | { problems: string[] } {
  const entries = (typeof value === 'string' ? value.split(',') : value.flatMap((v) => v.split(',')))
    .map((e) => e.trim())
    .filter(Boolean);
  const operators: CliOperator[] = [];
  const problems: string[] = [];
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':').map((p) => p.trim());
    const [name = '', slackUserId = '', keyHash = ''] = parts;
    // Named by position and name only: a key pasted instead of its hash must not end up in a log.
    const shown = `entry ${i + 1} (${OPERATOR_NAME.test(name) ? name : 'bad name'})`;
    if (parts.length !== 3) {
      problems.push(`${shown} must be ${ENTRY_FORMAT}, like alice:U0ALICE001:9f86d081…(64 hex characters)`);
      continue;
    }
    const bad: string[] = [];
    if (!OPERATOR_NAME.test(name)) bad.push(`the name must be lowercase letters, digits and _ . - starting with a letter (at most 64)`);
    if (!SLACK_USER_ID.test(slackUserId)) bad.push('the second part is not a Slack user id (like U0ALICE001)');
    if (!KEY_HASH.test(keyHash)) bad.push('the key hash must be 64 hex characters (the sha256 that `npm run dr -- operator-key` prints, never the key itself)');
    if (bad.length > 0) {
      problems.push(`${shown}: ${bad.join('; ')}`);
      continue;
    }
    const hash = keyHash.toLowerCase();
    const clash = operators.find((o) => o.name === name || o.slackUserId === slackUserId || o.keyHash === hash);
    if (clash) {
      const what = clash.name === name ? `the name ${name}` : clash.slackUserId === slackUserId ? `the Slack user ${slackUserId}` : 'the key hash';
      problems.push(`${shown} repeats ${what} of the entry for ${clash.name}: one entry per person, one key per entry`);
      continue;
    }
    operators.push({ name, slackUserId, keyHash: hash });
  }
  return problems.length > 0 ? { problems } : operators;
}

/** sha256 hex of a key, as the operator map holds it. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new operator key: 32 random bytes, base64url (43 characters). */
export function newOperatorKey(): string {
  return randomBytes(32).toString('base64url');
}

/** The operator map entry for a key. */
export function operatorEntry(name: string, slackUserId: string, key: string): string {
  return `${name}:${slackUserId}:${hashKey(key)}`;
}

/**
 * The operator whose key this is, or undefined. Compares the key's hash with
 * every entry in constant time and without stopping early, so timing tells
 * nothing about which entry (if any) is close.
 */
export function findOperator(key: string, operators: readonly CliOperator[]): CliOperator | undefined {
  const given = Buffer.from(hashKey(key.trim()), 'hex');
  let found: CliOperator | undefined;
  for (const op of operators) {
    const expected = Buffer.from(op.keyHash, 'hex');
    if (expected.length === given.length && timingSafeEqual(expected, given) && found === undefined) found = op;
  }
  return found;
}

/** Where the command was typed: recorded in the audit, as the machine reports it (not proven). */
export interface TerminalOrigin {
  osUser: string;
  host: string;
}

/** The actor an operator acts as: their Slack user id, their name, `via: cli`, and where from. */
export function operatorActor(op: CliOperator, origin: TerminalOrigin): Actor {
  return { id: op.slackUserId, name: op.name, via: 'cli', osUser: origin.osUser.slice(0, 100), host: origin.host.slice(0, 255) };
}

export const KEY_HELP = [
  `Set your operator key in the environment, not on the command line: export ${KEY_ENV}=<your key>`,
  '(read it from a password manager or a file only you can read; flags show in `ps` and shell history).',
  'No key yet? `npm run dr -- operator-key <name> <your Slack user id>` prints a new key and the',
  `${OPERATORS_ENV} entry for it; whoever deploys dr-chatops adds that entry (it holds only the key's hash).`,
].join('\n');

/**
 * Who runs `command`: the operator whose key this is, or why nobody is (no key,
 * no operators configured, or a key that is not in the map).
 */
export function identify(
  command: string,
  key: string | undefined,
  operators: readonly CliOperator[],
  origin: TerminalOrigin,
): { actor: Actor; operator: CliOperator } | { refusal: string } {
  if (key === undefined || key.trim() === '') {
    return { refusal: `\`${command}\` changes something, so it needs to know who you are, and ${KEY_ENV} is not set. Nothing changed.\n${KEY_HELP}` };
  }
  if (operators.length === 0) {
    return { refusal: `${OPERATORS_ENV} lists no operators, so no key is valid here and \`${command}\` is refused. Nothing changed.\n${KEY_HELP}` };
  }
  const operator = findOperator(key, operators);
  if (!operator) {
    return {
      refusal: `${KEY_ENV} is not the key of any operator in ${OPERATORS_ENV}, so \`${command}\` is refused. Nothing changed.\nCheck that you exported the whole key; if it was replaced or lost, get a new one.\n${KEY_HELP}`,
    };
  }
  return { actor: operatorActor(operator, origin), operator };
}

/** The answer to `--as` and to a set DR_OPERATOR: both are gone. */
export function impersonationRefusal(what: '--as' | 'DR_OPERATOR'): string {
  const how = what === '--as' ? 'The --as option is gone' : 'DR_OPERATOR is no longer read';
  return [
    `${how}: the CLI does not take your identity from a name or id you type, because anyone could type someone else's.`,
    `You are the operator whose key is in ${KEY_ENV}: the CLI acts as that operator's Slack user, records your OS user and host, and the requester of a run still cannot approve it.`,
    what === '--as' ? 'Run the command again without --as. Nothing changed.' : 'Unset DR_OPERATOR (unset DR_OPERATOR) and run the command again. Nothing changed.',
    KEY_HELP,
  ].join('\n');
}
