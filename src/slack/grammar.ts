import { UserError } from '../errors.ts';
import { SCENARIO_IDS, type ScenarioId } from '../incidents/scenarios.ts';
import { AZ_NAME, AZ_NAME_REFUSAL } from '../targets/aws-ids.ts';
import { parseScheduleCommand, type ScheduleCommand } from '../schedules/grammar.ts';
import type { Scalar } from '../runbooks/refs.ts';
import { closestMatch } from '../util/closest.ts';
import { truncate } from '../util/text.ts';
import { code } from './views/message.ts';

/**
 * The `/dr …` command language: text in, a typed command out, or a UserError
 * whose message says what was wrong and how to write it. Pure: no I/O.
 * Shortcuts (`restore db`, `rollback`, `failover`, `evacuate`, …) become runs of the
 * shipped runbooks; `run` reaches any runbook, including users' own.
 */
export type DrCommand =
  | { name: 'help'; topic?: string }
  | { name: 'ping' }
  | { name: 'runbooks' }
  | { name: 'run'; runbookId: string; params: Record<string, Scalar>; dryRun: boolean }
  | { name: 'runs' }
  /** `check status`: the latest stored readiness results, without a new check. */
  | { name: 'check-status' }
  /** `page`: one page of the run's steps (plans too long to show whole). */
  | { name: 'show'; runId: string; page?: number }
  | { name: 'cancel'; runId: string; reason?: string }
  | { name: 'audit'; runId: string }
  /** `report <run> [file]`: the run's recovery report, here privately, or as a file shared here. */
  | { name: 'report'; runId: string; file: boolean }
  | { name: 'declare'; scenario: string; title: string; severity?: string; public: boolean; services?: string[]; impact?: string }
  /** `declare` alone: the declaration form (a modal). */
  | { name: 'declare-form' }
  | { name: 'status'; state: string; message: string }
  /** `schedule list | add … | pause | resume | delete` (src/schedules/grammar.ts). */
  | { name: 'schedule'; command: ScheduleCommand }
  /** `drills [scenario]`: the drill record, newest first, and the trend per scenario. */
  | { name: 'drills'; scenario?: ScenarioId };

