/**
 * The CLI follows the requesters role as Slack does: the rule is RunService's,
 * checked before the parameters. CLI processes against real Redis.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { guardedNodeArgs, guardEnv, REPO_ROOT } from '../support/process.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const KEY_A = randomBytes(32).toString('base64url');
const KEY_B = randomBytes(32).toString('base64url');
const AS_ALICE = { DR_OPERATOR_KEY: KEY_A };
const AS_BOB = { DR_OPERATOR_KEY: KEY_B };
/** A loopback base URL the provision runbook's pattern accepts; nothing listens there and a plan calls nothing. */
const BASE_URL = 'http://127.0.0.1:9';

describe('the CLI and DR_REQUESTERS', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine();
  });
  afterAll(async () => engine.stop());

  const dr = (args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [...guardedNodeArgs(), 'src/cli/main.ts', ...args], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          REDIS_URL: TEST_REDIS_URL,
          QUEUE_PREFIX: engine.prefix,
          COMMANDS_DIR: FIXTURE_COMMANDS,
          DR_CLI_OPERATORS: `alice:${ALICE.id}:${sha256(KEY_A)},bob:${BOB.id}:${sha256(KEY_B)}`,
          DR_APPROVERS: `${ALICE.id},${BOB.id}`,
          // The plan checks the loopback URL, which http steps refuse unless allowed.
          HTTP_ALLOWED_TARGETS: '127.0.0.1',
          ...env,
          ...guardEnv(),
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('exit', (code) => {
        resolve({ code, stdout, stderr });
      });
    });
  const provisions = async () => (await engine.store.list(1000)).filter((r) => r.runbookId === 'provision');

  it('an operator who is not a requester cannot request or dry-run a changing runbook, and learns nothing of its parameters', async () => {
    const env = { DR_REQUESTERS: BOB.id };
    for (const args of [['run', 'provision', `baseUrl=${BASE_URL}`], ['run', 'provision', `baseUrl=${BASE_URL}`, '--dry-run'], ['run', 'provision', 'size=eleven']]) {
      const res = await dr(args, { ...env, ...AS_ALICE });
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toContain(`Only <@${BOB.id}> may request \`provision\``);
      expect(res.stderr).toContain('Nothing was requested.');
      expect(res.stderr).not.toContain('size');
      expect(res.stderr).not.toContain('baseUrl');
    }
    expect(await provisions()).toEqual([]);
    // Read-only runbooks stay open; a requester may.
    const quick = await dr(['run', 'quick'], { ...env, ...AS_ALICE });
    expect(quick.code, quick.stderr).toBe(0);
    const allowed = await dr(['run', 'provision', `baseUrl=${BASE_URL}`], { ...env, ...AS_BOB });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await provisions()).toHaveLength(1);
  }, 120_000);

  it('when only a user group would make the operator a requester, the CLI refuses and says why and what to do', async () => {
    const before = (await provisions()).length;
    const res = await dr(['run', 'provision', `baseUrl=${BASE_URL}`, '--dry-run'], { DR_REQUESTERS: '@sre-oncall', ...AS_ALICE });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('the CLI cannot ask Slack which user groups you are in');
    expect(res.stderr).toContain(`add your Slack user id (${ALICE.id}) to DR_REQUESTERS`);
    expect((await provisions()).length).toBe(before);
  }, 30_000);
});
