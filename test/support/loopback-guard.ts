/**
 * Tests never leave this machine. Loaded into the vitest workers by
 * test/setup.ts (vitest `setupFiles`) and into every child process a test
 * spawns (`node --import <this file>`), it wraps `net.Socket.prototype.connect`,
 * which every TCP client goes through: net.connect, tls.connect, http(s), undici
 * (fetch), ioredis, axios, ws. Allowed: 127.0.0.0/8, ::1, ::ffff:127.x, the name
 * `localhost` and Unix socket paths. Anything else (any other host name too,
 * before DNS is asked) fails as a connection error would, emitted on the
 * socket with nothing sent, and is recorded, since the code under test may
 * swallow the error:
 * - in a vitest worker (after `recordInProcess()`), in memory; the setup file's
 *   afterEach fails the test with `takeViolations()`;
 * - in a child, as a line appended to the file named by DR_TEST_LOOPBACK_LOG
 *   (the setup file creates it and reads it after each test), and on stderr.
 *
 * Runs as plain Node (type stripping): erasable TypeScript only, no imports
 * from the project.
 */
import { appendFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** The file children append their violations to, one per line. */
export const LOOPBACK_LOG_ENV = 'DR_TEST_LOOPBACK_LOG';
/** For `node --import`. */
export const LOOPBACK_GUARD_PATH = fileURLToPath(import.meta.url);
export const LOOPBACK_GUARD_CODE = 'ERR_LOOPBACK_GUARD';

export interface Violation {
  host: string;
  port: string;
  message: string;
  /** Where the connection was opened. */
  stack: string;
}

type Connect = (this: net.Socket, ...args: unknown[]) => net.Socket;

interface GuardState {
  original: Connect;
  violations: Violation[];
  /** True in the vitest worker: violations stay in memory for the setup file. */
  inProcess: boolean;
}

// One guard per process, however many times this module is evaluated (vitest
// re-runs setup files per test file; a test may import it too).
const STATE_KEY = Symbol.for('dr-chatops.loopback-guard');
const globals = globalThis as unknown as Record<symbol, GuardState | undefined>;

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`; any other name or address is not. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = net.isIP(bare);
  if (family === 4) return LOOPBACK.check(bare, 'ipv4');
  if (family === 6) return LOOPBACK.check(bare, 'ipv6');
  return false;
}

function portText(port: unknown): string {
  return typeof port === 'number' || typeof port === 'string' ? String(port) : '';
}

/** Where a connect() call goes, read as Node's normalizeArgs does; undefined for a Unix socket path. */
function targetOf(args: unknown[]): { host: string; port: string } | undefined {
  // net.connect passes its already-normalized [options, callback] array.
  const first: unknown = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { path?: unknown; host?: unknown; port?: unknown };
    if (typeof options.path === 'string' && options.path !== '') return undefined;
    return { host: typeof options.host === 'string' && options.host !== '' ? options.host : 'localhost', port: portText(options.port) };
  }
  // A string that is not a number is a pipe path.
  if (typeof first === 'string' && !/^\s*\d+\s*$/.test(first)) return undefined;
  const host = typeof args[1] === 'string' && args[1] !== '' ? args[1] : 'localhost';
  return { host, port: portText(first) };
}

export function refusalMessage(host: string, port: string): string {
  const shown = net.isIPv6(host) ? `[${host}]` : host;
  return `loopback guard: connection to ${shown}:${port} refused (tests may only reach 127.0.0.1)`;
}

function report(state: GuardState, violation: Violation): void {
  state.violations.push(violation);
  if (state.inProcess) return;
  const line = `${violation.message} (pid ${process.pid}: ${process.argv.slice(1).join(' ').slice(0, 200)})`;
  try {
    process.stderr.write(`${line}\n${violation.stack}\n`);
  } catch {
    // stderr closed: the log file still has it.
  }
  const log = process.env[LOOPBACK_LOG_ENV];
  if (log) {
    try {
      appendFileSync(log, `${line.replaceAll('\n', ' ')}\n`);
    } catch {
      // The test run that asked for the log is over.
    }
  }
}

function install(): GuardState {
  const existing = globals[STATE_KEY];
  if (existing) return existing;
  const proto = net.Socket.prototype as unknown as { connect: Connect };
  const state: GuardState = { original: proto.connect, violations: [], inProcess: false };
  globals[STATE_KEY] = state;

  proto.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
    const target = targetOf(args);
    if (target === undefined || isLoopbackHost(target.host)) return Reflect.apply(state.original, this, args);

    const message = refusalMessage(target.host, target.port);
    const stack = (new Error(message).stack ?? '').split('\n').slice(2, 14).join('\n');
    report(state, { host: target.host, port: target.port, message, stack });
    const error = Object.assign(new Error(message), { code: LOOPBACK_GUARD_CODE, host: target.host, port: target.port });
    // Fail as a refused connection does: asynchronously, on the socket, with
    // writes held (as while connecting) so they fail with this same error.
    (this as unknown as { connecting: boolean }).connecting = true;
    process.nextTick(() => this.destroy(error));
    return this;
  };
  return state;
}

const state = install();

/** In the vitest worker: keep violations in memory only; the setup file reports them. */
export function recordInProcess(): void {
  state.inProcess = true;
}

/** The violations recorded in this process since the last call, which clears them. */
export function takeViolations(): Violation[] {
  return state.violations.splice(0);
}