export interface CommandSpec {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly examples: readonly string[];
}

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'declare',
    usage: 'declare [<scenario> <title…> [--severity sev1|sev2|sev3] [--services api,db] [--impact "…"] [--private]]',
    summary: 'Declare an incident: its own channel, the RTO/RPO clock, the template posted, the status page opened (unless --private). Alone, it opens a form.',
    examples: ['declare', 'declare region-outage "API down in us-east-1" --services api,db --impact "Customers cannot log in"', 'declare data-corruption "Orders table corrupted" --severity sev2 --private'],
  },
  {
    name: 'status',
    usage: 'status <investigating|identified|monitoring|resolved> <message…>',
    summary: "Move the incident (in its channel): the update template is posted and the status page follows.",
    examples: ['status identified "Bad migration; restoring the database to 09:55"', 'status resolved "Restored; error rates normal for 30 minutes"'],
  },
  { name: 'help', usage: 'help [command]', summary: 'Show every command, or the details of one.', examples: ['help', 'help restore'] },
  {
    name: 'restore',
    usage: 'restore db <cluster> --latest | --to <time> | --snapshot <id|latest> [key=value …]   ·   restore cluster [--backup <name>] [--schedule <name>] [key=value …]',
    summary: 'Restore a database into a new cluster and repoint the app, or restore the cluster\'s workloads from Velero. Needs approval. Any other runbook parameter goes after, as key=value.',
    examples: ['restore db prod-aurora --to 2026-11-15T10:00:00Z healthUrl=https://api.internal/health', 'restore db prod-aurora --to 15m ago', 'restore db prod-aurora --snapshot latest', 'restore cluster --schedule daily-full-backup'],
  },
  {
    name: 'rollback',
    usage: 'rollback <deployment> [-n <namespace>] [--to-revision <n>]',
    summary: 'Roll a deployment back to its previous (or a given) revision. Needs approval.',
    examples: ['rollback api-gateway', 'rollback api-gateway -n production --to-revision 5'],
  },
  { name: 'failover', usage: 'failover [--target <dr target>]', summary: 'Fail over to the DR region (its target: region, account, cluster). Needs two approvals.', examples: ['failover', 'failover --target dr'] },
  {
    name: 'evacuate',
    usage: 'evacuate <zone> resources=<ARNs> healthUrl=<url> [key=value …] [--dry-run]   ·   evacuate --restore <zone> resources=<ARNs>',
    summary: 'A single AZ failure: move traffic away from the zone (by name, as the node label says) with ARC zonal shift, fail the database writer out of it, cordon (and with drain=true drain) its nodes, check health; the shift is kept while the run lasts and its incident is open. `--restore` brings the zone back. Needs approval.',
    examples: [
      'evacuate us-east-1a resources=arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef healthUrl=https://api.internal/health',
      'evacuate us-east-1a resources=arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef healthUrl=https://api.internal/health drain=true --dry-run',
      'evacuate --restore us-east-1a resources=arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef',
    ],
  },
  { name: 'drill', usage: 'drill [--backup <name>]', summary: 'Run the DR drill: restore the newest backup into an isolated namespace and time it.', examples: ['drill'] },
  {
    name: 'drills',
    usage: 'drills [<scenario>]',
    summary: 'The recorded drills and restore tests, newest first: pass or fail, achieved RTO and measured RPO against the objectives, and the trend per scenario.',
    examples: ['drills', 'drills data-corruption'],
  },
  {
    name: 'check',
    usage: 'check [status]',
    summary: 'Readiness: run the DR plan\'s checklist on every target now (read-only, no approval); `status` shows the latest results and live RPO without running a check.',
    examples: ['check', 'check status'],
  },
  {
    name: 'schedule',
    usage: 'schedule list | add <runbook> <every 30m | "cron"> [key=value …] [skip-when-red=<item id>,…] [#channel] | approve <id> | pause <id> | resume <id> | delete <id>',
    summary: 'Run a runbook on a schedule (cron in UTC), in the background; with a channel, each run is posted there. A changing runbook\'s schedule acts on drill targets only and fires once two approvers approve it.',
    examples: ['schedule list', 'schedule add readiness-check every 30m here', 'schedule add readiness-check "0 6 * * 1" cluster=prod-aurora-cluster', 'schedule pause s-k2m9x4'],
  },
  { name: 'runbooks', usage: 'runbooks', summary: 'List the runbooks and their parameters.', examples: ['runbooks'] },
  {
    name: 'run',
    usage: 'run <runbook> key=value … [--dry-run]',
    summary: 'Run any runbook in commands/, including your own.',
    examples: ['run restore-database-pitr cluster=prod-aurora to="15m ago" healthUrl=https://api.internal/health', 'run readiness-check'],
  },
  { name: 'runs', usage: 'runs', summary: 'Recent runs and their states.', examples: ['runs'] },
  { name: 'show', usage: 'show <run> [page <n>]', summary: "A run's plan, state and steps; `page` lists every step, 15 a page.", examples: ['show r7k2m9x4', 'show r7k2m9x4 page 2'] },
  { name: 'cancel', usage: 'cancel <run> [reason…]', summary: 'Stop a run: at once before it starts, between steps or during a wait once it runs.', examples: ['cancel r7k2m9x4 wrong region'] },
  {
    name: 'report',
    usage: 'report <run> [file]',
    summary: "A changing run's recovery report: the plan as approved, who approved when, every step's timing and outcome, what changed, the recovery time against the RTO and the RPO; `file` shares it here as Markdown.",
    examples: ['report r7k2m9x4', 'report r7k2m9x4 file'],
  },
  {
    name: 'audit',
    usage: 'audit <run>',
    summary: "A run's audit log: who requested, planned, approved, started, cancelled; every step's result.",
    examples: ['audit r7k2m9x4'],
  },
  { name: 'ping', usage: 'ping', summary: 'Check the bot end to end: Slack → job queue → worker → this channel.', examples: ['ping'] },
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

/** Arguments after the subcommand: positionals, `key=value` pairs, and flags (`--to x`, `--to=x`, `-n x`, `--latest`). */
interface Args {
  positional: string[];
  pairs: Record<string, string>;
  flags: Map<string, string | true>;
}

