/**
 * Memory of the real processes: one `--role bot` and one `--role worker`
 * (`node src/main.ts`, as `npm run start:bot` / `start:worker` run them) against
 * the fake Slack Web API and real Redis under a prefix of their own. RSS
 * (VmRSS in /proc/<pid>/status) of each process idle after start-up, after N
 * runs and after 2N runs (N = --runs, default 1000), each run requested the way
 * a user does it: a signed `/dr run quick` slash command to the bot, at most
 * IN_FLIGHT at a time. `quick` has five `wait 0s` steps and needs no approval,
 * so every command becomes a run that plans, posts its message, executes on the
 * worker, and gets its message updated and its ending announced in a thread.
 *
 * Nothing is forced: no --expose-gc, no global.gc(); RSS is what the OS sees.
 * Check: growth of each process's RSS from N runs to 2N runs stays within
 * GROWTH_BOUND of its RSS at N runs (see the README for why that bound).
 *
 * With --live-heap, both processes also load bench/heap-probe.ts with
 * --expose-gc, and after each RSS reading a full GC is forced in each and the
 * live heap printed: the heap the process still holds, as opposed to what V8
 * keeps reserved. The forced GCs change the later RSS readings, so the default
 * numbers are taken without it.
 *
 *   npm run bench -- memory [--runs 1000] [--live-heap]
 */
import { Redis } from 'ioredis';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { TERMINAL_STATES, type RunState } from '../src/runs/model.ts';
import { RunStore } from '../src/runs/store.ts';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { type BotProcess, spawnBot } from '../test/support/process.ts';
import { SIGNING_SECRET, sendSlashCommand } from '../test/support/slack-requests.ts';
import { deleteKeys, type BenchArgs } from './util.ts';

const TOKEN = 'xoxb-1111111111-2222222222-BENCHbotTOKENvalue';
/** Slash commands in flight at once. */
const IN_FLIGHT = 20;
/** After start-up, before the idle reading. */
const IDLE_SETTLE_MS = 3_000;
/** After the last run ended: the bot's notifier coalesces updates for 1 s and forgets a run 2 s after its last update. */
const AFTER_RUNS_SETTLE_MS = 5_000;
/** Fail the check when RSS grows by more than this fraction of the N-run reading between N and 2N runs. */
const GROWTH_BOUND = 0.25;
/** Give up when no run reaches a final state for this long. */
const STALL_MS = 60_000;

const RUNBOOK = `id: quick
title: Five steps that do nothing
approval:
  required: 0
steps:
${['one', 'two', 'three', 'four', 'five'].map((id) => `  - { id: ${id}, use: wait, with: { seconds: 0 } }`).join('\n')}
`;

const TERMINAL = new Set<string>(TERMINAL_STATES);
const HEAP_PROBE = fileURLToPath(new URL('./heap-probe.ts', import.meta.url));

interface Proc {
  name: string;
  handle: BotProcess;
  port: number;
}

const started: Proc[] = [];

/** Resident set size of a process in MiB (VmRSS, or VmHWM for the peak). */
function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

function pidOf(p: Proc): number {
  const pid = p.handle.child.pid;
  if (pid === undefined || p.handle.child.exitCode !== null || p.handle.child.signalCode !== null) {
    throw new Error(`${p.name} process is not running; stderr:\n${p.handle.stderr()}`);
  }
  return pid;
}

/** Median of three readings half a second apart, so one page-in/out does not decide the number. */
async function readRss(p: Proc): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(500);
    values.push(rssMb(pidOf(p)));
  }
  return values.sort((a, b) => a - b)[1] ?? Number.NaN;
}

async function startProcess(name: string, env: Record<string, string>, role: 'bot' | 'worker'): Promise<Proc> {
  const handle = spawnBot(env, ['--role', role]);
  const proc: Proc = { name, handle, port: 0 };
  started.push(proc);
  const line = await handle.waitForLog(/dr-chatops started/, 30_000);
  proc.port = Number((JSON.parse(line) as { port?: unknown }).port);
  return proc;
}

/** Forces a full GC in the process (bench/heap-probe.ts, --live-heap only) and returns its live heap in MiB. */
async function liveHeapMb(p: Proc): Promise<number> {
  const probes = () => p.handle.stderr().split('\n').filter((l) => l.startsWith('HEAP_PROBE '));
  const seen = probes().length;
  p.handle.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = probes()[seen];
    if (line) {
      const probe = JSON.parse(line.slice('HEAP_PROBE '.length)) as { gc: boolean; heapUsed: number };
      if (!probe.gc) throw new Error(`${p.name}: global.gc is missing; --expose-gc did not reach the process`);
      return probe.heapUsed;
    }
    if (Date.now() > deadline) throw new Error(`${p.name}: no heap probe answer; stderr:\n${p.handle.stderr()}`);
    await sleep(50);
  }
}

