/**
 * Takeover after SIGKILL: how long a run waits, after the worker executing it
 * dies mid-step, until another worker re-enters the step. Three real worker
 * processes (`node src/main.ts --role worker`) share one run whose step is an
 * HTTP call this bench holds unanswered; the owner is killed, and the time from
 * the kill to the step's call arriving again from another worker is one
 * reading. The killed worker is replaced and the next kill takes a new run.
 * Prints median and max over the kills at the default lock, beside the old
 * default (30 s) as the baseline.
 *
 *   npm run bench -- takeover [--kills 10]   (kills per setting)
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/log/logger.ts';
import { RunQueue } from '../src/queue/run-queue.ts';
import { loadRunbooks } from '../src/runbooks/load.ts';
import { RunService } from '../src/runs/service.ts';
import { RunStore } from '../src/runs/store.ts';
import { DEFAULT_LIMITS } from '../src/steps/limits.ts';
import { buildRegistry } from '../src/steps/registry.ts';
import { targetsFromConfig } from '../src/targets/from-config.ts';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { type BotProcess, spawnBot, stopBot } from '../test/support/process.ts';
import { deleteKeys, percentile, type BenchArgs } from './util.ts';

const TOKEN = 'xoxb-bench-takeover';
const WORKERS = 3;
const BASELINE_LOCK_MS = 30_000;

const RUNBOOK = `id: bench-hold
title: One call held until the bench ends
params:
  baseUrl: { type: string }
approval: { required: 0 }
timeout: 2h
steps:
  - { id: hold, use: http.request, with: { method: POST, url: '\${{ params.baseUrl }}/hold', timeoutSeconds: 300 }, timeout: 1h }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchTakeover({ redisUrl, kills = 10 }: BenchArgs): Promise<void> {
  const defaultLockMs = loadConfig({ env: {}, role: 'worker', needsSlack: false }).worker.lockDurationMs;
  const results: { lockMs: number; times: number[] }[] = [];
  for (const lockMs of [BASELINE_LOCK_MS, defaultLockMs]) {
    results.push({ lockMs, times: await measure(redisUrl, lockMs, kills) });
  }
  console.log(`\nTakeover after SIGKILL mid-step: kill → the step re-entered by another worker, ${kills} kills each, ${WORKERS} worker processes`);
  const baselineMedian = percentile(results[0]?.times ?? [], 50);
  for (const { lockMs, times } of results) {
    const median = percentile(times, 50);
    const label = lockMs === BASELINE_LOCK_MS ? 'baseline, the old default' : `the default, ${(median / baselineMedian).toFixed(2)}× the baseline's median`;
    console.log(`  WORKER_LOCK_DURATION_MS=${String(lockMs)}: median ${(median / 1000).toFixed(1)} s  max ${(Math.max(...times) / 1000).toFixed(1)} s  (${label})`);
  }
}

async function measure(redisUrl: string, lockMs: number, kills: number): Promise<number[]> {
  const prefix = `bench-takeover-${process.pid}-${lockMs}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-takeover-'));
  writeFileSync(join(dir, 'bench-hold.yaml'), RUNBOOK);
  const arrivals: number[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    arrivals.push(Date.now());
    req.resume();
    held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const slack = await new FakeSlack([TOKEN]).start();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const logger = createLogger({ level: 'silent' });
  const registry = buildRegistry(undefined, { ...DEFAULT_LIMITS, outbound: { allow: ['127.0.0.1'], ownPorts: [] } });
  const store = new RunStore(redis, prefix);
  const queue = new RunQueue(redis, prefix, logger);
  const targets = targetsFromConfig({ aws: {}, kubernetes: { veleroNamespace: 'velero' }, targets: {}, defaultTarget: 'default' });
  const service = new RunService({ store, queue, runbooks: loadRunbooks(dir, registry), registry, targets, logger, approvers: { anyone: true, users: [], groups: [] } });
  const env = {
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_API_URL: slack.apiUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    COMMANDS_DIR: dir,
    HTTP_ALLOWED_TARGETS: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    WORKER_LOCK_DURATION_MS: String(lockMs),
  };
  const workers: BotProcess[] = [];
  const alive = (w: BotProcess) => w.child.exitCode === null && w.child.signalCode === null;
  const claimed = (w: BotProcess, runId: string) => w.stdout().split('\n').some((l) => l.includes(runId) && /run (started|resumed)/.test(l));
  const start = async () => {
    const proc = spawnBot(env, ['--role', 'worker']);
    workers.push(proc);
    await proc.waitForLog(/dr-chatops started/, 60_000);
  };
  const arrived = async (count: number) => {
    const deadline = Date.now() + 5 * lockMs + 30_000;
    while (arrivals.length < count) {
      if (Date.now() > deadline) throw new Error('the step was not re-entered after the kill');
      await sleep(10);
    }
    return arrivals[count - 1] ?? 0;
  };
  const requester = { id: 'U0BENCH001', via: 'cli' as const };
  const times: number[] = [];
  try {
    await Promise.all(Array.from({ length: WORKERS }, start));
    // A run per kill: BullMQ fails a job that stalls more than a few times (maxStalledCount).
    for (let k = 0; k < kills; k++) {
      const run = await service.create({ runbookId: 'bench-hold', params: { baseUrl }, requester });
      await arrived(arrivals.length + 1);
      // Its sender logged its claim before it called.
      const owner = workers.find((w) => alive(w) && claimed(w, run.id));
      if (!owner) throw new Error('no live worker claimed the run');
      const seen = arrivals.length;
      owner.child.kill('SIGKILL');
      const killedAt = Date.now();
      times.push((await arrived(seen + 1)) - killedAt);
      await owner.exited;
      await service.cancel(run.id, requester);
      await start();
    }
  } finally {
    for (const res of held) res.end('{}');
    await Promise.all(workers.map((w) => stopBot(w)));
    server.closeAllConnections();
    server.close();
    await queue.close();
    redis.disconnect();
    await slack.stop();
    await deleteKeys(redisUrl, prefix);
  }
  return times;
}