function parseArgs(tokens: readonly string[], valueFlags: ReadonlySet<string>, boolFlags: ReadonlySet<string>, usage: () => UserError): Args {
  // No prototype: `__proto__=x` or `constructor=x` are plain (unknown) keys, refused later by name.
  const args: Args = { positional: [], pairs: Object.create(null) as Record<string, string>, flags: new Map() };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (token.startsWith('-') && token.length > 1 && !/^-\d/.test(token)) {
      const eq = token.indexOf('=');
      const flag = eq === -1 ? token : token.slice(0, eq);
      if (boolFlags.has(flag)) {
        if (eq !== -1) throw usage();
        args.flags.set(flag, true);
      } else if (valueFlags.has(flag)) {
        let value = eq === -1 ? tokens[++i] : token.slice(eq + 1);
        if (value === undefined || value === '' || (value.startsWith('--') && eq === -1)) {
          throw new UserError(`\`${flag}\` needs a value.`);
        }
        // `--to 15m ago` arrives as two words.
        if (tokens[i + 1]?.toLowerCase() === 'ago' && eq === -1) value = `${value} ${tokens[++i] ?? ''}`;
        if (args.flags.has(flag)) throw new UserError(`\`${flag}\` is given twice.`);
        args.flags.set(flag, value);
      } else {
        throw new UserError(`Unknown option ${code(cut(token))}.${[...valueFlags, ...boolFlags].length ? ` Options: ${[...valueFlags, ...boolFlags].map((f) => `\`${f}\``).join(', ')}.` : ''}`);
      }
    } else if (/^[A-Za-z_]\w*=/.test(token)) {
      const eq = token.indexOf('=');
      const key = token.slice(0, eq);
      if (Object.hasOwn(args.pairs, key)) throw new UserError(`${code(cut(key))} is given twice; give each parameter once.`);
      args.pairs[key] = token.slice(eq + 1);
    } else {
      args.positional.push(token);
    }
  }
  return args;
}

const RUN_ID = /^[\w-]{1,64}$/;

