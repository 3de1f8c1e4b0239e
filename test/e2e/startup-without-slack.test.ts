/**
 * No role waits for Slack before serving probes or taking jobs.
 *
 * Before the fix, a worker with Slack refusing connections served /healthz
 * only after the Web API client's retries (about 15 s), and with Slack
 * black-holed (connections accepted, never answered) after 83 s: longer than
 * the liveness probe allows, so Kubernetes restarted workers in a loop during
 * a Slack outage, and runs requested from the CLI were never taken.
 *
 * The processes are real (`node src/main.ts`); the black hole is a TCP server
 * on loopback that accepts connections and never writes a byte, until the
 * test switches it to pass traffic to the fake Slack.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_NOT_READY } from '../../src/slack/app.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, BOB, FIXTURE_COMMANDS } from '../support/engine.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, guardedNodeArgs, guardEnv, REPO_ROOT, spawnBot, startedUrls, stopBot } from '../support/process.ts';
import { deleteKeys, jobsQueued, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendSlashCommand, SIGNING_SECRET } from '../support/slack-requests.ts';

/** Generous: these wait for a condition, they do not measure time. */
const PATIENCE_MS = 60_000;

/**
 * Slack black-holed: accepts every connection and answers nothing, until
 * `passTo()` makes new connections go through to a real (fake) Slack.
 */
class SlackBlackHole {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private target: number | undefined;
  port = 0;
  /** Connections accepted while black-holed, and bytes received on them (the bot's requests); it never writes back on them. */
  heldConnections = 0;
  bytesReceived = 0;

  async start(): Promise<this> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client)).on('error', () => client.destroy());
      if (this.target === undefined) {
        this.heldConnections += 1;
        client.on('data', (d: Buffer) => (this.bytesReceived += d.length));
        return;
      }
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream)).on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** Slack is back: new connections reach the fake Slack (held ones stay held until the client gives up). */
  passTo(port: number): void {
    this.target = port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => { resolve(); }) : resolve()));
  }
}

/** A loopback port nothing listens on: Slack refusing connections. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${PATIENCE_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function healthz(url: string): Promise<number> {
  return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).status;
}

async function readyz(internal: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${internal}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const OPERATOR_KEY = randomBytes(32).toString('base64url');
const OPERATORS = `alice:${ALICE.id}:${sha256(OPERATOR_KEY)}`;

/** `npm run dr -- <args>` against the same Redis and prefix. */
function dr(args: string[], prefix: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...guardedNodeArgs(), 'src/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        COMMANDS_DIR: FIXTURE_COMMANDS,
        DR_CLI_OPERATORS: OPERATORS,
        DR_APPROVERS: `${ALICE.id},${BOB.id}`,
        DR_OPERATOR_KEY: OPERATOR_KEY,
        ...guardEnv(),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('exit', (code) => { resolve({ code, stdout, stderr }); });
  });
}

