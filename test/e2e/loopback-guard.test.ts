/**
 * The loopback guard (test/support/loopback-guard.ts, loaded by test/setup.ts
 * and by `--import` in spawned children): a test that dials outside 127.0.0.1
 * fails even when the error is swallowed, a child's attempt is logged, and
 * nothing leaves the machine (refused before DNS or any packet).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isLoopbackHost,
  LOOPBACK_GUARD_CODE,
  LOOPBACK_GUARD_PATH,
  LOOPBACK_LOG_ENV,
  refusalMessage,
  takeViolations,
} from '../support/loopback-guard.ts';
import { guardedNodeArgs, guardEnv, REPO_ROOT } from '../support/process.ts';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'dr-loopback-test-'));
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('the loopback guard', () => {
  it('allows 127.0.0.0/8, ::1, ::ffff:127.x and localhost; refuses every other address and name', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::1]', 'localhost', 'LOCALHOST']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['10.255.255.1', '0.0.0.0', '128.0.0.1', '169.254.169.254', '::', '::2', '::ffff:10.0.0.1', 'fe80::1', 'example.com', 'localhost.', 'api.localhost', 'hooks.slack.com', '127.0.0.1.nip.io']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('refuses a host name before DNS is asked, as a socket error, and records it', async () => {
    let looked = false;
    const socket = net.connect({
      host: 'example.com',
      port: 443,
      lookup: () => {
        looked = true;
      },
    });
    // Written before the refusal: held, as while connecting, never sent.
    socket.write('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => socket.on('error', resolve));
    expect(error.code).toBe(LOOPBACK_GUARD_CODE);
    expect(error.message).toBe('loopback guard: connection to example.com:443 refused (tests may only reach 127.0.0.1)');
    expect(looked).toBe(false);
    expect(socket.destroyed).toBe(true);
    // Taken here, so this test's afterEach (test/setup.ts) does not fail it.
    expect(takeViolations().map((v) => v.message)).toEqual([error.message]);
  });

  it('lets loopback connections through untouched', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
      expect(await (await fetch(`http://localhost:${port}/`)).text()).toBe('ok');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(takeViolations()).toEqual([]);
  });

  it('fails a vitest test that dialled out and swallowed the error; a loopback-only test passes', async () => {
    const report = join(dir, 'report.json');
    const res = await run(
      [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/fixtures/loopback-guard/vitest.config.ts', '--reporter=json', `--outputFile=${report}`],
      { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, NO_COLOR: '1' },
      120_000,
    );
    const output = `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`;
    expect(res.code, output).not.toBe(0);
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      testResults: { name: string; assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
    };
    const results = Object.fromEntries(
      json.testResults.flatMap((file) => file.assertionResults.map((t) => [t.title, { status: t.status, failure: t.failureMessages.join('\n') }])),
    );
    expect(Object.keys(results).sort()).toEqual([
      'fetch to 10.255.255.1, error swallowed',
      'https fetch to a host name, error swallowed',
      'net.connect(443, "example.com"), error swallowed',
      'reaches 127.0.0.1, localhost and a Unix socket',
    ]);
    expect(results['reaches 127.0.0.1, localhost and a Unix socket']?.status, output).toBe('passed');
    const refused = {
      'fetch to 10.255.255.1, error swallowed': refusalMessage('10.255.255.1', '80'),
      'net.connect(443, "example.com"), error swallowed': refusalMessage('example.com', '443'),
      'https fetch to a host name, error swallowed': refusalMessage('api.example.com', '443'),
    };
    for (const [title, message] of Object.entries(refused)) {
      expect(results[title]?.status, title).toBe('failed');
      expect(results[title]?.failure, title).toContain('connection(s) outside 127.0.0.1 during this test');
      expect(results[title]?.failure, title).toContain(message);
    }
  });

  it('in a spawned node child, logs each refused connection to DR_TEST_LOOPBACK_LOG and stderr', async () => {
    // A log of this test's own: the run's log (test/setup.ts) would fail this test.
    const log = join(dir, 'child.log');
    writeFileSync(log, '');
    const script = [
      "import net from 'node:net';",
      'const seen = [];',
      "await new Promise((resolve) => net.connect(443, 'example.com').on('error', (e) => { seen.push(e.message); resolve(); }));",
      "try { await fetch('http://10.255.255.1/'); } catch (e) { seen.push(e.cause?.message); }",
      'console.log(JSON.stringify(seen));',
    ].join('\n');
    const res = await run(['--import', LOOPBACK_GUARD_PATH, '--input-type=module', '-e', script], { PATH: process.env.PATH ?? '', [LOOPBACK_LOG_ENV]: log });
    const messages = [refusalMessage('example.com', '443'), refusalMessage('10.255.255.1', '80')];
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(messages);
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    messages.forEach((m, i) => {
      expect(lines[i]).toContain(m);
      expect(res.stderr).toContain(m);
    });
  });

  it('is loaded into the children the tests spawn (spawnBot, the CLI)', () => {
    expect(guardedNodeArgs()).toEqual(['--import', LOOPBACK_GUARD_PATH]);
    expect(guardEnv()).toEqual({ [LOOPBACK_LOG_ENV]: process.env[LOOPBACK_LOG_ENV] });
    expect(process.env[LOOPBACK_LOG_ENV]).toMatch(/violations\.log$/);
  });
});