export function parseDrCommand(text: string, slash = '/dr'): DrCommand {
  const [first, ...rest] = tokenize(text);
  if (first === undefined) return { name: 'help' };
  const name = first.toLowerCase();
  const spec = COMMAND_SPECS.find((s) => s.name === name);
  if (!spec) throw new UserError(unknownCommandMessage(first, slash));
  const usage = (what: string) => new UserError(`\`${spec.name}\` ${what}. Usage: \`${slash} ${spec.usage}\`${spec.examples[0] && spec.examples[0] !== spec.name ? `, e.g. \`${slash} ${spec.examples[0]}\`` : ''}`);
  const noArgs = <T extends DrCommand>(command: T): T => {
    if (rest.length > 0) throw usage('takes no arguments');
    return command;
  };
  const runIdArg = (extraAllowed: boolean) => {
    const [runId, ...extra] = rest;
    if (runId === undefined) throw usage('needs the run id (shown on the run\'s message)');
    if (!extraAllowed && extra.length > 0) throw usage('takes one run id');
    if (!RUN_ID.test(runId)) throw usage(`needs a run id like r7k2m9x4, not ${code(cut(runId))}`);
    return { runId, extra };
  };

  switch (spec.name) {
    case 'help': {
      if (rest.length > 1) throw usage('takes at most one command name');
      const topic = rest[0]?.toLowerCase();
      if (topic !== undefined && !COMMAND_SPECS.some((s) => s.name === topic)) throw new UserError(unknownCommandMessage(topic, slash));
      return topic === undefined ? { name: 'help' } : { name: 'help', topic };
    }
    case 'ping':
      return noArgs({ name: 'ping' });
    case 'declare': {
      if (rest.length === 0) return { name: 'declare-form' };
      const args = parseArgs(rest, new Set(['--severity', '--services', '--impact']), new Set(['--private', '--no-statuspage']), () => usage('got an option it does not take'));
      const [scenario, ...words] = args.positional;
      if (scenario === undefined || words.length === 0) throw usage('needs a scenario and a title');
      const severity = args.flags.get('--severity');
      const services = args.flags.get('--services');
      const impact = args.flags.get('--impact');
      return {
        name: 'declare',
        scenario,
        title: words.join(' '),
        ...(typeof severity === 'string' ? { severity } : {}),
        ...(typeof services === 'string' ? { services: services.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
        ...(typeof impact === 'string' ? { impact } : {}),
        public: !args.flags.has('--private') && !args.flags.has('--no-statuspage'),
      };
    }
    case 'status': {
      const [state, ...words] = rest;
      if (state === undefined || words.length === 0) throw usage('needs a status and what changed');
      return { name: 'status', state, message: words.join(' ') };
    }
    case 'runbooks':
      return noArgs({ name: 'runbooks' });
    case 'runs':
      return noArgs({ name: 'runs' });
    case 'check': {
      if (rest.length === 0) return { name: 'run', runbookId: 'readiness-check', params: {}, dryRun: false };
      if (rest.length === 1 && rest[0]?.toLowerCase() === 'status') return { name: 'check-status' };
      throw usage(`takes nothing (run a check now) or \`status\` (the latest results), not ${code(cut(rest.join(' ')))}`);
    }
    case 'drills':
      return parseDrills(rest, usage);
    case 'schedule':
      return { name: 'schedule', command: parseScheduleCommand(rest, (what) => new UserError(`${what}. Usage: \`${slash} ${spec.usage}\`, e.g. \`${slash} ${spec.examples[1] ?? ''}\``)) };
    case 'show': {
      const { runId, extra } = runIdArg(true);
      if (extra.length === 0) return { name: 'show', runId };
      const [word, n, ...more] = extra;
      if (word?.toLowerCase() !== 'page' || n === undefined || more.length) throw usage('takes a run id and, for one page of its steps, `page <n>`');
      if (!/^[1-9]\d{0,3}$/.test(n)) throw usage(`needs a page number like 2, not ${code(cut(n))}`);
      return { name: 'show', runId, page: Number(n) };
    }
    case 'audit':
      return { name: 'audit', runId: runIdArg(false).runId };
    case 'report': {
      const { runId, extra } = runIdArg(true);
      if (extra.length > 1 || (extra[0] !== undefined && extra[0].toLowerCase() !== 'file')) throw usage('takes a run id and, to share it as a file here, `file`');
      return { name: 'report', runId, file: extra.length === 1 };
    }
    case 'cancel': {
      const { runId, extra } = runIdArg(true);
      return extra.length ? { name: 'cancel', runId, reason: extra.join(' ') } : { name: 'cancel', runId };
    }
    case 'run': {
      const args = parseArgs(rest, new Set(), new Set(['--dry-run']), () => usage('got an option it does not take'));
      const [runbookId, ...extra] = args.positional;
      if (runbookId === undefined) throw usage('needs a runbook id (see `runbooks`)');
      if (extra.length) throw usage(`takes parameters as key=value; ${code(cut(extra[0] ?? ''))} is not one`);
      return { name: 'run', runbookId, params: args.pairs, dryRun: args.flags.has('--dry-run') };
    }
    case 'restore':
      return parseRestore(rest, usage);
    case 'rollback': {
      const args = parseArgs(rest, new Set(['-n', '--namespace', '--to-revision']), new Set(['--dry-run']), () => usage('got an option it does not take'));
      const [deployment, ...extra] = args.positional;
      if (deployment === undefined || extra.length) throw usage(deployment === undefined ? 'needs the deployment' : 'takes one deployment');
      const namespace = args.flags.get('-n') ?? args.flags.get('--namespace');
      const revision = args.flags.get('--to-revision');
      return {
        name: 'run',
        runbookId: 'rollback-deployment',
        params: withPairs({ deployment, ...(typeof namespace === 'string' ? { namespace } : {}), ...(typeof revision === 'string' ? { toRevision: revision } : {}) }, args.pairs),
        dryRun: args.flags.has('--dry-run'),
      };
    }
    case 'failover': {
      // --region was the DR region before targets: now the DR target names its region, account and cluster.
      if (rest.some((r) => r === '--region' || r.startsWith('--region='))) throw usage('acts on the DR target, which names its region: give `--target <name>`');
      const args = parseArgs(rest, new Set(['--target']), new Set(['--dry-run']), () => usage('got an option it does not take'));
      if (args.positional.length) throw usage('takes only --target');
      const target = args.flags.get('--target');
      return { name: 'run', runbookId: 'failover-region', params: withPairs(typeof target === 'string' ? { target } : {}, args.pairs), dryRun: args.flags.has('--dry-run') };
    }
    case 'evacuate': {
      const args = parseArgs(rest, new Set(), new Set(['--restore', '--dry-run']), () => usage('got an option it does not take'));
      const [zone, ...extra] = args.positional;
      if (zone === undefined) throw usage('needs the Availability Zone by name');
      if (extra.length) throw usage(`takes one zone, then parameters as key=value; ${code(cut(extra[0] ?? ''))} is not one`);
      // The runbooks cordon nodes by their zone label, which holds the name; the plan maps the name to this account's id.
      if (!AZ_NAME.test(zone)) throw usage(`takes the zone by name: ${code(cut(zone))} ${AZ_NAME_REFUSAL}`);
      const runbookId = args.flags.has('--restore') ? 'az-restore' : 'az-evacuate';
      return { name: 'run', runbookId, params: withPairs({ zone }, args.pairs), dryRun: args.flags.has('--dry-run') };
    }
    case 'drill': {
      const args = parseArgs(rest, new Set(['--backup']), new Set(['--dry-run']), () => usage('got an option it does not take'));
      if (args.positional.length) throw usage('takes only --backup');
      const backup = args.flags.get('--backup');
      return { name: 'run', runbookId: 'dr-drill', params: withPairs(typeof backup === 'string' ? { backup } : {}, args.pairs), dryRun: args.flags.has('--dry-run') };
    }
  }
  throw new UserError(unknownCommandMessage(first, slash));
}

