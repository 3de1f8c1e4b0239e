import { UserError } from '../errors.ts';
import { closestMatch } from '../util/closest.ts';

/**
 * The `/dr …` command language: text in, a typed command out, or a UserError
 * whose message says what was wrong and how to write it. Pure: no I/O.
 */
export type DrCommand = { name: 'help'; topic?: string } | { name: 'ping' } | { name: 'audit'; runId: string };

export interface CommandSpec {
  readonly name: DrCommand['name'];
  readonly usage: string;
  readonly summary: string;
  readonly examples: readonly string[];
}

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'help',
    usage: 'help [command]',
    summary: 'Show every command, or the details of one.',
    examples: ['help', 'help ping'],
  },
  {
    name: 'ping',
    usage: 'ping',
    summary: 'Check the bot end to end: Slack → job queue → worker → this channel.',
    examples: ['ping'],
  },
  {
    name: 'audit',
    usage: 'audit <run>',
    summary: "A run's audit log: who requested, planned, approved, started, cancelled; every step's result.",
    examples: ['audit r7k2m9x4'],
  },
];

/** Splits on whitespace, keeping "quoted strings" (straight or curly quotes) together. */
export function tokenize(text: string): string[] {
  const normalized = text.replace(/[\u201C\u201D\u201E]/g, '"').replace(/[\u2018\u2019]/g, "'");
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (const ch of normalized) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new UserError(`A quote (${quote}) is not closed. Close it, e.g. \`"API down in us-east-1"\`.`);
  if (inToken) tokens.push(current);
  return tokens;
}

export function parseDrCommand(text: string, slash = '/dr'): DrCommand {
  const [first, ...rest] = tokenize(text);
  if (first === undefined) return { name: 'help' };
  const name = first.toLowerCase();
  const spec = COMMAND_SPECS.find((s) => s.name === name);
  if (!spec) throw new UserError(unknownCommandMessage(first, slash));

  switch (spec.name) {
    case 'help': {
      if (rest.length > 1) throw usageError(spec, slash, 'takes at most one command name');
      const topic = rest[0]?.toLowerCase();
      if (topic !== undefined && !COMMAND_SPECS.some((s) => s.name === topic)) {
        throw new UserError(unknownCommandMessage(topic, slash));
      }
      return topic === undefined ? { name: 'help' } : { name: 'help', topic };
    }
    case 'ping':
      if (rest.length > 0) throw usageError(spec, slash, 'takes no arguments');
      return { name: 'ping' };
    case 'audit': {
      const [runId, ...extra] = rest;
      if (runId === undefined) throw usageError(spec, slash, 'needs the run id (shown on the run\'s message)');
      if (extra.length > 0) throw usageError(spec, slash, 'takes one run id');
      if (!/^[\w-]{1,64}$/.test(runId)) throw usageError(spec, slash, `needs a run id like r7k2m9x4, not \`${runId.slice(0, 40)}\``);
      return { name: 'audit', runId };
    }
  }
}

function usageError(spec: CommandSpec, slash: string, what: string): UserError {
  return new UserError(`\`${spec.name}\` ${what}. Usage: \`${slash} ${spec.usage}\``);
}

function unknownCommandMessage(word: string, slash: string): string {
  const shown = word.length > 40 ? `${word.slice(0, 40)}…` : word;
  const suggestion = closestCommand(word);
  const hint = suggestion ? ` Did you mean \`${slash} ${suggestion}\`?` : '';
  return `Unknown command \`${shown}\`.${hint} Type \`${slash} help\` to see every command.`;
}

/** The known command nearest to `word`, if it is close enough to be a typo. */
export function closestCommand(word: string): string | undefined {
  return closestMatch(word, COMMAND_SPECS.map((s) => s.name));
}
