/**
 * vitest `setupFiles`: the loopback guard (test/support/loopback-guard.ts) in
 * every test worker, and a test that opened a connection outside 127.0.0.1
 * fails, even when the code under test swallowed the error. Child processes
 * the tests spawn load the guard with `--import` and append their violations
 * to the file in DR_TEST_LOOPBACK_LOG, created here; it is read after each
 * test as well.
 *
 * A test also fails when a fake AWS service refused one of its requests for
 * breaking the service model (test/support/aws-models/refusals.ts), unless
 * the test took those refusals itself.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { takeModelRefusals } from './support/aws-models/refusals.ts';
import { LOOPBACK_LOG_ENV, recordInProcess, takeViolations } from './support/loopback-guard.ts';

recordInProcess();

const logDir = mkdtempSync(join(tmpdir(), 'dr-loopback-'));
const logPath = join(logDir, 'violations.log');
writeFileSync(logPath, '');
process.env[LOOPBACK_LOG_ENV] = logPath;
let logRead = 0;

function newChildViolations(): string[] {
  let text: Buffer;
  try {
    text = readFileSync(logPath);
  } catch {
    return [];
  }
  const added = text.subarray(logRead).toString('utf8');
  logRead = text.length;
  return added.split('\n').filter((l) => l.trim() !== '');
}

function check(when: string): void {
  const found = [
    ...takeViolations().map((v) => `${v.message}\n${v.stack}`),
    ...newChildViolations().map((l) => `[child process] ${l}`),
  ];
  if (found.length > 0) {
    throw new Error(`loopback guard: ${found.length} connection(s) outside 127.0.0.1 ${when}:\n${found.join('\n')}`);
  }
}

afterEach(() => {
  check('during this test');
  const refused = takeModelRefusals();
  if (refused.length > 0) {
    throw new Error(
      `AWS service model: the fakes refused ${refused.length} request(s) that AWS would refuse too:\n` +
        refused.map((r) => `  ${r.service} ${r.operation}: ${r.code}: ${r.message}`).join('\n'),
    );
  }
});

afterAll(() => {
  try {
    check('outside a test (beforeAll/afterAll or after the last test)');
  } finally {
    rmSync(logDir, { recursive: true, force: true });
  }
});
