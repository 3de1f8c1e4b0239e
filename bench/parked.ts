/**
 * Parked waits: N runs, each in a long `wait`, against one worker process
 * (`node src/main.ts --role worker`, WORKER_CONCURRENCY=2) on real Redis under
 * a prefix of its own. Runs are requested in-process through RunService, as
 * the bot does.
 *
 * - Progress: every run parks (its wait memo is in the run hash) while the
 *   queue's active count, sampled every 50 ms, stays ≤ the concurrency and the
 *   delayed count reaches N.
 * - Priority: an urgent one-step run (`wait 0s`, `priority: urgent`) approved
 *   K times, one at a time: approval → its step's start, on the idle engine,
 *   during the flood of N normal runs being taken and parked, and with all N
 *   parked. Ratios against idle.
 * - Cost of a parked run: Redis (MEMORY USAGE of every key under the prefix,
 *   and INFO used_memory, before and after, ÷ N) and the worker's RSS (before
 *   and after, ÷ N).
 *
 *   npm run bench -- parked [--runs 500]
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitField } from '../src/engine/park.ts';
import { createLogger } from '../src/log/logger.ts';
import { QUEUE_NAMES } from '../src/queue/names.ts';
import { RunQueue } from '../src/queue/run-queue.ts';
import { loadRunbooks } from '../src/runbooks/load.ts';
import type { Run } from '../src/runs/model.ts';
import { RunService } from '../src/runs/service.ts';
import { RunStore } from '../src/runs/store.ts';
import { buildRegistry } from '../src/steps/registry.ts';
import { targetsFromConfig } from '../src/targets/from-config.ts';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { type BotProcess, spawnBot } from '../test/support/process.ts';
import { SIGNING_SECRET } from '../test/support/slack-requests.ts';
import { deleteKeys, percentile, type BenchArgs } from './util.ts';

const TOKEN = 'xoxb-1111111111-2222222222-BENCHbotTOKENvalue';
const CONCURRENCY = 2;
/** Urgent runs per phase. */
const URGENT_RUNS = 20;
/** Long enough that no parked run wakes during the bench. */
const WAIT_SECONDS = 600;
const PARK_STEP = 'hold';
/** Give up when the parked count does not grow for this long. */
const STALL_MS = 60_000;

const PARKED_RUNBOOK = `id: bench-parked
title: One long wait
approval: { required: 0 }
timeout: 30m
steps:
  - { id: ${PARK_STEP}, use: wait, timeout: 20m, with: { seconds: ${WAIT_SECONDS} } }
`;
const URGENT_RUNBOOK = `id: bench-urgent
title: One short step, urgent (a rollback stand-in)
priority: urgent
approval: { required: 1 }
steps:
  - { id: act, use: wait, with: { seconds: 0 } }
`;

const requester = { id: 'U0BENCH001', via: 'cli' as const };
const approver = { id: 'U0BENCH002', via: 'cli' as const };

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

/** Median of three readings half a second apart. */
async function readRss(pid: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(500);
    values.push(rssMb(pid));
  }
  return values.sort((a, b) => a - b)[1] ?? Number.NaN;
}

/** Bytes Redis reports for every key under the prefix (MEMORY USAGE, all samples). */
async function prefixBytes(redis: Redis, prefix: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.memory('USAGE', k, 'SAMPLES', 0);
    for (const [, bytes] of (await pipeline.exec()) ?? []) total += typeof bytes === 'number' ? bytes : 0;
  } while (cursor !== '0');
  return total;
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
}

const stats = (v: number[]) => ({ p50: percentile(v, 50), p95: percentile(v, 95) });

