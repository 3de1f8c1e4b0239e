import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUserError } from '../../src/errors.ts';
import type { RunEvent } from '../../src/runs/model.ts';
import { ALICE, BOB, startTestEngine, type TestEngine, userErrorOf } from '../support/engine.ts';
import { FakeService } from '../support/fake-service.ts';

async function eventsOf(engine: TestEngine, runId: string): Promise<RunEvent[]> {
  const entries = await engine.redis.xrange(engine.store.eventsKey, '-', '+');
  return entries.map(([, f]) => JSON.parse(f[1] ?? '{}') as RunEvent).filter((e) => e.runId === runId);
}

const approver = (n: number) => ({ id: `U0PEER${String(n).padStart(4, '0')}`, name: `peer${n}`, via: 'slack' as const });

describe('runs: plan, approve, execute', () => {
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

  it('creates a run awaiting approval, with a plan of every step and what is irreversible', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url, size: '3' }, requester: ALICE });

    expect(run.state).toBe('awaiting_approval');
    expect(run.params).toEqual({ baseUrl: api.url, size: 3 });
    expect(run.plan.map((p) => p.stepId)).toEqual(['create', 'wait-ready', 'notify']);
    expect(run.plan[0]?.lines).toEqual([
      { action: 'create', resource: `${api.url}/resources`, detail: `POST ${api.url}/resources`, irreversible: true },
    ]);
    expect(run.plan[1]?.lines[0]).toMatchObject({ action: 'check', resource: `${api.url}/resources/res-${run.id}` });
    expect(run.plan[2]?.lines[0]?.detail).toBe(`POST ${api.url}/notify`);
    expect(api.requests).toHaveLength(0); // planning changed nothing
  });

  it('refuses the requester (two-person rule); a second person approves and it runs to success', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    expect(await userErrorOf(engine.service.approve(run.id, ALICE))).toContain('two-person rule');
    expect((await engine.store.get(run.id))?.state).toBe('awaiting_approval');

    const { outcome } = await engine.service.approve(run.id, BOB);
    expect(outcome).toBe('approved');
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.steps.create?.outputs).toMatchObject({ status: 201 });
    expect(done.steps['wait-ready']?.outputs).toMatchObject({ status: 200 });
    expect(api.resources.get(`res-${run.id}`)?.key).toBe(`${run.id}-create`);
    expect(api.notifications).toEqual([{ key: `${run.id}-notify`, body: { created: 201 } }]);

    const types = (await eventsOf(engine, run.id)).map((e) => `${e.type}${e.stepId ? `:${e.stepId}` : ''}`);
    expect(types.filter((t) => !t.startsWith('step.progress'))).toEqual([
      'run.created',
      'run.approval',
      'run.approved',
      'run.started',
      'step.started:create',
      'step.succeeded:create',
      'step.started:wait-ready',
      'step.succeeded:wait-ready',
      'step.started:notify',
      'step.succeeded:notify',
      'run.succeeded',
    ]);
    const audit = await engine.store.audit(run.id);
    expect(audit.map((a) => a.action)).toEqual([
      'requested',
      'planned',
      'approved',
      'started',
      'step started',
      'step succeeded',
      'step started',
      'step succeeded',
      'step started',
      'step succeeded',
      'succeeded',
    ]);
    expect(audit[2]?.actor).toMatchObject({ id: BOB.id });
  });

  it('starts exactly once when 50 approvals arrive at the same moment', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    const clicks = Array.from({ length: 50 }, (_, i) => engine.service.approve(run.id, approver(i % 10)));
    const results = await Promise.allSettled(clicks);

    const approved = results.filter((r) => r.status === 'fulfilled' && r.value.outcome === 'approved');
    expect(approved).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(isUserError(r.reason)).toBe(true);
    }
    await engine.waitForState(run.id, ['succeeded', 'failed']);
    const events = await eventsOf(engine, run.id);
    expect(events.filter((e) => e.type === 'run.started')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'run.approval')).toHaveLength(1);
    expect(api.requests.filter((r) => r.key === `${run.id}-create`)).toHaveLength(1);
    expect(api.notifications.filter((n) => n.key === `${run.id}-notify`)).toHaveLength(1);
  });

  it('retries transient errors with backoff and then succeeds', async () => {
    api.failNext('POST /resources', { status: 503 }, 2);
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.steps.create?.attempts).toBe(3);
    const retries = (await eventsOf(engine, run.id)).filter((e) => e.type === 'step.retrying');
    expect(retries.map((e) => e.message)).toEqual([
      expect.stringMatching(/^attempt 1 failed \(POST .* answered HTTP 503: failure 503\); retrying in \d+/),
      expect.stringMatching(/^attempt 2 failed .*; retrying in/),
    ]);
  });

  it('fails at once on a permanent error, saying which step, what happened and what was already changed', async () => {
    api.failNext('POST /notify', { status: 403, body: 'access denied for this key' });
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);

    expect(done.state).toBe('failed');
    expect(done.steps.notify?.attempts).toBe(1);
    expect(done.failure).toEqual({ stepId: 'notify', message: `POST ${api.url}/notify answered HTTP 403: access denied for this key` });
    const audit = await engine.store.audit(run.id);
    expect(audit.at(-1)).toMatchObject({
      action: 'failed',
      detail: expect.stringContaining('already changed: create, wait-ready') as unknown,
    });
  });

  it('gives up after the step\'s retries and fails the run', async () => {
    api.failNext('POST /resources', { status: 502 }, 10);
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);
    expect(done.failure?.message).toMatch(/answered HTTP 502.*\(gave up after 4 attempts\)$/);
    expect(api.createRequests).toBe(4);
    expect(done.steps['wait-ready']?.state).toBe('pending');
  });

  it('refuses bad parameters at plan time and stores and queues nothing', async () => {
    const message = await userErrorOf(
      engine.service.create({ runbookId: 'provision', params: { baseUrl: 'http://evil.example', size: '99', colour: 'red' }, requester: ALICE }),
    );
    expect(message).toContain('`colour` is not a parameter of provision (parameters: baseUrl, size)');
    expect(message).toContain('`size`: 99 is above the maximum 10');
    expect(message).toContain('`baseUrl`: `http://evil.example` does not match');
    expect(await engine.store.list()).toEqual([]);
    expect(await engine.queue.queue.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0, active: 0 });

    expect(await userErrorOf(engine.service.create({ runbookId: 'provision', params: { size: 'two' }, requester: ALICE }))).toMatch(
      /`baseUrl` is required: base URL of the fake service, e\.g\. `baseUrl=.*`[\s\S]*`size`: `two` is not a number/,
    );
    expect(await userErrorOf(engine.service.create({ runbookId: 'provison', params: {}, requester: ALICE }))).toContain(
      'There is no runbook `provison`.',
    );
    expect(await engine.store.list()).toEqual([]);
  });

  it('lets only the policy\'s users or groups approve, and says who may', async () => {
    const run = await engine.service.create({ runbookId: 'long-wait', params: { seconds: 0 }, requester: ALICE });
    // Slack was asked: bob is in none of the groups.
    expect(await userErrorOf(engine.service.approve(run.id, { ...BOB, groups: [] }))).toBe(
      'You may not approve runs of long-wait: only <@U0APPROVER1>, <@U0APPROVER2>, members of @sre-oncall may. Nothing changed.',
    );
    expect((await engine.store.get(run.id))?.approvals).toEqual([]);
    const { outcome } = await engine.service.approve(run.id, { ...BOB, groups: ['sre-oncall'] });
    expect(outcome).toBe('approved');
  });

  it('expires a request nobody approved in time; it never starts', async () => {
    const run = await engine.service.create({ runbookId: 'long-wait', params: { seconds: 0 }, requester: ALICE });
    const expired = await engine.waitForState(run.id, ['expired'], 10_000);
    expect(expired.decision?.reason).toBe('the approval request expired');
    expect(await userErrorOf(engine.service.approve(run.id, { id: 'U0APPROVER1', via: 'slack' }))).toMatch(
      /^This approval request expired at .*Request the run again/,
    );
    expect(expired.steps.first?.state).toBe('pending');
  });

  it("keeps a finished step's last progress line in its record (what the run's message shows for it)", async () => {
    const run = await engine.service.create({ runbookId: 'long-wait', params: { seconds: 0, baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, { id: 'U0APPROVER1', via: 'slack' });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');
    expect(done.steps.first).toMatchObject({ state: 'succeeded', progress: { message: 'waiting 0.1s' } });
  });

  it('never starts a rejected run', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    const rejected = await engine.service.reject(run.id, BOB, 'wrong cluster');
    expect(rejected.state).toBe('rejected');
    expect(rejected.decision).toMatchObject({ by: { id: BOB.id }, reason: 'wrong cluster' });
    expect(await userErrorOf(engine.service.approve(run.id, { ...BOB, id: 'U0CAROL001' }))).toContain('is rejected');
    await new Promise((r) => setTimeout(r, 300));
    expect(api.requests).toHaveLength(0);
  });

  it('cancels a running run: interrupts its wait, lists what was done, never runs the later steps', async () => {
    const run = await engine.service.create({ runbookId: 'long-wait', params: { seconds: 60, baseUrl: api.url }, requester: ALICE });
    await engine.service.approve(run.id, { id: 'U0APPROVER1', via: 'slack' });
    await engine.waitForState(run.id, ['running']);
    const deadline = Date.now() + 10_000;
    while ((await engine.store.get(run.id))?.steps.pause?.state !== 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }

    await engine.service.cancel(run.id, ALICE, 'wrong region');
    const done = await engine.waitForState(run.id, ['cancelled', 'succeeded', 'failed']);
    expect(done.state).toBe('cancelled');
    expect(done.steps.first?.state).toBe('succeeded');
    expect(done.steps.pause?.state).toBe('cancelled');
    expect(done.steps.after?.state).toBe('pending');
    expect(done.decision).toMatchObject({ by: { id: ALICE.id }, reason: 'wrong region' });
    expect((await engine.store.audit(run.id)).at(-1)).toMatchObject({
      action: 'cancelled',
      detail: 'interrupted pause; done before: first',
    });
    expect(api.requests).toHaveLength(0);
  });

  it('cancels a run that has not started yet at once', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE });
    const cancelled = await engine.service.cancel(run.id, ALICE);
    expect(cancelled.state).toBe('cancelled');
    expect(await userErrorOf(engine.service.cancel(run.id, ALICE))).toContain('is cancelled, so it cannot be cancelled');
  });

  it('fails a step that outlives its timeout', async () => {
    const run = await engine.service.create({ runbookId: 'deadlines', params: {}, requester: ALICE });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);
    expect(done.state).toBe('failed');
    expect(done.steps.short?.state).toBe('succeeded');
    expect(done.failure).toEqual({ stepId: 'too-long', message: 'timed out after 300ms' });
  });

  it('fails a run that outlives its overall deadline', async () => {
    const run = await engine.service.create({ runbookId: 'run-deadline', params: {}, requester: ALICE });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);
    expect(done.state).toBe('failed');
    expect(done.steps.a?.state).toBe('succeeded');
    expect(done.failure).toEqual({ stepId: 'b', message: "the run's deadline passed while this step was running" });
    expect(done.steps.c?.state).toBe('pending');
  });

  it('dry run: no approval, only plan() calls, nothing changes, says what would have happened', async () => {
    const run = await engine.service.create({ runbookId: 'provision', params: { baseUrl: api.url }, requester: ALICE, dryRun: true });
    const done = await engine.waitForState(run.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(Object.values(done.steps).map((s) => s.state)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(done.steps.create?.wouldDo?.[0]?.detail).toBe(`POST ${api.url}/resources`);
    expect(done.steps.notify?.wouldDo?.[0]?.detail).toBe(`POST ${api.url}/notify`);
    expect(api.requests).toHaveLength(0);
  });
});
