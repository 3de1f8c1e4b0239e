import { Redis } from 'ioredis';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
 * a cancel and reads the step's checkpoints and waits); its success is written
 * by the next step's start, or by the run's end.
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

  /** Executes the run in this process, with no worker: the step's cancel and ownership poll does not fire during these short steps. */
  const execute = (runId: string) =>
    executeRun(runId, {
      store: engine.store,
      registry: buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: TEST_OUTBOUND }),
      targets: testTargets({}),
      logger: engine.logger,
      token: `token-${runId}`,
      pollMs: 600_000,
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
    expect(await execute(run.id)).toBe('succeeded');
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

  it('a succeeded step costs one round trip: its start, which also writes the success of the step before', async () => {
    const three = await commandsFor('three-waits');
    const six = await commandsFor('six-waits');
    expect((six - three) / 3).toBe(1);
  });

  it('a cancel seen by the next step\'s start still leaves the step before written as succeeded, with its event and audit entry, in order', async () => {
    // The call's answer comes after the cancel is stored: the step succeeds, and the next start (which carries its success) is refused.
    let runId = '';
    const server: Server = createServer((_req, res) => {
      void engine.service.cancel(runId, ALICE, 'stop after the call').then(() => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const run = await engine.service.create({ runbookId: 'call-then-wait', params: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health` }, requester: ALICE });
      runId = run.id;
      expect(await execute(run.id)).toBe('cancelled');
      const ended = await engine.store.get(run.id);
      expect(ended?.steps.call?.state).toBe('succeeded');
      expect(ended?.steps.after?.state).toBe('pending');
      const actions = (await engine.store.audit(run.id)).map((a) => `${a.action}${a.detail ? `: ${a.detail}` : ''}`);
      const succeeded = actions.findIndex((a) => a.startsWith('step succeeded: call'));
      const cancelled = actions.findIndex((a) => a.startsWith('cancelled: stopped before after; done before: call'));
      expect(succeeded).toBeGreaterThan(-1);
      expect(cancelled).toBeGreaterThan(succeeded);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a run adds three round trips to its steps: its first read, its claim (which also gives its start) and its end (which also writes the last success)', async () => {
    const three = await commandsFor('three-waits');
    expect(three - 3).toBe(3);
  });
});
