import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, BOB, FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, spawnBot } from '../support/process.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

/**
 * Two real worker processes; the one executing a run is killed with SIGKILL in
 * the middle of a step. The other takes the run over, re-enters the step, and
 * the step's idempotency key keeps the side effect single.
 */
describe('a worker killed mid-step: another takes the run over, nothing is doubled', () => {
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
        COMMANDS_DIR: FIXTURE_COMMANDS,
        HTTP_ALLOWED_TARGETS: '127.0.0.1', // the fake service; http steps refuse loopback otherwise
        PORT: '0',
        METRICS_PORT: '0',
        WORKER_LOCK_DURATION_MS: '2000',
        STEP_RETRY_BASE_MS: '100',
      },
      ['--role', 'worker'],
    );
    workers.push(worker);
    await worker.waitForLog(/dr-chatops started/);
    return worker;
  };

  /** The worker process whose log says it started (or resumed) this run. */
  const ownerOf = async (runId: string): Promise<BotProcess> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const owner = workers.find(
        (w) => w.child.exitCode === null && w.child.signalCode === null && w.stdout().split('\n').some((l) => l.includes(runId) && /run (started|resumed)/.test(l)),
      );
      if (owner) return owner;
      if (Date.now() > deadline) throw new Error(`no worker claimed ${runId}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const kill = async (worker: BotProcess) => {
    worker.child.kill('SIGKILL');
    await worker.exited;
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    api = await new FakeService().start();
    engine = await startTestEngine({ workers: 0, prefix });
    await Promise.all([startWorker(), startWorker()]);
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

  it('killed while its create request is in flight: the create is re-sent with the same key and applied once', async () => {
    api.failNext('POST /resources', { delayMs: 1_500 });
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, BOB);

    const owner = await ownerOf(run.id);
    const deadline = Date.now() + 10_000;
    while (api.createRequests === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await kill(owner);

    const done = await engine.waitForState(run.id, ['succeeded', 'failed'], 30_000);
    expect(done.state).toBe('succeeded');
    expect(api.createRequests).toBe(2);
    expect(api.resources.size).toBe(1);
    expect(api.notifications).toHaveLength(1);
    const actions = (await engine.store.audit(run.id)).map((a) => a.action);
    expect(actions).toContain('resumed');
    expect(actions).toContain('step re-entered');
    expect(done.steps.create?.attempts).toBe(2);
  });

  it('killed during the cleanup of a failed run: the next worker resumes the cleanup, never re-runs the failed step, and the run still fails', async () => {
    await startWorker(); // beside the survivor of the earlier test
    api.failNext('POST /notify', { delayMs: 1_500 });
    const run = await engine.service.create({ runbookId: 'cleanup', params: { baseUrl: api.url, checkPath: '/missing' }, requester: ALICE });
    await engine.service.approve(run.id, BOB);

    const owner = await ownerOf(run.id);
    const deadline = Date.now() + 15_000;
    const teardownSent = () => api.requests.some((r) => r.method === 'POST' && r.key === `${run.id}-teardown`);
    while (!teardownSent() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const checksBefore = api.requests.filter((r) => r.path === '/missing').length;
    await kill(owner);

    const done = await engine.waitForState(run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect(done.state).toBe('failed');
    expect(done.failure?.stepId).toBe('check');
    expect(done.steps.teardown).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(done.steps.report?.state).toBe('succeeded');
    expect(api.requests.filter((r) => r.path === '/missing')).toHaveLength(checksBefore);
    expect(api.notifications.filter((n) => n.key === `${run.id}-teardown`)).toHaveLength(1);
    const actions = (await engine.store.audit(run.id)).map((a) => a.action);
    expect(actions.filter((a) => a === 'cleanup started')).toHaveLength(1);
    expect(actions).toContain('resumed');
  });

  it('killed while waiting for the resource: the restarted worker resumes the wait without creating again', async () => {
    await startWorker(); // the "restarted" one, beside the survivor
    api.readyAfterMs = 3_000;
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, BOB);

    const owner = await ownerOf(run.id);
    const deadline = Date.now() + 10_000;
    while ((await engine.store.get(run.id))?.steps['wait-ready']?.state !== 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await kill(owner);

    const done = await engine.waitForState(run.id, ['succeeded', 'failed'], 30_000);
    expect(done.state).toBe('succeeded');
    expect(api.creates.get(`res-${run.id}`)).toBe(1);
    expect(api.requests.filter((r) => r.method === 'POST' && r.key === `${run.id}-create`)).toHaveLength(1);
    expect(api.notifications.filter((n) => n.key === `${run.id}-notify`)).toHaveLength(1);
    expect(done.steps.create?.attempts).toBe(1);
    expect(done.steps['wait-ready']?.attempts).toBe(2);
  });

  it('50 concurrent approvals with several worker processes running: one start, one execution', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    const peers = Array.from({ length: 50 }, (_, i) => ({ id: `U0PEER${String(i % 7).padStart(4, '0')}`, via: 'slack' as const }));
    const results = await Promise.allSettled(peers.map((p) => engine.service.approve(run.id, p)));
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.outcome === 'approved')).toHaveLength(1);

    const done = await engine.waitForState(run.id, ['succeeded', 'failed'], 30_000);
    expect(done.state).toBe('succeeded');
    const starts = workers.flatMap((w) => w.stdout().split('\n').filter((l) => l.includes(run.id) && l.includes('"run started"')));
    expect(starts).toHaveLength(1);
    expect(api.requests.filter((r) => r.key === `${run.id}-create`)).toHaveLength(1);
    expect(api.notifications.filter((n) => n.key === `${run.id}-notify`)).toHaveLength(1);
  });
});
