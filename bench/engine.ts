/**
 * Engine overhead: N runs of a 5-step runbook whose steps do nothing, beside a
 * bare BullMQ baseline (5·N no-op jobs through a plain Queue/Worker with the same
 * concurrency) in the same process and Redis. Prints throughput, the ratio to
 * the baseline, and the latency from approval to the first step's start.
 *
 *   npm run bench -- engine [--runs 1000] [--concurrency 16]
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log/logger.ts';
import { RunQueue } from '../src/queue/run-queue.ts';
import { startRunWorker } from '../src/queue/run-worker.ts';
import { loadRunbooks } from '../src/runbooks/load.ts';
import type { Run } from '../src/runs/model.ts';
import { RunService } from '../src/runs/service.ts';
import { RunStore } from '../src/runs/store.ts';
import { targetsFromConfig } from '../src/targets/from-config.ts';
import { buildRegistry } from '../src/steps/registry.ts';
import { deleteKeys, percentile, type BenchArgs } from './util.ts';

const RUNBOOK = `id: bench-noop
title: Five steps that do nothing
approval: { required: 1 }
steps:
${['one', 'two', 'three', 'four', 'five'].map((id) => `  - { id: ${id}, use: wait, with: { seconds: 0 } }`).join('\n')}
`;

export async function benchEngine({ redisUrl, runs, concurrency }: BenchArgs): Promise<void> {
  const prefix = `bench-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-runbooks-'));
  writeFileSync(join(dir, 'bench-noop.yaml'), RUNBOOK);
  const logger = createLogger({ level: 'silent' });
  const registry = buildRegistry();
  const runbooks = loadRunbooks(dir, registry);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const store = new RunStore(redis, prefix);
  const queue = new RunQueue(redis, prefix, logger);
  // One default target reaching nothing: the bench runbook's steps call no AWS or Kubernetes API.
  const targets = targetsFromConfig({ aws: {}, kubernetes: { veleroNamespace: 'velero' }, targets: {}, defaultTarget: 'default' });
  const service = new RunService({ store, queue, runbooks, registry, targets, logger, approvers: { anyone: true, users: [], groups: [] } });
  const steps = 5;

  try {
    // Baseline: the same number of no-op jobs through bare BullMQ.
    const baseline = await bareBullmq(redisUrl, `${prefix}-bare`, runs * steps, concurrency);

    const requester = { id: 'U0BENCH001', via: 'cli' as const };
    const approverActor = { id: 'U0BENCH002', via: 'cli' as const };
    const createStart = performance.now();
    const created: Run[] = [];
    for (let i = 0; i < runs; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, runs - i) }, () => service.create({ runbookId: 'bench-noop', params: {}, requester })),
      );
      created.push(...batch);
    }
    const createMs = performance.now() - createStart;

    const worker = startRunWorker({
      connection: workerConnection,
      prefix,
      concurrency,
      lockDurationMs: 30_000,
      logger,
      store,
      service,
      queue,
      registry,
      engine: { pollMs: 500, progressIntervalMs: 1_000 },
    });
    await worker.worker.waitUntilReady();

    const approvedAt = new Map<string, number>();
    const start = Date.now();
    for (let i = 0; i < created.length; i += 50) {
      await Promise.all(
        created.slice(i, i + 50).map(async (r) => {
          approvedAt.set(r.id, Date.now());
          await service.approve(r.id, approverActor);
        }),
      );
    }
    // The bench's own look costs the engine's CPU and Redis: it reads each run's state only until the run ends, and the whole run once.
    const finished: Run[] = [];
    let pending = created.map((r) => r.id);
    while (pending.length > 0) {
      const states = await Promise.all(pending.map((id) => redis.hget(store.runKey(id), 'state')));
      const ended = pending.filter((_, i) => states[i] === 'succeeded' || states[i] === 'failed');
      finished.push(...(await Promise.all(ended.map((id) => store.get(id)))).filter((r): r is Run => r !== undefined));
      pending = pending.filter((_, i) => states[i] !== 'succeeded' && states[i] !== 'failed');
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    const end = Math.max(...finished.map((r) => r.finishedAt ?? 0));

    // What one engineer feels on an idle system: approve, wait for the run, repeat.
    const idleLatencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const run = await service.create({ runbookId: 'bench-noop', params: {}, requester });
      const approved = Date.now();
      await service.approve(run.id, approverActor);
      let current = await store.get(run.id);
      while (current?.state !== 'succeeded' && current?.state !== 'failed') {
        await new Promise((r) => setTimeout(r, 5));
        current = await store.get(run.id);
      }
      idleLatencies.push((current.steps.one?.startedAt ?? 0) - approved);
    }
    await worker.close(5_000);

    const failed = finished.filter((r) => r.state !== 'succeeded').length;
    const seconds = (end - start) / 1000;
    const latencies = finished.map((r) => (r.steps.one?.startedAt ?? 0) - (approvedAt.get(r.id) ?? 0));
    const runsPerSec = runs / seconds;
    const stepsPerSec = (runs * steps) / seconds;

    console.log(`\nEngine: ${runs} runs × ${steps} no-op steps, worker concurrency ${concurrency}`);
    console.log(`  create (validate + plan + store), 50 at a time: ${(runs / (createMs / 1000)).toFixed(0)} runs/s`);
    console.log(`  execute: ${seconds.toFixed(2)} s  ${runsPerSec.toFixed(1)} runs/s  ${stepsPerSec.toFixed(0)} steps/s  (${failed} failed)`);
    console.log(`  approval → first step start, all ${runs} approved at once: p50 ${percentile(latencies, 50).toFixed(0)} ms  p95 ${percentile(latencies, 95).toFixed(0)} ms`);
    console.log(`  approval → first step start, one run at a time (50): p50 ${percentile(idleLatencies, 50).toFixed(0)} ms  p95 ${percentile(idleLatencies, 95).toFixed(0)} ms`);
    console.log(`Bare BullMQ: ${baseline.jobs} no-op jobs, concurrency ${concurrency}`);
    console.log(`  ${baseline.seconds.toFixed(2)} s  ${baseline.jobsPerSec.toFixed(0)} jobs/s  add → start p50 ${baseline.p50.toFixed(0)} ms  p95 ${baseline.p95.toFixed(0)} ms`);
    console.log(`Ratio: engine steps/s ÷ bare jobs/s = ${(stepsPerSec / baseline.jobsPerSec).toFixed(3)}`);
  } finally {
    await queue.close();
    redis.disconnect();
    workerConnection.disconnect();
    await deleteKeys(redisUrl, prefix);
    await deleteKeys(redisUrl, `${prefix}-bare`);
  }
}

async function bareBullmq(redisUrl: string, prefix: string, jobs: number, concurrency: number) {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('bare', { connection, prefix });
  const startedLatency: number[] = [];
  let done = 0;
  let resolveDone: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (resolveDone = r));
  const worker = new Worker(
    'bare',
    (job) => {
      startedLatency.push(Date.now() - job.timestamp);
      return Promise.resolve();
    },
    { connection: workerConnection, prefix, concurrency, autorun: false },
  );
  worker.on('completed', () => {
    done += 1;
    if (done === jobs) resolveDone();
  });
  const start = Date.now();
  for (let i = 0; i < jobs; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, jobs - i) }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  }
  void worker.run();
  await allDone;
  const seconds = (Date.now() - start) / 1000;
  await worker.close();
  await queue.close();
  connection.disconnect();
  workerConnection.disconnect();
  return {
    jobs,
    seconds,
    jobsPerSec: jobs / seconds,
    p50: percentile(startedLatency, 50),
    p95: percentile(startedLatency, 95),
  };
}
