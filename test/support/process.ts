/**
 * Runs `node src/main.ts` as a real child process, the way `npm start` does,
 * collecting its output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Under vitest (test/setup.ts set DR_TEST_LOOPBACK_LOG), node children load the
 * loopback guard: `node ...guardedNodeArgs() <script>` with `...guardEnv()` in
 * their env. Not imported here, so a bench spawning the bot is not guarded.
 */
const LOOPBACK_GUARD = fileURLToPath(new URL('./loopback-guard.ts', import.meta.url));
const LOOPBACK_LOG_ENV = 'DR_TEST_LOOPBACK_LOG';

export function guardedNodeArgs(): string[] {
  return process.env[LOOPBACK_LOG_ENV] ? ['--import', LOOPBACK_GUARD] : [];
}

export function guardEnv(): Record<string, string> {
  const log = process.env[LOOPBACK_LOG_ENV];
  return log ? { [LOOPBACK_LOG_ENV]: log } : {};
}

export interface BotProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves once stdout holds a line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function spawnBot(env: Record<string, string>, args: string[] = []): BotProcess {
  const child = spawn(process.execPath, [...guardedNodeArgs(), 'src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, ...guardEnv() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code); }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForLog(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = out.split('\n').find((l) => pattern.test(l));
        if (line) return line;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`log ${String(pattern)} not seen; stdout:\n${out}\nstderr:\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Once the process logged its start: its public (PORT) and internal (METRICS_PORT) base URLs. */
export async function startedUrls(bot: BotProcess): Promise<{ url: string; internal: string }> {
  const { port, metricsPort } = JSON.parse(await bot.waitForLog(/dr-chatops started/)) as { port: number; metricsPort: number };
  return { url: `http://127.0.0.1:${port}`, internal: `http://127.0.0.1:${metricsPort}` };
}

/** SIGTERM unless it already exited, and wait until it has. */
export async function stopBot(bot: BotProcess): Promise<void> {
  if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGTERM');
  await bot.exited;
}
