/**
 * The terminal front end's commands, over the same runbooks, run service and
 * store as the Slack bot. Output goes through `out`; the exit code is returned.
 */
import type { Logger } from '../log/logger.ts';
import type { Scalar } from '../runbooks/refs.ts';
import { isTerminal, type Run } from '../runs/model.ts';
import { groupsToAsk, type Identity } from '../runs/admission.ts';
import type { RunService } from '../runs/service.ts';
import type { RunStore } from '../runs/store.ts';
import { formatDuration } from '../util/duration.ts';
import { closestMatch } from '../util/closest.ts';
import type { Backup } from '../steps/velero/objects.ts';
import { type CliOperator, ENTRY_FORMAT, impersonationRefusal, KEY_ENV, newOperatorKey, OPERATOR_NAME, operatorEntry, OPERATORS_ENV, SLACK_USER_ID } from './operators.ts';
import { plural } from '../util/text.ts';
import { renderAudit, renderBackups, renderPlan, renderRun, renderRunbooks, renderRuns, stepLine, utc } from './render.ts';
import { type CheckedOperator, UNCHECKED_ACTION } from './slack-check.ts';
import type { ScheduleService } from '../schedules/service.ts';
import { scheduleChanges, scheduleCommand } from './schedule-command.ts';
import type { DrillStore } from '../drills/store.ts';
import { drillsCommand } from './drills-command.ts';
import type { IncidentOf } from '../reports/follower.ts';
import type { ScenarioTargets } from '../incidents/scenarios.ts';
import { reportCommand } from './report-command.ts';

export interface CliDeps {
  service: RunService;
  store: RunStore;
  /** Velero backups of a target's cluster (the default target's without one), newest first (for `backups`). */
  listBackups: (target?: string) => Promise<Backup[]>;
  logger: Logger;
  /**
   * Who is acting, from DR_OPERATOR_KEY and the operator map, checked with
   * Slack when it answers (slack-check.ts); throws a UserError saying what is
   * missing or why Slack refuses them. Asked once, only by commands that change
   * something, before they do anything. Its `groupsOf` gives the operator's user
   * groups for any role or policy that names groups.
   */
  operator: () => Promise<CheckedOperator>;
  /** Whether a step (by its `use`) acts on a target; plans show where only for those. */
  actsOnTarget: (use: string) => boolean;
  out: (line: string) => void;
  now?: () => number;
  /** How often --follow polls the run. */
  pollMs?: number;
  schedules: ScheduleService;
  /** The drill record, for `drills`. */
  drills: Pick<DrillStore, 'results'>;
  /** For `report`: the objectives in force and the incident a run belongs to (absent: the command says reports are not set up). */
  reports?: { objectives: ScenarioTargets; incident: IncidentOf };
}

export interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  params: Record<string, Scalar>;
  flags: { dryRun: boolean; follow: boolean; limit: number; help: boolean; verbose: boolean; target?: string; json?: boolean };
}

/** Commands that act on a target: `--target <name>`. */
const TARGET_COMMANDS: readonly string[] = ['plan', 'run', 'backups'];

/** A file the CLI appends its JSON log lines to (besides stderr with --verbose). */
export const LOG_FILE_ENV = 'DR_CLI_LOG_FILE';

export const COMMANDS = ['runbooks', 'plan', 'run', 'approve', 'reject', 'cancel', 'gate', 'status', 'runs', 'audit', 'backups', 'schedule', 'drills', 'report', 'operator-key', 'help'] as const;

/** Commands that change something: they need a valid operator key. */
export const CHANGING_COMMANDS: readonly string[] = ['run', 'approve', 'reject', 'cancel', 'gate'];

/** Whether the command changes something (then it needs a valid operator key): those above, and `schedule` but for `schedule list`. */
export function changesSomething(args: Pick<ParsedArgs, 'command' | 'positional'>): boolean {
  return args.command !== undefined && (CHANGING_COMMANDS.includes(args.command) || (args.command === 'schedule' && scheduleChanges(args.positional)));
}

