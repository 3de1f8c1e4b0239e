/**
 * `npm run dr -- <command>`: the terminal front end for when Slack is down.
 * Same Redis, runbooks and workers as the bot; works without Slack.
 * Exit codes: 0 ok, 1 refused or failed run, 2 usage error, 78 bad configuration.
 * Who acts comes from the operator key in DR_OPERATOR_KEY (operators.ts),
 * checked with Slack when it answers (slack-check.ts).
 */
import { hostname, userInfo } from 'node:os';
import { pino } from 'pino';
import { loadConfig } from '../config/load.ts';
import { type Config, secretValues } from '../config/schema.ts';
import { ConfigError, errorMessage, isUserError, UserError } from '../errors.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { createRedisConnection, redisTargetOf, waitForConnection } from '../queue/connection.ts';
import { RunQueue } from '../queue/run-queue.ts';
import { RunbookLoadError } from '../runbooks/load.ts';
import { loadRecovery } from '../runbooks/recovery.ts';
import { RunService } from '../runs/service.ts';
import { RunStore } from '../runs/store.ts';
import { listBackups } from '../steps/velero/objects.ts';
import { changesSomething, LOG_FILE_ENV, operatorKeyCommand, parseArgs, runCommand, USAGE, UsageError } from './commands.ts';
import { ScheduleQueue } from '../schedules/queue.ts';
import { ScheduleService } from '../schedules/service.ts';
import { ScheduleStore } from '../schedules/store.ts';
import { DrillStore } from '../drills/store.ts';
import { IncidentStore } from '../incidents/store.ts';
import { incidentsFrom } from '../reports/follower.ts';
import { identify, impersonationRefusal, KEY_ENV, OPERATORS_ENV, type TerminalOrigin } from './operators.ts';
import { askSlack, type CheckedOperator } from './slack-check.ts';

const EXIT_CONFIG = 78;

// Read the key once and drop it from the environment, so nothing this process
// starts (a kubeconfig exec credential plugin, say) inherits it.
const operatorKey = process.env[KEY_ENV];
Reflect.deleteProperty(process.env, KEY_ENV);

