/**
 * The run engine in-process: store, service and queue as the bot has them, and
 * (optionally) run workers as a worker process has them, on real Redis under
 * a prefix of their own.
 */
import { Redis } from 'ioredis';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isUserError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { createRedisConnection, type RedisConnection } from '../../src/queue/connection.ts';
import { RunQueue } from '../../src/queue/run-queue.ts';
import { startRunWorker } from '../../src/queue/run-worker.ts';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import { lastReplicationLag } from '../../src/readiness/last-lag.ts';
import { ReadinessStore } from '../../src/readiness/store.ts';
import { DrillStore } from '../../src/drills/store.ts';
import { loadRunbooks } from '../../src/runbooks/load.ts';
import type { Actor, Run, RunState } from '../../src/runs/model.ts';
import { RunService } from '../../src/runs/service.ts';
import { RunStore } from '../../src/runs/store.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { TargetsSettingSchema } from '../../src/targets/config.ts';
import { type TargetSettings, targetsFromConfig } from '../../src/targets/from-config.ts';
import type { Targets, TargetsOptions } from '../../src/targets/targets.ts';
import type { OutboundPolicy } from '../../src/steps/builtin/outbound.ts';
import { DEFAULT_LIMITS } from '../../src/steps/limits.ts';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.ts';

export const FIXTURE_COMMANDS = fileURLToPath(new URL('../fixtures/commands/', import.meta.url));
/** The runbooks the project ships. */
export const SHIPPED_COMMANDS = fileURLToPath(new URL('../../commands/', import.meta.url));

export const ALICE: Actor = { id: 'U0ALICE001', name: 'alice', via: 'slack' };
export const BOB: Actor = { id: 'U0BOB00001', name: 'bob', via: 'slack' };

export interface TestEngine {
  prefix: string;
  store: RunStore;
  service: RunService;
  queue: RunQueue;
  logger: Logger;
  redis: RedisConnection;
  /** Resolves when the run reaches one of `states`. */
  waitForState(runId: string, states: RunState[], timeoutMs?: number): Promise<Run>;
  /** Another worker, as a worker process has it (`concurrency`: WORKER_CONCURRENCY, 8 unless given); stopped by stop(). */
  startWorker(concurrency?: number, options?: { reconcileIntervalMs?: number }): WorkerHandle;
  stop(): Promise<void>;
}

export interface TestEngineOptions {
  workers?: number;
  prefix?: string;
  commandsDir?: string;
  /** Where steps act (fakes' endpoints); one `default` target reaching nothing by default. */
  targets?: Targets;
  /** Receives every log line (the logger then logs at debug). */
  logLines?: string[];
  /** Where http steps may connect; the loopback fakes (127.0.0.1) by default. */
  outbound?: OutboundPolicy;
}

/** The message of the UserError `promise` rejects with (what the user would be told); anything else is rethrown. */
export async function userErrorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isUserError(err)) return err.message;
    throw err;
  }
  throw new Error('expected a UserError');
}

/**
 * Targets as a deployment's config makes them: today's single-target settings
 * (`aws`, `kubernetes`) as target `default`, plus named `targets`.
 */
export function testTargets(
  settings: Partial<Pick<TargetSettings, 'aws' | 'defaultTarget'>> & { kubernetes?: Partial<TargetSettings['kubernetes']>; targets?: Record<string, unknown> },
  options: TargetsOptions = {},
): Targets {
  return targetsFromConfig(
    {
      aws: settings.aws ?? {},
      kubernetes: { veleroNamespace: 'velero', ...settings.kubernetes },
      // Checked as the config checks DR_TARGETS.
      targets: TargetsSettingSchema.parse(settings.targets ?? {}),
      defaultTarget: settings.defaultTarget ?? 'default',
    },
    options,
  );
}

/** The loopback fakes listen on 127.0.0.1, which http steps refuse unless it is allowed. */
export const TEST_OUTBOUND: OutboundPolicy = { allow: ['127.0.0.1'], ownPorts: [] };

export async function startTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const prefix = options.prefix ?? uniquePrefix();
  const lines = options.logLines;
  const logger = lines
    ? createLogger({
        level: 'debug',
        destination: new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        }),
      })
    : createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const registry = buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: options.outbound ?? TEST_OUTBOUND });
  const targets = options.targets ?? testTargets({});
  const runbooks = loadRunbooks(options.commandsDir ?? FIXTURE_COMMANDS, registry, targets.names());
  const redis = createRedisConnection(TEST_REDIS_URL, 'worker', logger);
  const store = new RunStore(redis, prefix);
  const queue = new RunQueue(redis, prefix, logger);
  // Any member approves here (an operator's explicit DR_APPROVERS=*); policy tests name their own.
  const service = new RunService({ store, queue, runbooks, registry, targets, logger, approvers: { anyone: true, users: [], groups: [] } });
  const workers: { handle: WorkerHandle; connection: Redis }[] = [];
  // The drill record under this engine's prefix: what the readiness check's drill items read, as a worker process wires it.
  const drills = new DrillStore(redis, prefix);
  // And the readiness record: what a failover's data-loss question reads the last measured lag from.
  const readiness = new ReadinessStore(redis, prefix);
  await queue.waitUntilReady();

  const startWorker = (concurrency = 8, options: { reconcileIntervalMs?: number } = {}): WorkerHandle => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const handle = startRunWorker({
      connection,
      prefix,
      concurrency,
      lockDurationMs: 5_000,
      logger,
      store,
      service,
      queue,
      registry,
      engine: { retryBaseMs: 50, pollMs: 50, progressIntervalMs: 100 },
      drillHistory: () => drills.results(),
      replicationLag: (cluster) => lastReplicationLag(readiness, cluster),
      ...options,
    });
    workers.push({ handle, connection });
    return handle;
  };
  for (let i = 0; i < (options.workers ?? 1); i++) startWorker();

  return {
    prefix,
    store,
    service,
    queue,
    logger,
    redis,
    startWorker,
    async waitForState(runId, states, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await store.get(runId);
        if (run && states.includes(run.state)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} is ${run?.state ?? 'missing'}, not ${states.join('|')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      for (const w of workers) {
        await w.handle.close(1_000);
        w.connection.disconnect();
      }
      await queue.close();
      redis.disconnect();
      await deleteKeys(prefix);
    },
  };
}