export const USAGE = `Usage: npm run dr -- <command> [arguments]

  runbooks                                list runbooks and their parameters
  plan <runbook> key=value … [--target T] show what a run would do; changes nothing
  run <runbook> key=value … [--dry-run] [--follow] [--target T]
                                          request a run; it waits for a second operator's approval
  approve <run> [--follow]                approve a run (the requester cannot approve their own)
  reject <run> [reason …]                 refuse a run; it never starts
  cancel <run> [reason …]                 stop a run: at once before it starts, between steps or
                                          during a wait once it runs
  gate <run> accept|refuse [reason …]     answer the question a run waits on (approval.gate), as an
                                          approver of the run other than its requester
  status <run> [--follow]                 a run's state and every step; --follow prints progress live
  runs [--limit N]                        recent runs, newest first
  audit <run>                             who did what and when
  backups [--target T]                    Velero backups: phase, age, expiry, namespaces
  schedule list                           schedules: runbook, when, last and next run
  schedule add <runbook> every 30m|"<cron>" [key=value …] [<channel id>]
                                          run a read-only runbook on a schedule (cron: 5 fields,
                                          UTC, quoted), in the background, as you
  schedule pause|resume|delete <id>       for its creator or an approver of its runbook
  drills [<scenario>] [--limit N]         recorded drills newest first: pass/fail, RTO and RPO
                                          against the objectives, and the trend per scenario
  report <run> [--json]                   a changing run's recovery report (plan as approved, approvals,
                                          steps, what changed, recovery time vs RTO, RPO) for audits

  operator-key <name> [<slack user id>]   print a new operator key (once) and its ${OPERATORS_ENV} entry

--target T: where the run's steps that name no target act, or whose cluster's
backups are listed (a configured target: docs/targets.md); the default target otherwise.
--verbose: also write the CLI's JSON log lines to stderr (at LOG_LEVEL); none are
written otherwise, except to the file ${LOG_FILE_ENV} names if it is set.
Times are UTC, to the second.

Who you are: run, approve, reject, cancel and the schedule changes need your
operator key in the environment variable ${KEY_ENV} (never on the command line:
flags show in ps and shell history). ${OPERATORS_ENV} maps each key's sha256 to an operator name
and that person's Slack user id (${ENTRY_FORMAT}); the CLI acts as that
Slack user, so whoever requested a run cannot approve it, here or in Slack. The
audit records "via cli (os-user@host)". The other commands need no key. There is
no --as and DR_OPERATOR is not read: a typed name proves nothing.
When Slack answers (SLACK_BOT_TOKEN, SLACK_API_URL), the CLI checks that your
Slack user is still an active full member and refuses otherwise; when it does
not answer, the command goes on and the audit records that it could not check.
A new operator: \`npm run dr -- operator-key alice U0ALICE001\` prints a key for
alice (give it to her, privately) and the entry to add to ${OPERATORS_ENV}.
Anyone with write access to Redis can still forge records: see docs/security.md.

Examples:
  npm run dr -- plan restore-database-pitr cluster=prod-aurora to="15m ago"
  export ${KEY_ENV}="$(cat ~/.config/dr-chatops/key)"     # alice's key
  npm run dr -- run restore-database-pitr cluster=prod-aurora to=latest
  npm run dr -- approve r7k2m9x4 --follow                 # bob, with his own key`;

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { command: undefined, positional: [], params: {}, flags: { dryRun: false, follow: false, limit: 20, help: false, verbose: false } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--dry-run') parsed.flags.dryRun = true;
    else if (arg === '--follow' || arg === '-f') parsed.flags.follow = true;
    else if (arg === '--help' || arg === '-h') parsed.flags.help = true;
    else if (arg === '--verbose' || arg === '-v') parsed.flags.verbose = true;
    else if (arg === '--json') parsed.flags.json = true;
    else if (arg === '--as' || arg.startsWith('--as=')) throw new UsageError(impersonationRefusal('--as'));
    else if (/^--(operator-)?key(=|$)/.test(arg)) {
      throw new UsageError(
        `${arg.split('=')[0] ?? arg}: the operator key is read from the environment variable ${KEY_ENV} only, never from a flag (flags show in ps and shell history). If you typed your key on a command line, it is in your shell history now: get a new one with operator-key. Nothing changed.`,
      );
    } else if (arg === '--limit') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value.`);
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError('--limit takes a whole number from 1 to 1000.');
      parsed.flags.limit = n;
    } else if (arg === '--target' || arg.startsWith('--target=')) {
      const value = arg === '--target' ? argv[++i] : arg.slice('--target='.length);
      if (value === undefined || value === '' || value.startsWith('--')) throw new UsageError('--target needs a target name.');
      parsed.flags.target = value;
    } else if (arg.startsWith('--')) throw new UsageError(`Unknown option ${arg}.`);
    else if (parsed.command === undefined) {
      if (!(COMMANDS as readonly string[]).includes(arg)) {
        const close = closestMatch(arg, COMMANDS);
        throw new UsageError(`Unknown command '${arg}'.${close ? ` Did you mean '${close}'?` : ''}`);
      }
      parsed.command = arg;
    }
    else if (/^[A-Za-z_][\w]*=/.test(arg) && (parsed.command === 'plan' || parsed.command === 'run')) {
      const eq = arg.indexOf('=');
      parsed.params[arg.slice(0, eq)] = arg.slice(eq + 1);
    } else parsed.positional.push(arg);
  }
  return parsed;
}

/** A mistake in how the CLI was called: exit code 2 with the usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export async function runCommand(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const { service, store, out } = deps;
  const now = deps.now ?? Date.now;
  const command = args.command;
  if (command === undefined || command === 'help' || args.flags.help) {
    out(USAGE);
    return command === undefined && !args.flags.help ? 2 : 0;
  }
  if (args.flags.target !== undefined && !TARGET_COMMANDS.includes(command)) throw new UsageError(`${command} takes no --target (only ${TARGET_COMMANDS.join(', ')} do).`);
  const target = args.flags.target === undefined ? {} : { target: args.flags.target };
  if (args.flags.json && command !== 'report') throw new UsageError(`${command} takes no --json (only report does).`);
  // Who acts is settled before anything is read or changed: a refused command changes nothing.
  const operator = changesSomething(args) ? await deps.operator() : undefined;
  const checked = async (): Promise<CheckedOperator> => operator ?? deps.operator();
  /** The operator as the run service judges them: with the groups among `handles` Slack says they are in, when it can be asked. */
  const identity = async (op: CheckedOperator, handles: readonly string[]): Promise<Identity> => {
    const groups = await op.groupsOf(handles);
    return { ...op.actor, ...(groups ? { groups } : {}) };
  };
  /** The operator deciding on a run, with their groups among those its approval policy names. */
  const deciding = async (runId: string): Promise<{ op: CheckedOperator; who: Identity }> => {
    const op = await checked();
    const run = await service.mustGet(runId);
    return { op, who: await identity(op, groupsToAsk(run.policy, op.actor.id)) };
  };
  /** After an action: the audit says when Slack could not be asked about who did it. */
  const recordUnchecked = async (op: CheckedOperator, runId: string): Promise<void> => {
    if (op.unchecked) await store.appendAudit(runId, { actor: op.actor, action: UNCHECKED_ACTION, detail: `Slack could not be asked: ${op.unchecked}` });
  };
  const one = (what: string): string => {
    const [value, ...rest] = args.positional;
    if (value === undefined) throw new UsageError(`${command} needs ${what}.`);
    if (rest.length > 0 && command !== 'reject' && command !== 'cancel') throw new UsageError(`${command} takes one ${what}; unexpected: ${rest.join(' ')}`);
    return value;
  };

  switch (command) {
    case 'runbooks':
      renderRunbooks(service.runbooks.values()).forEach(out);
      return 0;
    case 'plan': {
      const { runbook, plan } = await service.preview({ runbookId: one('a runbook id'), params: args.params, ...target });
      out(`Plan for ${runbook.id} (${runbook.title}) — nothing has been changed:`);
      renderPlan(plan, deps.actsOnTarget).forEach(out);
      out(runbook.approval.required === 0 ? 'Runs without approval.' : `Needs ${plural(runbook.approval.required, 'approval')} from someone other than the requester.`);
      return 0;
    }
    case 'run': {
      const runbookId = one('a runbook id');
      const op = await checked();
      const requester = await identity(op, service.requesterGroupsToAsk(service.runbook(runbookId), op.actor.id));
      const run = await service.create({ runbookId, params: args.params, requester, dryRun: args.flags.dryRun, ...target });
      await recordUnchecked(op, run.id);
      out(`Run ${run.id} requested: ${run.runbookId}${run.dryRun ? ' (dry run: nothing will change)' : ''}`);
      renderPlan(run.plan, deps.actsOnTarget).forEach(out);
      if (run.state === 'awaiting_approval') {
        out(`Waiting for approval: a second operator runs \`npm run dr -- approve ${run.id}\` (the request expires at ${utc(run.expiresAt)}).`);
        return args.flags.follow ? follow(run.id, deps) : 0;
      }
      out('Started: it needs no approval.');
      return follow(run.id, deps);
    }
    case 'approve': {
      const runId = one('a run id');
      const { op, who } = await deciding(runId);
      const { outcome, run } = await service.approve(runId, who);
      await recordUnchecked(op, run.id);
      out(outcome === 'approved' ? `Approved: run ${run.id} starts now.` : `Approval recorded: ${run.approvals.length} of ${run.policy.required}.`);
      return args.flags.follow && outcome === 'approved' ? follow(run.id, deps) : 0;
    }
    case 'reject':
    case 'cancel': {
      const [runId, ...reason] = args.positional;
      if (runId === undefined) throw new UsageError(`${command} needs a run id.`);
      const why = reason.join(' ') || undefined;
      const { op, who } = await deciding(runId);
      const run = command === 'reject' ? await service.reject(runId, who, why) : await service.cancel(runId, who, why);
      await recordUnchecked(op, run.id);
      out(
        run.state === 'running'
          ? `Cancel requested: run ${run.id} stops at the current step (waits are interrupted).`
          : `Run ${run.id} is ${run.state}.`,
      );
      return command === 'cancel' && run.state === 'running' && args.flags.follow ? follow(run.id, deps) : 0;
    }
    case 'gate': {
      const [runId, choice, ...reason] = args.positional;
      if (runId === undefined || (choice !== 'accept' && choice !== 'refuse')) throw new UsageError('gate needs a run id and accept or refuse: gate <run> accept|refuse [reason …]');
      const { op, who } = await deciding(runId);
      // The gate the run waits at now; with none open, the service says so and nothing changes.
      const gate = (await service.mustGet(runId)).gate;
      const answer = await service.decideGate(runId, gate?.state === 'open' ? gate.id : 'none', who, choice, reason.join(' ') || undefined);
      await recordUnchecked(op, runId);
      out(answer.outcome === 'recorded' ? `Accept recorded: ${answer.accepts} of ${answer.required}.` : `Gate ${answer.outcome}: run ${runId} ${answer.outcome === 'accepted' ? 'goes on now' : 'fails at the gate'}.`);
      return 0;
    }
    case 'status': {
      const run = await service.mustGet(one('a run id'));
      if (args.flags.follow && !isTerminal(run.state)) return follow(run.id, deps);
      renderRun(run, now()).forEach(out);
      return 0;
    }
    case 'runs':
      renderRuns(await store.list(args.flags.limit)).forEach(out);
      return 0;
    case 'audit': {
      const run = await service.mustGet(one('a run id'));
      renderAudit(run, await store.audit(run.id)).forEach(out);
      return 0;
    }
    case 'backups':
      renderBackups(await deps.listBackups(args.flags.target), now()).forEach(out);
      return 0;
    case 'drills':
      return drillsCommand(args.positional, { drills: deps.drills, out, limit: args.flags.limit }, (text) => new UsageError(text));
    case 'report':
      if (!deps.reports) throw new Error('report needs the objectives and the incidents (cli/main.ts passes them)');
      return reportCommand(args.positional, args.flags.json === true, { service, store, ...deps.reports, out, now }, (text) => new UsageError(text));
    case 'schedule':
      return scheduleCommand(args.positional, { ...deps, operator: checked, now }, (text) => new UsageError(text));
    case 'operator-key':
      // main.ts runs it before connecting to Redis (operatorKeyCommand).
      throw new Error('operator-key is handled by operatorKeyCommand');
    default:
      throw new UsageError(`Unknown command '${command}'.`);
  }
}

