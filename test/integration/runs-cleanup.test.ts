import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';

/**
 * A runbook's `always` steps run after its main steps however they end:
 * succeeded, failed, cancelled or timed out (test/fixtures/commands/cleanup.yaml).
 */
describe('runs: cleanup steps (always) run however the run ends', () => {
  let engine: TestEngine;
  let api: FakeService;

  beforeEach(async () => {
    api = await new FakeService().start();
    engine = await startTestEngine();
  });
  afterEach(async () => {
    await engine.stop();
    await api.stop();
  });

  const teardowns = (runId: string) => api.notifications.filter((n) => JSON.stringify(n.body) === JSON.stringify({ teardown: `res-${runId}` }));
  const start = async (params: Record<string, string | number> = {}) => {
    const run = await engine.service.create({ runbookId: 'cleanup', params: { baseUrl: api.url, ...params }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    return run;
  };
  const finished = (runId: string) => engine.waitForState(runId, ['succeeded', 'failed', 'cancelled'], 30_000);

  it('the plan lists the cleanup steps after the main steps, marked as always', async () => {
    const run = await engine.service.create({ runbookId: 'cleanup', params: { baseUrl: api.url }, requester: ALICE });
    expect(run.plan.map((p) => [p.stepId, p.always ?? false])).toEqual([
      ['create', false],
      ['pause', false],
      ['check', false],
      ['teardown', true],
      ['report', true],
    ]);
  });

  it('after the main steps succeed, the cleanup runs and the run succeeds', async () => {
    const run = await start();
    const done = await finished(run.id);
    expect(done.state).toBe('succeeded');
    expect(done.steps.teardown?.state).toBe('succeeded');
    expect(teardowns(run.id)).toHaveLength(1);
    expect(done.steps.report?.state).toBe('succeeded');
  });

  it('after a main step fails, the cleanup still runs and the run fails with that step\'s error', async () => {
    const run = await start({ checkPath: '/missing' });
    const done = await finished(run.id);
    expect(done.state).toBe('failed');
    expect(done.failure?.stepId).toBe('check');
    expect(done.steps.teardown?.state).toBe('succeeded');
    expect(teardowns(run.id)).toHaveLength(1);
    const actions = (await engine.store.audit(run.id)).map((a) => `${a.action}${a.detail ? `: ${a.detail}` : ''}`);
    expect(actions).toContain('cleanup started: step check failed; running teardown, report');
  });

  it('a step that times out still gets its cleanup', async () => {
    const run = await start({ seconds: 30 });
    const done = await finished(run.id);
    expect(done.state).toBe('failed');
    expect(done.failure).toMatchObject({ stepId: 'pause', message: expect.stringContaining('timed out') as unknown });
    expect(teardowns(run.id)).toHaveLength(1);
  });

  it('a cancelled run still runs its cleanup, which a cancel does not interrupt', async () => {
    api.failNext('POST /notify', { delayMs: 1_200 });
    const run = await start({ seconds: 1.5 });
    const deadline = Date.now() + 10_000;
    while ((await engine.store.get(run.id))?.steps.pause?.state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await engine.service.cancel(run.id, ALICE, 'wrong cluster');
    const done = await finished(run.id);
    expect(done.state).toBe('cancelled');
    expect(done.steps.pause?.state).toBe('cancelled');
    expect(done.steps.check?.state ?? 'pending').toBe('pending');
    expect(done.steps.teardown?.state).toBe('succeeded');
    expect(teardowns(run.id)).toHaveLength(1);
  });

  it('a cleanup step that fails fails a run whose main steps succeeded, and the next cleanup step still runs', async () => {
    api.failNext('POST /notify', { status: 400, body: 'refused' }, 1);
    const run = await start();
    const done = await finished(run.id);
    expect(done.state).toBe('failed');
    expect(done.failure?.stepId).toBe('teardown');
    expect(done.failure?.message).toContain('a cleanup step; the main steps succeeded');
    expect(done.steps.report?.state).toBe('succeeded');
  });
});
