import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/runs/model.ts';
import { RunEventConsumer } from '../../src/runs/events.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

describe('run events: durable, ordered, once per change', () => {
  let engine: TestEngine;
  const connections: Redis[] = [];
  const consumers: RunEventConsumer[] = [];

  const consumer = (group: string) => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    connections.push(redis);
    const c = new RunEventConsumer(redis, engine.store.eventsKey, group, `${group}-1`, engine.logger);
    consumers.push(c);
    return c;
  };

  /** Runs `consumer` until `count` events for `runId` were handled (or the test's timeout stops it). */
  const collect = async (c: RunEventConsumer, runId: string, count: number, onEvent?: (e: RunEvent) => void) => {
    const seen: RunEvent[] = [];
    await new Promise<void>((resolve) => {
      void c.run(async (event) => {
        onEvent?.(event);
        if (event.runId === runId) seen.push(event);
        if (seen.length >= count) {
          c.stop();
          resolve();
        }
        return Promise.resolve();
      }, 100);
    });
    return seen;
  };

  beforeEach(async () => {
    engine = await startTestEngine();
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) c.stop();
    await new Promise((r) => setTimeout(r, 150));
    for (const r of connections.splice(0)) r.disconnect();
    await engine.stop();
  });

  it('a consumer that was down when the run happened receives every event, in order, once', async () => {
    await consumer('timeline').ensureGroup('$');
    const run = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    await engine.waitForState(run.id, ['succeeded']);

    const events = await collect(consumer('timeline'), run.id, 14);
    expect(events.map((e) => `${e.type}${e.stepId ? `:${e.stepId}` : ''}`)).toEqual([
      'run.created',
      'run.approved',
      'run.started',
      'step.started:one',
      'step.succeeded:one',
      'step.started:two',
      'step.succeeded:two',
      'step.started:three',
      'step.succeeded:three',
      'step.started:four',
      'step.succeeded:four',
      'step.started:five',
      'step.succeeded:five',
      'run.succeeded',
    ]);
    // The last event is acknowledged right after its handler returns.
    const pendingCount = async () => ((await engine.redis.xpending(engine.store.eventsKey, 'timeline')) as [number])[0];
    for (let i = 0; i < 50 && (await pendingCount()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await pendingCount()).toBe(0);
  });

  it('an event whose handler failed is delivered again, before later ones', async () => {
    await consumer('statuspage').ensureGroup('$');
    const run = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    await engine.waitForState(run.id, ['succeeded']);

    const handled: string[] = [];
    let failedOnce = false;
    const c = consumer('statuspage');
    await new Promise<void>((resolve) => {
      void c.run(async (event) => {
        if (event.runId !== run.id) return;
        if (event.type === 'run.started' && !failedOnce) {
          failedOnce = true;
          throw new Error('statuspage is down');
        }
        handled.push(event.type);
        if (event.type === 'run.succeeded') {
          c.stop();
          resolve();
        }
        return Promise.resolve();
      }, 100);
    });
    expect(handled.slice(0, 4)).toEqual(['run.created', 'run.approved', 'run.started', 'step.started']);
    expect(handled.filter((t) => t === 'run.started')).toHaveLength(1);
    expect(handled).toHaveLength(14);
  });

  it('two groups each get every event; a restarted consumer resumes after what it acknowledged', async () => {
    await consumer('slack').ensureGroup('$');
    await consumer('audit-export').ensureGroup('$');
    const first = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    await engine.waitForState(first.id, ['succeeded']);

    expect(await collect(consumer('slack'), first.id, 14)).toHaveLength(14);
    const second = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    await engine.waitForState(second.id, ['succeeded']);

    const firstRunSeenAgain: RunEvent[] = [];
    const resumed = await collect(consumer('slack'), second.id, 14, (e) => {
      if (e.runId === first.id) firstRunSeenAgain.push(e);
    });
    expect(resumed).toHaveLength(14);
    expect(firstRunSeenAgain).toEqual([]);
    expect(await collect(consumer('audit-export'), second.id, 14)).toHaveLength(14);
  });
});