/**
 * `operator-key <name> [<slack user id>]`: a new random key, printed once (to
 * `out` only, never logged), and the operator map entry that holds its hash.
 * The Slack user id may be left out when the name is already in the map (a new
 * key for the same person). Needs neither Redis nor a key.
 */
export function operatorKeyCommand(args: ParsedArgs, operators: readonly CliOperator[], out: (line: string) => void): number {
  const [name, given, ...rest] = args.positional;
  const example = 'npm run dr -- operator-key alice U0ALICE001';
  if (name === undefined) throw new UsageError(`operator-key needs the operator's name and Slack user id: ${example}`);
  if (rest.length > 0) throw new UsageError(`operator-key takes a name and a Slack user id; unexpected: ${rest.join(' ')}`);
  if (!OPERATOR_NAME.test(name)) throw new UsageError(`operator-key: the name \`${name.slice(0, 64)}\` must be lowercase letters, digits and _ . - starting with a letter (at most 64), like alice.`);
  const existing = operators.find((o) => o.name === name);
  const slackUserId = given ?? existing?.slackUserId;
  if (slackUserId === undefined) {
    throw new UsageError(
      `operator-key needs ${name}'s Slack user id too (Slack: their profile → ⋮ → Copy member ID): ${example}. It is who ${name} is in runs and audits, in Slack and here.`,
    );
  }
  if (!SLACK_USER_ID.test(slackUserId)) throw new UsageError(`operator-key: \`${slackUserId.slice(0, 64)}\` is not a Slack user id (like U0ALICE001).`);
  const other = operators.find((o) => o.slackUserId === slackUserId && o.name !== name);
  if (other) throw new UsageError(`operator-key: ${slackUserId} is already the operator ${other.name}; one entry per person. Use operator-key ${other.name} for a new key.`);
  const key = newOperatorKey();
  const entry = operatorEntry(name, slackUserId, key);
  out(`New operator key for ${name} (Slack user ${slackUserId}). It is shown this once and stored nowhere; give it to ${name} privately:`);
  out('');
  out(`  ${KEY_ENV}=${key}`);
  out('');
  out(`${existing ? `Replace the entry for ${name} in` : 'Add this entry to'} ${OPERATORS_ENV} (comma separated; it holds only the key's sha256, not secret):`);
  out('');
  out(`  ${entry}`);
  out('');
  out(existing ? `Until the entry is replaced, ${name}'s old key still works and this one does not.` : `Until the entry is added, this key is refused.`);
  return 0;
}

