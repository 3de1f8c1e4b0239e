import { UserError } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';
import { SCHEDULE_ID } from './model.ts';

/**
 * The words after `schedule`, the same in Slack (`/dr schedule …`) and the
 * CLI (`npm run dr -- schedule …`): tokens in, a typed command out, or a
 * UserError saying what was wrong and how to write it. Pure: whether the
 * cadence, the runbook and its parameters are good is the service's to say.
 */
export type ScheduleCommand =
  | { verb: 'list' }
  /**
   * `cadence`: `every 30m` or a cron expression, as written; `channel`: the channel word as typed (the front end resolves it);
   * `skipWhenRed`: readiness item ids from `skip-when-red=<id>,<id>`.
   */
  | { verb: 'add'; runbookId: string; cadence: string; params: Record<string, string>; channel?: string; skipWhenRed?: string[] }
  | { verb: 'pause' | 'resume' | 'delete' | 'approve'; id: string };

export const SCHEDULE_VERBS = ['list', 'add', 'approve', 'pause', 'resume', 'delete'] as const;

/** `skip-when-red=<item id>,<item id>` on add: not a runbook parameter (those have no `-` in their names). */
const SKIP_WHEN_RED = 'skip-when-red=';

/** One field of an unquoted cron expression: `0`, `*`, `1-5`, `MON`, and steps after a slash. */
const CRON_FIELD = /^[0-9*?/,LW#-]+$|^[A-Za-z]{3}(-[A-Za-z]{3})?$/;

/** A channel as typed: Slack's `<#C0123|name>`, `#name`, `#C0123ABCD`, a bare id, or `here`. */
export function isChannelWord(token: string): boolean {
  return token.startsWith('#') || token.startsWith('<#') || token.toLowerCase() === 'here' || /^[CG][A-Z0-9]{8,}$/.test(token);
}

const PAIR = /^[A-Za-z_]\w*=/;

/**
 * `tokens`: the words after `schedule`. `usage(what)` builds the refusal from
 * a sentence saying what is wrong, adding the front end's own usage line.
 */
export function parseScheduleCommand(tokens: readonly string[], usage: (what: string) => Error): ScheduleCommand {
  const [verbWord, ...rest] = tokens;
  const verb = verbWord?.toLowerCase() ?? 'list';
  switch (verb) {
    case 'list':
    case 'ls':
      if (rest.length > 0) throw usage('`schedule list` takes no arguments');
      return { verb: 'list' };
    case 'pause':
    case 'resume':
    case 'delete':
    case 'approve': {
      const [id, ...extra] = rest;
      if (id === undefined) throw usage(`\`schedule ${verb}\` needs the schedule's id (\`schedule list\` shows them, like s-k2m9x4)`);
      if (extra.length > 0) throw usage(`\`schedule ${verb}\` takes one schedule id`);
      if (!SCHEDULE_ID.test(id)) throw usage(`\`schedule ${verb}\` needs a schedule id like s-k2m9x4 or readiness-default, not ${code(cut(id))}`);
      return { verb, id };
    }
    case 'add':
      return parseAdd(rest, usage);
    default:
      throw usage(`\`schedule\` does ${SCHEDULE_VERBS.map((v) => `\`${v}\``).join(', ')}, not ${code(cut(verbWord ?? ''))}`);
  }
}

function parseAdd(tokens: readonly string[], usage: (what: string) => Error): ScheduleCommand {
  const [runbookId, ...rest] = tokens;
  if (runbookId === undefined || PAIR.test(runbookId) || isChannelWord(runbookId)) throw usage('`schedule add` needs a runbook id first (`runbooks` lists them), then when it runs: `every 30m` or a cron expression in quotes');
  const when = 'when it runs: `every 30m` (a duration) or a cron expression of five fields in UTC, in quotes, like `"0 6 * * 1"`';
  let i = 0;
  let cadence: string;
  const first = rest[0];
  if (first === undefined || PAIR.test(first) || isChannelWord(first)) throw usage(`\`schedule add ${cut(runbookId)}\` needs ${when}`);
  if (first.toLowerCase() === 'every') {
    const duration = rest[1];
    if (duration === undefined || PAIR.test(duration) || isChannelWord(duration)) throw usage('`every` needs a duration after it, like `every 30m`, `every 2h` or `every 1d`');
    cadence = `every ${duration}`;
    i = 2;
  } else if (/\s/.test(first.trim())) {
    cadence = first;
    i = 1;
  } else {
    // An unquoted cron expression: its fields arrive as words of their own.
    const fields: string[] = [];
    while (i < rest.length && fields.length < 5 && CRON_FIELD.test(rest[i] ?? '') && !isChannelWord(rest[i] ?? '')) fields.push(rest[i++] ?? '');
    if (fields.length === 0 && parseDuration(first) !== undefined) throw usage(`A duration needs \`every\` before it: \`every ${cut(first)}\``);
    if (fields.length === 0) throw usage(`\`schedule add ${cut(runbookId)}\` needs ${when}; ${code(cut(first))} is neither`);
    cadence = fields.join(' ');
  }
  // No prototype: `__proto__=x` is a plain (unknown) key, refused later by name.
  const params = Object.create(null) as Record<string, string>;
  let channel: string | undefined;
  let skipWhenRed: string[] | undefined;
  for (const token of rest.slice(i)) {
    if (token.toLowerCase().startsWith(SKIP_WHEN_RED)) {
      if (skipWhenRed !== undefined) throw usage('`skip-when-red=` is given twice: list every readiness item in one, separated by commas');
      skipWhenRed = token.slice(SKIP_WHEN_RED.length).split(',').map((id) => id.trim()).filter((id) => id !== '');
      if (skipWhenRed.length === 0) throw usage('`skip-when-red=` needs readiness item ids after it, separated by commas, like `skip-when-red=aurora.retention.prod-aurora`');
    } else if (PAIR.test(token)) {
      const eq = token.indexOf('=');
      const key = token.slice(0, eq);
      if (Object.hasOwn(params, key)) throw new UserError(`${code(cut(key))} is given twice; give each parameter once. Nothing was scheduled.`);
      params[key] = token.slice(eq + 1);
    } else if (isChannelWord(token)) {
      if (channel !== undefined) throw usage('`schedule add` takes one channel');
      channel = token;
    } else {
      throw usage(`\`schedule add\` takes parameters as key=value and one channel after when it runs; ${code(cut(token))} is neither (a cron expression goes in quotes)`);
    }
  }
  return { verb: 'add', runbookId, cadence, params, ...(channel !== undefined ? { channel } : {}), ...(skipWhenRed !== undefined ? { skipWhenRed } : {}) };
}

/** A user's word echoed in an error: its first 40 characters. */
function cut(word: string): string {
  return truncate(word, 40, '');
}