/** Where the command is typed, as this machine says: recorded in the audit, not proof. */
function terminalOrigin(): TerminalOrigin {
  let osUser = process.env.USER ?? 'unknown';
  try {
    osUser = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  return { osUser, host: hostname() };
}

/**
 * The operator for a command that changes something, asked once: who the key
 * belongs to, then whether Slack still lets that user act (slack-check.ts).
 * Throws a UserError saying what is missing or why Slack refuses them.
 */
function operatorFor(command: string, config: Config, logger: Logger): () => Promise<CheckedOperator> {
  let checked: Promise<CheckedOperator> | undefined;
  const check = async (): Promise<CheckedOperator> => {
    const who = identify(command, operatorKey, config.cli.operators, terminalOrigin());
    if ('refusal' in who) throw new UserError(who.refusal);
    const { actor, operator } = who;
    const verdict = await askSlack(actor.id, { token: config.slack.botToken, apiUrl: config.slack.apiUrl, allowedTeams: config.slack.allowedTeams, logger });
    if (verdict.kind === 'refused') {
      throw new UserError(
        `${verdict.message}\n\`${command}\` is refused for ${operator.name}: Slack no longer lets that person act, so their key does not either. Nothing changed.\nIf this is wrong, fix the Slack account or the ${OPERATORS_ENV} entry; if it is right, remove the entry.`,
      );
    }
    console.error(`Acting as ${operator.name} (Slack user ${actor.id}) via cli from ${actor.osUser ?? '?'}@${actor.host ?? '?'}.`);
    if (verdict.kind === 'confirmed') return { actor, groupsOf: verdict.groupsOf };
    console.error(`Slack could not be asked whether ${operator.name} may still act (${verdict.reason}): going on with ${OPERATORS_ENV} alone; the audit records that the check could not be made.`);
    return { actor, unchecked: verdict.reason, groupsOf: () => Promise.resolve(undefined) };
  };
  return () => (checked ??= check());
}

/**
 * The CLI's own log: none unless asked for, so its JSON lines never mix with
 * what the operator reads. `--verbose` sends them to stderr, DR_CLI_LOG_FILE
 * appends them to a file; at the level LOG_LEVEL says (info unless set).
 */
function cliLogger(config: Config, verbose: boolean): Logger {
  const file = process.env[LOG_FILE_ENV];
  const streams = [...(verbose ? [process.stderr] : []), ...(file ? [pino.destination({ dest: file, append: true, sync: true })] : [])];
  const secrets = [...secretValues(config), ...(operatorKey ? [operatorKey] : [])];
  const [only] = streams;
  if (!only) return createLogger({ level: 'silent', secrets });
  const level = config.logLevel;
  return createLogger({ level, secrets, destination: streams.length === 1 ? only : pino.multistream(streams.map((stream) => ({ stream, level: level === 'silent' ? 'fatal' : level }))) });
}

const write = (line: string) => {
  process.stdout.write(`${line}\n`);
};

async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  const wantsHelp = args.command === undefined || args.command === 'help' || args.flags.help;
  if (process.env.DR_OPERATOR && !wantsHelp) {
    console.error(impersonationRefusal('DR_OPERATOR'));
    return 2;
  }
  let config;
  try {
    config = loadConfig({ env: process.env, needsSlack: false });
  } catch (err) {
    console.error(errorMessage(err));
    return err instanceof ConfigError ? EXIT_CONFIG : 1;
  }
  // Needs neither runbooks nor Redis.
  if (args.command === 'operator-key' && !args.flags.help) {
    try {
      return operatorKeyCommand(args, config.cli.operators, write);
    } catch (err) {
      console.error(err instanceof UsageError ? `${err.message}\n\n${USAGE}` : `dr: ${errorMessage(err)}`);
      return err instanceof UsageError ? 2 : 1;
    }
  }
  let logger;
  try {
    logger = cliLogger(config, args.flags.verbose);
  } catch (err) {
    console.error(`${LOG_FILE_ENV}: cannot write the log there: ${errorMessage(err)}`);
    return EXIT_CONFIG;
  }
  // A command that changes something is refused before anything else is read when there is no valid key, or Slack refuses its operator.
  const operator = operatorFor(args.command ?? '', config, logger);
  if (changesSomething(args) && !args.flags.help) {
    try {
      await operator();
    } catch (err) {
      console.error(errorMessage(err));
      return 1;
    }
  }
  let recovery;
  try {
    recovery = loadRecovery(config);
  } catch (err) {
    console.error(errorMessage(err));
    return err instanceof ConfigError || err instanceof RunbookLoadError ? EXIT_CONFIG : 1;
  }
  const { targets, registry } = recovery;
  const redis = createRedisConnection(redisTargetOf(config), 'worker', logger);
  const queue = new RunQueue(redis, config.queuePrefix, logger);
  const scheduleQueue = new ScheduleQueue(redis, config.queuePrefix, logger);
  try {
    await waitForConnection(redis, 5_000);
    const store = new RunStore(redis, config.queuePrefix);
    const service = new RunService({ store, queue, runbooks: recovery.runbooks, registry, targets, objectives: recovery.objectives, logger, approvers: config.roles.approvers, requesters: config.roles.requesters });
    const listVeleroBackups = async (target = targets.defaultName) => {
      const access = targets.access(target, `cli-${userInfo().username}`);
      return listBackups(await access.kube(), access.target.veleroNamespace);
    };
    const actsOnTarget = (use: string) => registry.get(use)?.targetless !== true;
    const schedules = new ScheduleService({ store: new ScheduleStore(redis, config.queuePrefix), queue: scheduleQueue, runs: service, approvers: config.roles.approvers, logger });
    const drills = new DrillStore(redis, config.queuePrefix);
    const reports = { objectives: recovery.objectives, incident: incidentsFrom(new IncidentStore(redis, config.queuePrefix)) };
    return await runCommand(args, { service, store, logger, operator, actsOnTarget, out: write, listBackups: listVeleroBackups, schedules, drills, reports });
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (isUserError(err)) {
      console.error(err.message);
      return 1;
    }
    console.error(`dr: ${errorMessage(err)}`);
    return 1;
  } finally {
    await queue.close().catch(() => undefined);
    await scheduleQueue.close().catch(() => undefined);
    redis.disconnect();
  }
}

process.exitCode = await main(process.argv.slice(2));