/** Prints every change of the run until it ends; exit code 0 only for success. */
async function follow(runId: string, deps: CliDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const seen = new Map<string, string>();
  let lastState = '';
  for (;;) {
    const run: Run = await deps.service.mustGet(runId);
    // A new state is told before the steps it led to; the ending, after every step line (below).
    if (run.state !== lastState && !isTerminal(run.state)) deps.out(`[${utc(now())}] run ${run.state.replace('_', ' ')}`);
    lastState = run.state;
    for (const p of run.plan) {
      const s = run.steps[p.stepId];
      const key = `${s?.state ?? ''}|${String(s?.attempts ?? 0)}|${s?.progress?.message ?? ''}|${s?.error ?? ''}`;
      if (s && s.state !== 'pending' && seen.get(p.stepId) !== key) {
        seen.set(p.stepId, key);
        deps.out(`[${utc(now())}] ${stepLine(p, s, now())}`);
      }
    }
    if (isTerminal(run.state)) {
      const took = run.startedAt && run.finishedAt ? ` in ${formatDuration(run.finishedAt - run.startedAt)}` : '';
      deps.out(`Run ${run.id} ${run.state}${took}.`);
      if (run.failure) renderRun(run, now()).slice(-2).forEach(deps.out);
      return run.state === 'succeeded' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 500));
  }
}
