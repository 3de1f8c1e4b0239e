import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeService } from '../support/fake-service.ts';
import { REPO_ROOT } from '../support/process.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as `npm run dr -- …` does, with a worker running in this test process. */
describe('the terminal front end (npm run dr)', () => {
  let engine: TestEngine;
  let api: FakeService;

  const dr = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['src/cli/main.ts', ...args], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: engine.prefix, COMMANDS_DIR: FIXTURE_COMMANDS, ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('exit', (code) => { resolve({ code, stdout, stderr }); });
    });

  const runIdIn = (text: string): string => {
    const id = /Run (r[a-z0-9]{7}) requested/.exec(text)?.[1];
    if (!id) throw new Error(`no run id in: ${text}`);
    return id;
  };

  beforeAll(async () => {
    api = await new FakeService().start();
    engine = await startTestEngine();
  });
  afterAll(async () => {
    await engine.stop();
    await api.stop();
  });

  it('lists runbooks with their parameters', async () => {
    const res = await dr(['runbooks']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('provision — Provision a test resource [accidental-deletion] (1 approval)');
    expect(res.stdout).toContain('    baseUrl=<string>  base URL of the fake service (required)');
    expect(res.stdout).toContain('quick — Five steps that do nothing (no approval)');
  });

  it('plans without storing anything, and refuses bad parameters by name', async () => {
    const ok = await dr(['plan', 'provision', `baseUrl=${api.url}`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('nothing has been changed');
    expect(ok.stdout).toContain(`create  POST ${api.url}/resources  ⚠ cannot be undone`);

    const bad = await dr(['plan', 'provision', `baseUrl=${api.url}`, 'size=eleven']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('`size`: `eleven` is not a number');
    expect(await engine.store.list()).toEqual([]);
    expect(api.requests).toEqual([]);
  });

  it('requests, refuses self-approval, then a second operator approves and follows it to success', async () => {
    const requested = await dr(['run', 'provision', `baseUrl=${api.url}`, '--as', 'alice']);
    expect(requested.code).toBe(0);
    const runId = runIdIn(requested.stdout);
    expect(requested.stdout).toContain(`Waiting for approval: a second operator runs \`npm run dr -- approve ${runId}\``);

    const self = await dr(['approve', runId, '--as', 'alice']);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('two-person rule');

    const approved = await dr(['approve', runId, '--as', 'bob', '--follow']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`Approved: run ${runId} starts now.`);
    expect(approved.stdout).toMatch(/✔ create succeeded in [\d.]+m?s \(status=201/);
    expect(approved.stdout).toMatch(/✔ notify succeeded/);
    expect(approved.stdout).toMatch(new RegExp(`Run ${runId} succeeded in`));

    const status = await dr(['status', runId]);
    expect(status.stdout).toContain(`Run ${runId}: provision — succeeded`);
    expect(status.stdout).toContain('approved by bob (cli)');

    const runs = await dr(['runs']);
    expect(runs.stdout).toMatch(new RegExp(`${runId}  provision\\s+succeeded\\s+alice \\(cli\\)`));

    const audit = await dr(['audit', runId]);
    expect(audit.stdout).toMatch(/alice \(cli\)\s+requested — provision/);
    expect(audit.stdout).toMatch(/bob \(cli\)\s+approved/);
    expect(audit.stdout).toMatch(/dr-chatops \(system\)\s+succeeded/);
  });

  it('cancels a running run from the terminal', async () => {
    const requested = await dr(['run', 'long-wait', 'seconds=60', '--as', 'alice']);
    const runId = runIdIn(requested.stdout);
    await engine.service.approve(runId, { id: 'U0APPROVER1', via: 'slack' });
    await engine.waitForState(runId, ['running']);

    const cancelled = await dr(['cancel', runId, 'wrong', 'region', '--as', 'alice']);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(/Cancel requested|is cancelled/);
    const run = await engine.waitForState(runId, ['cancelled']);
    expect(run.decision?.reason).toBe('wrong region');
  });

  it('dry run: prints what would happen, changes nothing, needs no approval', async () => {
    const res = await dr(['run', 'provision', `baseUrl=${api.url}`, '--dry-run', '--as', 'alice']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('(dry run: nothing will change)');
    expect(res.stdout).toContain(`↷ create skipped: would POST ${api.url}/resources`);
    expect(res.stdout).toMatch(/Run r[a-z0-9]{7} succeeded/);
    expect(api.requests.filter((r) => r.method === 'POST' && r.path === '/resources')).toHaveLength(1); // only the approved run's
  });

  it('suggests the closest command for a typo and exits 2', async () => {
    const res = await dr(['aprove', 'r1234567']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("Unknown command 'aprove'. Did you mean 'approve'?");
  });

  it('lists Velero backups with phase, age, expiry and namespaces', async () => {
    const kube = await new FakeKube().start();
    try {
      kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * 3_600_000), ttlHours: 720 });
      kube.addBackup('hourly-backup-20261125050000', { schedule: 'hourly-backup', completedAt: new Date(Date.now() - 30 * 60_000), includedNamespaces: ['production'], phase: 'PartiallyFailed' });
      const res = await dr(['backups'], { KUBECONFIG: kube.writeKubeconfig() });
      expect(res.code).toBe(0);
      const lines = res.stdout.trim().split('\n');
      // The CLI starts a process: on a busy machine a few seconds pass after the backups were made.
      expect(lines[0]).toMatch(/^hourly-backup-20261125050000\s+PartiallyFailed\s+30m( \d+s)? old\s+expires \S+Z\s+namespaces: production$/);
      expect(lines[1]).toMatch(/^daily-full-backup-20261125020000\s+Completed\s+3h old\s+expires \S+Z\s+namespaces: \*$/);
    } finally {
      await kube.stop();
    }
  });

  it('says there is no such run', async () => {
    const res = await dr(['status', 'rnothere']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('There is no run `rnothere`.');
  });
});