function parseDrills(rest: readonly string[], usage: (what: string) => UserError): DrCommand {
  const [word, ...extra] = rest;
  if (word === undefined) return { name: 'drills' };
  if (extra.length) throw usage('takes at most one scenario');
  const scenario = word.toLowerCase();
  if (!isScenario(scenario)) {
    const close = closestMatch(scenario, SCENARIO_IDS);
    throw usage(`takes a scenario of the DR plan, not ${code(cut(word))}${close ? ` (did you mean \`${close}\`?)` : ''}; scenarios: ${SCENARIO_IDS.join(', ')}`);
  }
  return { name: 'drills', scenario };
}

function isScenario(word: string): word is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(word);
}

function parseRestore(rest: readonly string[], usage: (what: string) => UserError): DrCommand {
  const [what, ...tokens] = rest;
  if (what === 'db' || what === 'database') {
    const args = parseArgs(tokens, new Set(['--to', '--snapshot']), new Set(['--latest', '--dry-run']), () => usage('got an option it does not take'));
    const [cluster, ...extra] = args.positional;
    if (cluster === undefined) throw usage('needs the cluster to restore from');
    if (extra.length) throw usage(`takes one cluster; unexpected ${code(cut(extra[0] ?? ''))}`);
    const to = args.flags.get('--to');
    const snapshot = args.flags.get('--snapshot');
    const latest = args.flags.has('--latest');
    const chosen = [to, snapshot, latest ? true : undefined].filter((x) => x !== undefined).length;
    if (chosen !== 1) throw usage('needs exactly one of --latest, --to <time> or --snapshot <id|latest>');
    const dryRun = args.flags.has('--dry-run');
    if (typeof snapshot === 'string') return { name: 'run', runbookId: 'restore-database-snapshot', params: withPairs({ cluster, snapshot }, args.pairs), dryRun };
    return { name: 'run', runbookId: 'restore-database-pitr', params: withPairs({ cluster, to: typeof to === 'string' ? to : 'latest' }, args.pairs), dryRun };
  }
  if (what === 'cluster') {
    const args = parseArgs(tokens, new Set(['--backup', '--schedule']), new Set(['--dry-run']), () => usage('got an option it does not take'));
    if (args.positional.length) throw usage('takes only --backup and --schedule');
    const backup = args.flags.get('--backup');
    const schedule = args.flags.get('--schedule');
    return {
      name: 'run',
      runbookId: 'restore-cluster',
      params: withPairs({ ...(typeof backup === 'string' ? { backup } : {}), ...(typeof schedule === 'string' ? { schedule } : {}) }, args.pairs),
      dryRun: args.flags.has('--dry-run'),
    };
  }
  throw usage(what === undefined ? 'needs what to restore: db or cluster' : `restores db or cluster, not ${code(cut(what))}`);
}

/**
 * A shortcut's own parameters plus any `key=value` the user added (e.g.
 * `healthUrl=…` for a runbook without a default); one value per parameter.
 */
function withPairs(own: Record<string, string>, pairs: Readonly<Record<string, string>>): Record<string, string> {
  const params: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, own);
  for (const [key, value] of Object.entries(pairs)) {
    if (Object.hasOwn(own, key)) throw new UserError(`${code(cut(key))} is given twice (by an option and as ${code(cut(key))}=…); give it once.`);
    params[key] = value;
  }
  return params;
}

function unknownCommandMessage(word: string, slash: string): string {
  const shown = word.length > 40 ? `${cut(word)}…` : word;
  const suggestion = closestCommand(word);
  const hint = suggestion ? ` Did you mean \`${slash} ${suggestion}\`?` : '';
  return `Unknown command ${code(shown)}.${hint} Type \`${slash} help\` to see every command.`;
}

/** A user's word echoed in an error: its first 40 characters, cut by grapheme cluster. */
function cut(word: string): string {
  return truncate(word, 40, '');
}

/** The known command nearest to `word`, if it is close enough to be a typo. */
export function closestCommand(word: string): string | undefined {
  return closestMatch(word, COMMAND_SPECS.map((s) => s.name));
}
