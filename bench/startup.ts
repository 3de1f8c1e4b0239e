/**
 * Start → healthy: the time from spawning `node src/main.ts` to its first
 * /healthz 200, for a worker and for the bot, with Slack up (the fake Slack),
 * refusing connections, and hanging (accepting connections, never answering),
 * side by side. The baseline is a bare Node process that serves /healthz and
 * nothing else: what starting Node costs. Goal: under 2 s in every case.
 * Median (and max) of ROUNDS starts each, loopback only. Each role is started
 * cold, and with Node's compile cache warmed once (NODE_COMPILE_CACHE), as
 * the Docker image ships it (compiled at build, read at every start).
 *
 *   npm run bench -- startup
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { type BotProcess, spawnBot, stopBot } from '../test/support/process.ts';
import { deleteKeys, percentile, type BenchArgs } from './util.ts';

const TOKEN = 'xoxb-1111111111-2222222222-BENCHbotTOKENvalue';
const SIGNING_SECRET = '0123456789abcdef0123456789abcdef';
const ROUNDS = 3;
const GOAL_MS = 2_000;
/** A start that takes longer than this is reported as such, not waited for. */
const GIVE_UP_MS = 120_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

/** Slack hanging: accepts every connection and never writes a byte. */
async function blackHole(): Promise<{ apiUrl: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

/** Polls /healthz until it answers 200; the milliseconds since `startedAt`. */
async function untilHealthy(port: number, startedAt: number, exited: () => boolean): Promise<number> {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return performance.now() - startedAt;
    if (exited()) throw new Error('the process exited before it was healthy');
    if (performance.now() - startedAt > GIVE_UP_MS) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The bare Node process: an HTTP server on PORT answering /healthz. */
async function baselineStart(): Promise<number> {
  const port = await freePort();
  const script = `require('node:http').createServer((q, s) => { s.writeHead(q.url === '/healthz' ? 200 : 404).end(); }).listen(${port}, '127.0.0.1');`;
  const startedAt = performance.now();
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  try {
    return await untilHealthy(port, startedAt, () => child.exitCode !== null);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function drChatopsStart(role: 'worker' | 'bot', slackApiUrl: string, redisUrl: string, prefix: string, compileCache?: string): Promise<number> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const startedAt = performance.now();
  const bot: BotProcess = spawnBot(
    {
      SLACK_BOT_TOKEN: TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slackApiUrl,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'silent',
      ...(compileCache ? { NODE_COMPILE_CACHE: compileCache } : {}),
    },
    ['--role', role],
  );
  try {
    return await untilHealthy(port, startedAt, () => bot.child.exitCode !== null);
  } catch (err) {
    throw new Error(`--role ${role} (${slackApiUrl}): ${err instanceof Error ? err.message : String(err)}\n${bot.stderr()}`, { cause: err });
  } finally {
    await stopBot(bot);
  }
}

function cell(values: number[]): string {
  const median = percentile(values, 50);
  const max = Math.max(...values);
  if (!Number.isFinite(max)) return `> ${(GIVE_UP_MS / 1_000).toFixed(0)} s`.padStart(22);
  return `${median.toFixed(0).padStart(6)} ms (max ${max.toFixed(0).padStart(5)})`;
}

export async function benchStartup({ redisUrl }: BenchArgs): Promise<void> {
  const slack = await new FakeSlack([TOKEN]).start();
  const hanging = await blackHole();
  const refusing = `http://127.0.0.1:${await freePort()}/api/`;
  const prefix = `bench-startup-${process.pid}`;
  const compileCache = mkdtempSync(join(tmpdir(), 'dr-compile-cache-'));
  const slackStates: [string, string][] = [
    ['Slack up', slack.apiUrl],
    ['Slack refusing', refusing],
    ['Slack hanging', hanging.apiUrl],
  ];
  try {
    const baseline: number[] = [];
    for (let i = 0; i < ROUNDS; i++) baseline.push(await baselineStart());
    // As the image's build step does: one start without configuration compiles every module into the cache.
    spawnSync(process.execPath, ['src/main.ts', '--role', 'worker'], { env: { ...process.env, NODE_COMPILE_CACHE: compileCache }, stdio: 'ignore' });
    const rows: { name: string; cells: number[][] }[] = [];
    for (const [label, cache] of [['', undefined], [', compile cache', compileCache]] as const) {
      for (const role of ['worker', 'bot'] as const) {
        const cells: number[][] = [];
        for (const [, apiUrl] of slackStates) {
          const times: number[] = [];
          for (let i = 0; i < ROUNDS; i++) times.push(await drChatopsStart(role, apiUrl, redisUrl, prefix, cache));
          cells.push(times);
        }
        rows.push({ name: `--role ${role}${label}`, cells });
      }
    }
    console.log(`\nStart → /healthz 200: median of ${ROUNDS} starts (max), loopback, Redis up; goal under ${GOAL_MS / 1_000} s`);
    console.log(`${''.padEnd(30)}${slackStates.map(([name]) => name.padStart(22)).join('  ')}`);
    console.log(`${'bare Node (baseline)'.padEnd(30)}${cell(baseline).padStart(22)}`);
    for (const row of rows) console.log(`${row.name.padEnd(30)}${row.cells.map((c) => cell(c).padStart(22)).join('  ')}`);
    const worst = Math.max(...rows.filter((r) => r.name.includes('compile cache')).flatMap((r) => r.cells.flat()));
    const coldWorst = Math.max(...rows.filter((r) => !r.name.includes('compile cache')).flatMap((r) => r.cells.flat()));
    console.log(`Cold (no compile cache, e.g. npm start the first time): slowest ${(coldWorst / 1_000).toFixed(2)} s. With the image's compile cache:`);
    console.log(worst < GOAL_MS ? `Every start was healthy within ${(worst / 1_000).toFixed(2)} s (goal ${GOAL_MS / 1_000} s).` : `Slowest start: ${(worst / 1_000).toFixed(2)} s, over the ${GOAL_MS / 1_000} s goal.`);
  } finally {
    await hanging.stop();
    await slack.stop();
    await deleteKeys(redisUrl, prefix);
    rmSync(compileCache, { recursive: true, force: true });
  }
}