/** Kills what is still running: SIGTERM (graceful shutdown), then SIGKILL after 10 s. */
async function stopAll(): Promise<void> {
  await Promise.all(
    started.splice(0).map(async ({ handle }) => {
      if (handle.child.exitCode !== null || handle.child.signalCode !== null) return;
      handle.child.kill('SIGTERM');
      const timer = setTimeout(() => handle.child.kill('SIGKILL'), 10_000);
      await handle.exited;
      clearTimeout(timer);
    }),
  );
}

/** Last resort if the bench itself dies with children running. */
function killOnExit(): void {
  for (const { handle } of started) if (handle.child.exitCode === null) handle.child.kill('SIGKILL');
}

/** Sends `count` signed `/dr run quick` commands, at most IN_FLIGHT at a time; every one must be acked with the planning notice. */
async function requestRuns(botUrl: string, slack: FakeSlack, count: number, firstId: number): Promise<void> {
  let next = 0;
  const problems: string[] = [];
  const sender = async () => {
    while (next < count) {
      const n = firstId + next++;
      const res = await sendSlashCommand(botUrl, { text: 'run quick', response_url: slack.responseUrl(`mem-${n}`) });
      if (res.status !== 200 || !res.text.includes('Planning')) problems.push(`HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, sender));
  if (problems.length > 0) throw new Error(`${problems.length} of ${count} commands were not acked as runs; first: ${problems[0] ?? ''}`);
}

/**
 * Waits until `expected` runs exist under the prefix and all are in a final
 * state, recording each in `final`. Polls only the runs not yet final.
 */
async function waitForRuns(redis: Redis, store: RunStore, expected: number, final: Map<string, RunState>): Promise<void> {
  let lastProgress = Date.now();
  let lastFinal = final.size;
  for (;;) {
    // RunStore keeps its index (a sorted set of run ids) at <prefix>:runs.
    const ids = (await redis.zrange(`${store.prefix}:runs`, 0, -1)).filter((id) => !final.has(id));
    if (ids.length > 0) {
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hget(store.runKey(id), 'state');
      const results = (await pipeline.exec()) ?? [];
      ids.forEach((id, i) => {
        const state = results[i]?.[1];
        if (typeof state === 'string' && TERMINAL.has(state)) final.set(id, state as RunState);
      });
    }
    if (final.size >= expected && ids.length === 0) return;
    if (final.size > lastFinal) {
      lastFinal = final.size;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > STALL_MS) {
      throw new Error(`runs stalled: ${final.size} of ${expected} final, ${ids.length} not final, for ${STALL_MS / 1000} s`);
    }
    await sleep(250);
  }
}

function countStates(final: Map<string, RunState>): string {
  const counts = new Map<string, number>();
  for (const s of final.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

/** Pino lines at warn (40) or above in a process's stdout. */
function warnings(p: Proc): number {
  return p.handle
    .stdout()
    .split('\n')
    .filter((l) => /"level":\s*([4-9]\d)/.test(l)).length;
}

const mb = (v: number) => `${v.toFixed(1)} MiB`;
/** Width of a process's column. */
const COL = 18;

export async function benchMemory({ redisUrl, runs, liveHeap = false }: BenchArgs): Promise<void> {
  const prefix = `bench-mem-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  writeFileSync(join(dir, 'quick.yaml'), RUNBOOK);
  const slack = await new FakeSlack([TOKEN]).start();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const store = new RunStore(redis, prefix);
  process.once('exit', killOnExit);
  const env = {
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    COMMANDS_DIR: dir,
    PORT: '0',
    // Bot and worker on one host: each takes a free internal (metrics) port.
    METRICS_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
    // The bench is one user sending 2,000 runs: lift the flood limits it would otherwise meet.
    DR_RUNS_PER_USER_PER_MINUTE: '100000',
    DR_RUNS_PER_MINUTE: '100000',
    ...(liveHeap ? { NODE_OPTIONS: `--expose-gc --import "${HEAP_PROBE}"` } : {}),
  };

  try {
    const [bot, worker] = await Promise.all([startProcess('bot', env, 'bot'), startProcess('worker', env, 'worker')]);
    const procs = [bot, worker];
    const botUrl = `http://127.0.0.1:${bot.port}`;
    await sleep(IDLE_SETTLE_MS);
    const readings: { label: string; rss: number[]; heap: number[] }[] = [];
    const read = async (label: string) => {
      const rss = await Promise.all(procs.map(readRss));
      const heap = liveHeap ? await Promise.all(procs.map(liveHeapMb)) : [];
      readings.push({ label, rss, heap });
    };
    await read(`idle (${IDLE_SETTLE_MS / 1000} s after start)`);

    const final = new Map<string, RunState>();
    const phases: string[] = [];
    for (let phase = 1; phase <= 2; phase++) {
      const began = performance.now();
      await requestRuns(botUrl, slack, runs, (phase - 1) * runs);
      const acked = performance.now();
      await waitForRuns(redis, store, phase * runs, final);
      const ended = performance.now();
      phases.push(
        `  runs ${((phase - 1) * runs + 1).toLocaleString('en')}–${(phase * runs).toLocaleString('en')}: all acked in ${((acked - began) / 1000).toFixed(1)} s, all final after ${((ended - began) / 1000).toFixed(1)} s (${(runs / ((ended - began) / 1000)).toFixed(0)} runs/s)`,
      );
      await sleep(AFTER_RUNS_SETTLE_MS);
      await read(`after ${(phase * runs).toLocaleString('en')} runs`);
      // The fake keeps every call it answered; only the messages are needed (chat.update finds them there).
      slack.calls.length = 0;
      slack.responses.length = 0;
    }
    const peaks = procs.map((p) => rssMb(pidOf(p), 'VmHWM'));

    const [, atN, at2N] = readings;
    const growth = procs.map((_, i) => (at2N?.rss[i] ?? Number.NaN) - (atN?.rss[i] ?? Number.NaN));
    const pass = procs.map((_, i) => (growth[i] ?? Number.NaN) <= GROWTH_BOUND * (atN?.rss[i] ?? Number.NaN));

    console.log(
      `\nMemory: RSS of \`node src/main.ts --role bot\` and \`--role worker\` (worker concurrency 4, LOG_LEVEL info), ${liveHeap ? 'WITH a forced full GC after each reading (--live-heap)' : 'no forced GC'}`,
    );
    console.log(`  ${2 * runs} signed \`/dr run quick\` commands (5 no-op steps, no approval), ${IN_FLIGHT} in flight; fake Slack, real Redis`);
    console.log(`  ${''.padEnd(28)}${procs.map((p) => p.name.padStart(COL)).join('')}`);
    for (const r of readings) console.log(`  ${r.label.padEnd(28)}${r.rss.map((v) => mb(v).padStart(COL)).join('')}`);
    if (liveHeap) {
      for (const r of readings) console.log(`  ${`live heap, ${r.label.replace(/ \(.*\)/, '')}`.padEnd(28)}${r.heap.map((v) => mb(v).padStart(COL)).join('')}`);
    }
    console.log(`  ${'peak (VmHWM)'.padEnd(28)}${peaks.map((v) => mb(v).padStart(COL)).join('')}`);
    console.log(
      `  ${`growth ${runs.toLocaleString('en')} → ${(2 * runs).toLocaleString('en')} runs`.padEnd(28)}${growth
        .map((g, i) => `${g >= 0 ? '+' : ''}${g.toFixed(1)} MiB (${((100 * g) / (atN?.rss[i] ?? 1)).toFixed(0)} %)`.padStart(COL))
        .join('')}`,
    );
    for (const line of phases) console.log(line);
    console.log(`  run states: ${countStates(final)}; warn/error log lines: ${procs.map((p) => `${p.name} ${warnings(p)}`).join(', ')}`);
    console.log(
      `  check: growth from ${runs.toLocaleString('en')} to ${(2 * runs).toLocaleString('en')} runs ≤ ${GROWTH_BOUND * 100} % of the ${runs.toLocaleString('en')}-run RSS: ${procs
        .map((p, i) => `${p.name} ${pass[i] ? 'PASS' : 'FAIL'}`)
        .join(', ')}`,
    );
    if (pass.includes(false)) process.exitCode = 1;
  } finally {
    await stopAll();
    process.removeListener('exit', killOnExit);
    redis.disconnect();
    await slack.stop();
    await deleteKeys(redisUrl, prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}
