/**
 * `npm run dr -- <command>`: the terminal front end for when Slack is down.
 * Same Redis, runbooks and workers as the bot; needs no Slack credentials.
 * Exit codes: 0 ok, 1 refused or failed run, 2 usage error, 78 bad configuration.
 * Who acts comes from the operator key in DR_OPERATOR_KEY (operators.ts).
 */
import { hostname, userInfo } from 'node:os';
import { loadConfig } from '../config/load.ts';
import { ConfigError, errorMessage, isUserError, UserError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { createRedisConnection, waitForConnection } from '../queue/connection.ts';
import { RunQueue } from '../queue/run-queue.ts';
import { RunbookLoadError } from '../runbooks/load.ts';
import { loadRecovery } from '../runbooks/recovery.ts';
import type { Actor } from '../runs/model.ts';
import { RunService } from '../runs/service.ts';
import { RunStore } from '../runs/store.ts';
import { listBackups } from '../steps/velero/objects.ts';
import { CHANGING_COMMANDS, operatorKeyCommand, parseArgs, runCommand, USAGE, UsageError } from './commands.ts';
import { type CliOperator, identify, impersonationRefusal, KEY_ENV, type TerminalOrigin } from './operators.ts';

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

/** The operator for a command that changes something, or a UserError saying what is missing. */
function operatorFor(command: string, operators: readonly CliOperator[]): () => Actor {
  let actor: Actor | undefined;
  return () => {
    if (actor) return actor;
    const who = identify(command, operatorKey, operators, terminalOrigin());
    if ('refusal' in who) throw new UserError(who.refusal);
    actor = who.actor;
    console.error(`Acting as ${who.operator.name} (Slack user ${actor.id}) via cli from ${actor.osUser ?? '?'}@${actor.host ?? '?'}.`);
    return actor;
  };
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
  // A command that changes something is refused before anything else is read when there is no valid key.
  const operator = operatorFor(args.command ?? '', config.cli.operators);
  if (args.command !== undefined && CHANGING_COMMANDS.includes(args.command) && !args.flags.help) {
    try {
      operator();
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
  // Library logs go to stderr so that stdout holds only what the operator asked for; the key is scrubbed from them.
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr, secrets: operatorKey ? [operatorKey] : [] });
  const redis = createRedisConnection(config.redisUrl, 'worker', logger);
  const queue = new RunQueue(redis, config.queuePrefix, logger);
  try {
    await waitForConnection(redis, 5_000);
    const store = new RunStore(redis, config.queuePrefix);
    const service = new RunService({ store, queue, runbooks: recovery.runbooks, registry, targets, objectives: recovery.objectives, logger, approvers: config.roles.approvers, requesters: config.roles.requesters });
    const listVeleroBackups = async (target = targets.defaultName) => {
      const access = targets.access(target, `cli-${userInfo().username}`);
      return listBackups(await access.kube(), access.target.veleroNamespace);
    };
    return await runCommand(args, { service, store, logger, operator, out: write, listBackups: listVeleroBackups });
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
    redis.disconnect();
  }
}

process.exitCode = await main(process.argv.slice(2));