export async function benchParked({ redisUrl, runs }: BenchArgs): Promise<void> {
  const prefix = `bench-parked-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-parked-'));
  writeFileSync(join(dir, 'bench-parked.yaml'), PARKED_RUNBOOK);
  writeFileSync(join(dir, 'bench-urgent.yaml'), URGENT_RUNBOOK);
  const logger = createLogger({ level: 'silent' });
  const registry = buildRegistry();
  const runbooks = loadRunbooks(dir, registry);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const store = new RunStore(redis, prefix);
  const queue = new RunQueue(redis, prefix, logger);
  const counts = new Queue(QUEUE_NAMES.runs, { connection: redis, prefix });
  const targets = targetsFromConfig({ aws: {}, kubernetes: { veleroNamespace: 'velero' }, targets: {}, defaultTarget: 'default' });
  const service = new RunService({ store, queue, runbooks, registry, targets, logger, approvers: { anyone: true, users: [], groups: [] } });
  const slack = await new FakeSlack([TOKEN]).start();
  let worker: BotProcess | undefined;
  const killOnExit = () => worker?.child.kill('SIGKILL');
  process.once('exit', killOnExit);

  /** One urgent run at a time, K times: approval → its step's start, in ms. */
  const urgentLatencies = async (): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < URGENT_RUNS; i++) {
      const run = await service.create({ runbookId: 'bench-urgent', params: {}, requester });
      const approvedAt = Date.now();
      await service.approve(run.id, approver);
      let current = await store.get(run.id);
      const deadline = Date.now() + 60_000;
      while (current?.steps.act?.startedAt === undefined) {
        if (Date.now() > deadline) throw new Error(`urgent run ${run.id} did not start within 60 s (${current?.state ?? 'missing'})`);
        await sleep(5);
        current = await store.get(run.id);
      }
      out.push(current.steps.act.startedAt - approvedAt);
    }
    return out;
  };

  try {
    worker = spawnBot(
      {
        SLACK_BOT_TOKEN: TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
        COMMANDS_DIR: dir,
        PORT: '0',
        METRICS_PORT: '0',
        WORKER_CONCURRENCY: String(CONCURRENCY),
        LOG_LEVEL: 'info',
        SHUTDOWN_TIMEOUT_MS: '5000',
      },
      ['--role', 'worker'],
    );
    await worker.waitForLog(/dr-chatops started/, 30_000);
    const pid = worker.child.pid ?? 0;

    // A first round warms both processes up (JIT, connections), so idle is not measured cold.
    await urgentLatencies();
    const idle = await urgentLatencies();
    await sleep(2_000);
    const rssBefore = await readRss(pid);
    const bytesBefore = await prefixBytes(redis, prefix);
    const usedBefore = await usedMemory(redis);

    // The flood: N normal runs requested (no approval: each is queued at once), 50 at a time.
    const floodStart = performance.now();
    const parkedIds: string[] = [];
    for (let i = 0; i < runs; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, runs - i) }, () => service.create({ runbookId: 'bench-parked', params: {}, requester })));
      parkedIds.push(...batch.map((r) => r.id));
    }
    let maxActive = 0;
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        maxActive = Math.max(maxActive, (await counts.getJobCounts('active')).active ?? 0);
        await sleep(50);
      }
    })();
    // Urgent runs while the flood is being taken and parked.
    const duringFlood = await urgentLatencies();

    const memo = waitField(PARK_STEP, 'pause');
    let parked = 0;
    let lastGrowth = Date.now();
    for (;;) {
      const pipeline = redis.pipeline();
      for (const id of parkedIds) pipeline.hexists(store.runKey(id), memo);
      const now = ((await pipeline.exec()) ?? []).filter(([, v]) => v === 1).length;
      if (now > parked) lastGrowth = Date.now();
      parked = now;
      if (parked === runs) break;
      if (Date.now() - lastGrowth > STALL_MS) throw new Error(`parking stalled at ${parked} of ${runs}`);
      await sleep(100);
    }
    const allParkedMs = performance.now() - floodStart;
    await sleep(1_000);
    const jobCounts = await counts.getJobCounts('active', 'delayed', 'waiting', 'prioritized');
    const delayedExec = (await counts.getDelayed(0, -1)).filter((j) => j.name === 'execute').length;
    const states = (await Promise.all(parkedIds.map((id) => store.get(id)))).filter((r): r is Run => r?.state === 'running').length;

    const allParked = await urgentLatencies();
    sampling.on = false;
    await sampler;
    const rssAfter = await readRss(pid);
    const bytesAfter = await prefixBytes(redis, prefix);
    const usedAfter = await usedMemory(redis);
    // The steady-state urgent runs ran between the two readings: K small finished runs, counted in the Redis delta.

    const ms = (v: number) => `${v.toFixed(0)} ms`;
    const idleS = stats(idle);
    const row = (label: string, v: number[]) => {
      const s = stats(v);
      console.log(
        `  ${label.padEnd(38)}p50 ${ms(s.p50).padStart(7)}  p95 ${ms(s.p95).padStart(7)}   ×idle p50 ${(s.p50 / idleS.p50).toFixed(2)}  p95 ${(s.p95 / idleS.p95).toFixed(2)}`,
      );
    };
    console.log(`\nParked waits: ${runs} runs each in a ${WAIT_SECONDS} s \`wait\`, one worker process (WORKER_CONCURRENCY=${CONCURRENCY}), real Redis`);
    console.log(`  all ${runs} parked ${(allParkedMs / 1000).toFixed(1)} s after the first request (${(runs / (allParkedMs / 1000)).toFixed(0)} runs/s parked)`);
    console.log(
      `  then: ${states} running, delayed ${jobCounts.delayed} (${delayedExec} executions), active ${jobCounts.active}, waiting ${(jobCounts.waiting ?? 0) + (jobCounts.prioritized ?? 0)}; max active sampled every 50 ms: ${maxActive} (≤ ${CONCURRENCY}: ${maxActive <= CONCURRENCY ? 'PASS' : 'FAIL'})`,
    );
    console.log(`  urgent one-step run (wait 0s, priority urgent), approval → step start, ${URGENT_RUNS} one at a time:`);
    row('idle engine', idle);
    row(`during the flood of ${runs} normal runs`, duringFlood);
    row(`with all ${runs} parked`, allParked);
    console.log(
      `  Redis per parked run: ${((bytesAfter - bytesBefore) / runs / 1024).toFixed(2)} KiB (MEMORY USAGE of the prefix's keys, ${((bytesAfter - bytesBefore) / 1048576).toFixed(1)} MiB in all), ${((usedAfter - usedBefore) / runs / 1024).toFixed(2)} KiB (INFO used_memory delta; shared Redis)`,
    );
    console.log(`  worker RSS: ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MiB, ${(((rssAfter - rssBefore) * 1024) / runs).toFixed(2)} KiB per parked run`);
    if (maxActive > CONCURRENCY || parked !== runs || delayedExec !== runs) process.exitCode = 1;
  } finally {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      const timer = setTimeout(() => worker?.child.kill('SIGKILL'), 10_000);
      await worker.exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', killOnExit);
    await counts.close();
    await queue.close();
    redis.disconnect();
    await slack.stop();
    await deleteKeys(redisUrl, prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}
