/**
 * `npm run dr -- <command>`: the terminal front end for when Slack is down.
 * Same Redis, runbooks and workers as the bot; needs no Slack credentials.
 * Exit codes: 0 ok, 1 refused or failed run, 2 usage error, 78 bad configuration.
 */
import { scenarioTargets } from '../incidents/scenarios.ts';
import { userInfo } from 'node:os';
import { loadConfig } from '../config/load.ts';
import { ConfigError, errorMessage, isUserError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { createRedisConnection, waitForConnection } from '../queue/connection.ts';
import { RunQueue } from '../queue/run-queue.ts';
import { loadRunbooks, RunbookLoadError } from '../runbooks/load.ts';
import type { Actor } from '../runs/model.ts';
import { RunService } from '../runs/service.ts';
import { RunStore } from '../runs/store.ts';
import { buildRegistry } from '../steps/registry.ts';
import { createStepClients } from '../steps/clients.ts';
import { listBackups } from '../steps/velero/objects.ts';
import { parseArgs, runCommand, USAGE, UsageError } from './commands.ts';

const EXIT_CONFIG = 78;

function operatorFrom(flag: string | undefined): Actor {
  const name = flag ?? process.env.DR_OPERATOR ?? process.env.USER ?? safeUserName();
  // A Slack user id stands for that user, so runbooks that name approvers can be approved from here.
  if (/^[UW][A-Z0-9]{2,}$/.test(name)) return { id: name, via: 'cli' };
  return { id: `cli:${name}`, name, via: 'cli' };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'operator';
  }
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
  let config;
  let runbooks;
  let registry;
  let clients;
  let targets;
  try {
    config = loadConfig({ env: process.env, needsSlack: false });
    clients = createStepClients(config);
    targets = scenarioTargets(config.incidents.targets);
    registry = buildRegistry(clients, targets);
    runbooks = loadRunbooks(config.paths.commandsDir, registry);
  } catch (err) {
    console.error(errorMessage(err));
    return err instanceof ConfigError || err instanceof RunbookLoadError ? EXIT_CONFIG : 1;
  }
  // Library logs go to stderr so that stdout holds only what the operator asked for.
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr });
  const redis = createRedisConnection(config.redisUrl, 'worker', logger);
  const queue = new RunQueue(redis, config.queuePrefix, logger);
  try {
    await waitForConnection(redis, 5_000);
    const store = new RunStore(redis, config.queuePrefix);
    const service = new RunService({ store, queue, runbooks, registry, logger, targets });
    const { veleroNamespace } = config.kubernetes;
    const listVeleroBackups = async () => listBackups(await clients.kube(), veleroNamespace);
    return await runCommand(args, { service, store, registry, logger, operator: operatorFrom(args.flags.as), out: write, listBackups: listVeleroBackups });
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