describe('workers start and run steps without Slack', () => {
  const prefixes: string[] = [];
  let worker: BotProcess | undefined;
  let blackHole: SlackBlackHole | undefined;

  afterEach(async () => {
    if (worker) await stopBot(worker);
    await blackHole?.stop();
    worker = undefined;
    blackHole = undefined;
  });
  afterAll(async () => {
    await Promise.all(prefixes.map(deleteKeys));
  });

  function spawnWorker(slackApiUrl: string): { worker: BotProcess; prefix: string } {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const spawned = spawnBot(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_API_URL: slackApiUrl,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        COMMANDS_DIR: FIXTURE_COMMANDS,
        PORT: '0',
        METRICS_PORT: '0',
      },
      ['--role', 'worker'],
    );
    return { worker: spawned, prefix };
  }

  /** A run requested and followed through the CLI is taken by the worker and succeeds. */
  async function expectCliRunSucceeds(prefix: string): Promise<void> {
    const res = await dr(['run', 'quick', '--follow'], prefix);
    expect(res.stderr).not.toContain('Error');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Run r[a-z0-9]{7} requested/);
    expect(res.stdout).toMatch(/Run r[a-z0-9]{7} succeeded in/);
  }

  it('Slack black-holed: /healthz and /readyz answer while Slack has answered nothing, and a CLI run succeeds', async () => {
    blackHole = await new SlackBlackHole().start();
    const spawned = spawnWorker(blackHole.apiUrl);
    worker = spawned.worker;
    const { url, internal } = await startedUrls(worker);

    // The worker has asked Slack (auth.test) and is still waiting on it.
    await until('the worker connects to Slack', () => Promise.resolve(blackHole && blackHole.bytesReceived > 0 ? true : undefined));
    expect(await healthz(url)).toBe(200);
    const ready = await readyz(internal);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', redis: 'ok' });
    expect(String(ready.body.slack)).toContain('Slack not reachable yet');

    await expectCliRunSucceeds(spawned.prefix);
    // All of that while every connection to Slack was held without an answer.
    expect(blackHole.heldConnections).toBeGreaterThan(0);
    expect(worker.stdout()).not.toContain('slack auth ok');
    expect(worker.child.exitCode).toBeNull();
  });

  it('Slack refusing connections: the same', async () => {
    const spawned = spawnWorker(`http://127.0.0.1:${await refusedPort()}/api/`);
    worker = spawned.worker;
    const { url, internal } = await startedUrls(worker);
    expect(await healthz(url)).toBe(200);
    const ready = await readyz(internal);
    expect(ready.status).toBe(200);
    expect(String(ready.body.slack)).toContain('Slack not reachable yet (ECONNREFUSED');

    await expectCliRunSucceeds(spawned.prefix);
    expect(worker.child.exitCode).toBeNull();
  });
});

describe('the bot starts without Slack, is not ready until Slack answers, then is ready without a restart', () => {
  let slack: FakeSlack;
  let blackHole: SlackBlackHole;
  let bot: BotProcess;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    blackHole = await new SlackBlackHole().start();
    bot = spawnBot(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: blackHole.apiUrl,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        PORT: '0',
        METRICS_PORT: '0',
      },
      ['--role', 'bot'],
    );
  });
  afterAll(async () => {
    await stopBot(bot);
    await blackHole.stop();
    await slack.stop();
    await deleteKeys(prefix);
  });

  it('answers /healthz, says "Slack not reachable yet" on /readyz, refuses Slack requests, and becomes ready once Slack answers', async () => {
    const { url, internal } = await startedUrls(bot);
    await until('the bot connects to Slack', () => Promise.resolve(blackHole.bytesReceived > 0 ? true : undefined));

    expect(await healthz(url)).toBe(200);
    const notReady = await readyz(internal);
    expect(notReady.status).toBe(503);
    expect(notReady.body.status).toBe('not ready');
    expect(String(notReady.body.slack)).toContain('Slack not reachable yet');
    expect(bot.stdout()).not.toContain('slack auth ok');

    // Before Slack has named the installation, nothing gets through unchecked.
    const early = await sendSlashCommand(url, { text: 'ping', channel_id: 'C0EARLY001' });
    expect(early.status).toBe(503);
    expect(early.json?.error).toBe(EVENTS_NOT_READY);
    expect(await jobsQueued(prefix)).toBe(0);

    const pid = bot.child.pid;
    blackHole.passTo(Number(new URL(slack.apiUrl).port));
    const ready = await until('the bot becomes ready', async () => {
      const r = await readyz(internal);
      return r.status === 200 ? r : undefined;
    });
    expect(ready.body).toEqual({ status: 'ready', redis: 'ok', slack: 'ok' });
    expect(bot.child.pid).toBe(pid);
    expect(bot.child.exitCode).toBeNull();

    // Now the guard knows the installation: a member's command goes through.
    const ping = await sendSlashCommand(url, { text: 'ping', channel_id: 'C0LATER001' });
    expect(ping.status).toBe(200);
    expect(await until('the ping is queued', async () => ((await jobsQueued(prefix)) > 0 ? true : undefined))).toBe(true);
    expect(slack.callsTo('auth.test').length).toBeGreaterThan(0);
  });
});
