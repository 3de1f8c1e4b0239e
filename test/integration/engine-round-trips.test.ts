import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executeRun } from '../../src/engine/execute.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { DEFAULT_LIMITS } from '../../src/steps/limits.ts';
import { ALICE, startTestEngine, TEST_OUTBOUND, testTargets, type TestEngine } from '../support/engine.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const ROUND_TRIP_COMMANDS = fileURLToPath(new URL('../fixtures/round-trips/', import.meta.url));

/**
 * What a step costs the engine in Redis: every round trip is paid by every step
 * of every run, in sequence. A no-op step is its fenced start (which also sees
 * a cancel and reads the step's checkpoints and waits) and its fenced success.
 */
describe('engine: Redis round trips per step', () => {
  let engine: TestEngine;
  let monitor: Redis | undefined;

  beforeEach(async () => {
    engine = await startTestEngine({ workers: 0, commandsDir: ROUND_TRIP_COMMANDS });
  });
  afterEach(async () => {
    monitor?.disconnect();
    await engine.stop();
  });

  /** Executes the run here and counts the commands sent to Redis that name its hash (not those inside scripts). */
  const commandsFor = async (runbookId: string): Promise<number> => {
    const run = await engine.service.create({ runbookId, params: {}, requester: ALICE });
    const runKey = engine.store.runKey(run.id);
    monitor = await new Redis(TEST_REDIS_URL).monitor();
    let count = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.startsWith('lua') && args.includes(runKey)) count += 1;
    });
    const outcome = await executeRun(run.id, {
      store: engine.store,
      registry: buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: TEST_OUTBOUND }),
      targets: testTargets({}),
      logger: engine.logger,
      token: `token-${run.id}`,
      // The cancel and ownership poll of a running step does not fire during these no-op steps.
      pollMs: 600_000,
    });
    expect(outcome).toBe('succeeded');
    // MONITOR reports commands as Redis runs them: one more command, seen after all of the run's, marks the end.
    const marker = `${engine.prefix}:round-trips-end`;
    const seen = new Promise<void>((resolve) => {
      monitor?.on('monitor', (_time: string, args: string[]) => {
        if (args.includes(marker)) resolve();
      });
    });
    await engine.redis.exists(marker);
    await seen;
    monitor.disconnect();
    monitor = undefined;
    return count;
  };

  it('a succeeded step costs two round trips: its start and its success', async () => {
    const three = await commandsFor('three-waits');
    const six = await commandsFor('six-waits');
    expect((six - three) / 3).toBe(2);
  });

  it('a run adds three round trips to its steps: its first read, its claim (which also gives its start) and its end', async () => {
    const three = await commandsFor('three-waits');
    expect(three - 3 * 2).toBe(3);
  });
});
