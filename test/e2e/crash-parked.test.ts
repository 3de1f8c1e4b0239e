import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParkMarker } from '../../src/engine/park.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, spawnBot } from '../support/process.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const PARKED_COMMANDS = fileURLToPath(new URL('../fixtures/parked/', import.meta.url));

/**
 * Real worker processes running a run that parks between looks
 * (test/fixtures/parked/parked-provision.yaml); the worker doing a look or
 * an action is killed with SIGKILL. A fresh worker finishes the run, once,
 * and nothing the run changes is changed twice.
 */
describe('a worker killed during a look or an action of a run that parks', () => {
  let slack: FakeSlack;
  let api: FakeService;
  let engine: TestEngine;
  const prefix = uniquePrefix();
  const workers: BotProcess[] = [];

  const startWorker = async (): Promise<BotProcess> => {
    const worker = spawnBot(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        COMMANDS_DIR: PARKED_COMMANDS,
        HTTP_ALLOWED_TARGETS: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        WORKER_CONCURRENCY: '1',
        WORKER_LOCK_DURATION_MS: '2000',
        STEP_RETRY_BASE_MS: '100',
      },
      ['--role', 'worker'],
    );
    workers.push(worker);
    await worker.waitForLog(/dr-chatops started/);
    return worker;
  };
  const killAll = async () => {
    for (const w of workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  };
  const until = async (what: string, ok: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const parkedIn = async (runId: string, stepId: string) => parseParkMarker(await engine.store.field(runId, 'parked'))?.stepId === stepId;
  const notified = (runId: string, stepId: string) => api.notifications.filter((n) => n.key === `${runId}-${stepId}`);

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    api = await new FakeService().start();
    engine = await startTestEngine({ workers: 0, prefix, commandsDir: PARKED_COMMANDS });
  });
  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null) {
        w.child.kill('SIGTERM');
        await w.exited;
      }
    }
    await engine.stop();
    await api.stop();
    await slack.stop();
  });

  it('killed during a look: the next worker looks again and the run finishes once, nothing created twice', async () => {
    await startWorker();
    api.readyAfterMs = 9_000;
    const run = await engine.service.create({ runbookId: 'parked-provision', params: { baseUrl: api.url, intervalSeconds: 3 }, requester: ALICE });
    await until('the run to park between looks', () => parkedIn(run.id, 'wait-ready'));
    const path = `/resources/res-${run.id}`;
    const looksBefore = api.requests.filter((r) => r.path === path).length;
    // The next look hangs in its GET; the worker making it dies there.
    api.failNext(`GET ${path}`, { delayMs: 5_000 });
    await until('the next look', () => api.requests.filter((r) => r.path === path).length > looksBefore);
    await killAll();
    await startWorker();

    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 40_000);
    expect(done.state).toBe('succeeded');
    expect(api.creates.get(`res-${run.id}`)).toBe(1);
    expect(api.requests.filter((r) => r.method === 'POST' && r.path === '/resources')).toHaveLength(1);
    expect(notified(run.id, 'notify')).toHaveLength(1);
    expect(notified(run.id, 'report')).toHaveLength(1);
    const actions = (await engine.store.audit(run.id)).map((a) => a.action);
    expect(actions.filter((a) => a === 'succeeded')).toHaveLength(1);
    expect(actions.filter((a) => a === 'resumed')).toHaveLength(1);
  });

  it('killed during an action: the next worker sends it again with the same key, it applies once, and the waits after it park as before', async () => {
    await killAll();
    await startWorker();
    api.readyAfterMs = 5_000;
    api.failNext('POST /resources', { delayMs: 2_000 });
    const run = await engine.service.create({ runbookId: 'parked-provision', params: { baseUrl: api.url, intervalSeconds: 2.5 }, requester: ALICE });
    await until('the create request', () => api.requests.some((r) => r.method === 'POST' && r.path === '/resources' && r.key === `${run.id}-create`));
    await killAll();
    await startWorker();

    await until('the run to park between looks', () => parkedIn(run.id, 'wait-ready'));
    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 40_000);
    expect(done.state).toBe('succeeded');
    expect(api.creates.get(`res-${run.id}`)).toBe(1);
    expect(done.steps.create?.attempts).toBe(2);
    expect(notified(run.id, 'notify')).toHaveLength(1);
    expect(notified(run.id, 'report')).toHaveLength(1);
    expect((await engine.store.audit(run.id)).filter((a) => a.action === 'succeeded')).toHaveLength(1);
  });
});
