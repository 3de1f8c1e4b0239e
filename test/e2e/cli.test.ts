import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunbooks } from '../../src/runbooks/load.ts';
import { RunService } from '../../src/runs/service.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { ALICE, BOB, FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeService } from '../support/fake-service.ts';
import { type CliResult, newOperatorKey as newKey, runCli, sha256, startCli } from '../support/cli.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

/** Two operators, alice and bob, with the same Slack user ids as ALICE and BOB in Slack. */
const KEY_A = newKey();
const KEY_B = newKey();
const OPERATORS = `alice:${ALICE.id}:${sha256(KEY_A)},bob:${BOB.id}:${sha256(KEY_B)}`;
const AS_ALICE = { DR_OPERATOR_KEY: KEY_A };
const AS_BOB = { DR_OPERATOR_KEY: KEY_B };
/** What the audit records about where a CLI command came from: this machine, as the child sees it. */
const ORIGIN = `${userInfo().username}@${hostname()}`;

/** A step that acts on the run's target, then one that acts nowhere. */
const ON_CLUSTER = `id: on-cluster
title: Waits for the target's cluster, then pauses
approval: { required: 1 }
steps:
  - { id: cluster, use: eks.wait-cluster }
  - { id: settle, use: wait, with: { seconds: 1 } }
`;

/** Runs the CLI as `npm run dr -- …` does, with a worker running in this test process. */
describe('the terminal front end (npm run dr)', () => {
  let engine: TestEngine;
  let api: FakeService;

  /** The environment every CLI child starts from; a test adds to it (or overrides it) per call. */
  const cliEnv = (): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: engine.prefix,
    COMMANDS_DIR: FIXTURE_COMMANDS,
    DR_CLI_OPERATORS: OPERATORS,
    // Runbooks that name no approvers of their own fall back to this role.
    DR_APPROVERS: `${ALICE.id},${BOB.id}`,
    // The fake service listens on loopback, which http steps refuse unless allowed.
    HTTP_ALLOWED_TARGETS: '127.0.0.1',
  });

  const dr = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(args, { ...cliEnv(), ...env });

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
    expect(ok.stdout).toContain('Needs 1 approval from someone other than the requester.');

    const bad = await dr(['plan', 'provision', `baseUrl=${api.url}`, 'size=eleven']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('`size`: `eleven` is not a number');
    expect(await engine.store.list()).toEqual([]);
    expect(api.requests).toEqual([]);
  });

  it('requests, refuses self-approval, then a second operator approves and follows it to success', async () => {
    const requested = await dr(['run', 'provision', `baseUrl=${api.url}`], AS_ALICE);
    expect(requested.code).toBe(0);
    const runId = runIdIn(requested.stdout);
    expect(requested.stdout).toContain(`Waiting for approval: a second operator runs \`npm run dr -- approve ${runId}\``);
    expect(requested.stderr).toContain(`Acting as alice (Slack user ${ALICE.id}) via cli from ${ORIGIN}.`);

    const self = await dr(['approve', runId], AS_ALICE);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('two-person rule');

    const approved = await dr(['approve', runId, '--follow'], AS_BOB);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`Approved: run ${runId} starts now.`);
    expect(approved.stdout).toMatch(/✔ create succeeded in [\d.]+m?s \(status=201/);
    expect(approved.stdout).toMatch(/✔ notify succeeded/);
    expect(approved.stdout).toMatch(new RegExp(`Run ${runId} succeeded in`));
    expect(`${approved.stdout}${approved.stderr}`).not.toContain(KEY_B);

    const status = await dr(['status', runId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Run ${runId}: provision — succeeded`);
    expect(status.stdout).toContain(`approved by bob ${BOB.id} via cli (${ORIGIN})`);

    const runs = await dr(['runs']);
    expect(runs.stdout).toMatch(new RegExp(`${runId}  provision\\s+succeeded\\s+alice \\(cli\\)`));

    const audit = await dr(['audit', runId]);
    expect(audit.stdout).toContain(`alice ${ALICE.id} via cli (${ORIGIN})  requested — provision`);
    expect(audit.stdout).toContain(`bob ${BOB.id} via cli (${ORIGIN})  approved`);
    expect(audit.stdout).toMatch(/dr-chatops \(system\)\s+succeeded/);
    const stored = (await engine.store.audit(runId)).find((e) => e.action === 'approved' && e.actor.via === 'cli');
    expect(stored?.actor).toEqual({ id: BOB.id, name: 'bob', via: 'cli', osUser: userInfo().username, host: hostname() });
  }, 120_000); // six CLI processes: slow on a loaded machine

  it('cannot be fooled into acting as someone else: --as, DR_OPERATOR, unknown or missing keys, Slack', async () => {
    const requested = await dr(['run', 'provision', `baseUrl=${api.url}`], AS_ALICE);
    expect(requested.code).toBe(0);
    const runId = runIdIn(requested.stdout);
    const before = await engine.store.audit(runId);

    // alice names bob: the flag is gone.
    const flag = await dr(['approve', runId, '--as', BOB.id], AS_ALICE);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('The --as option is gone');
    expect(flag.stderr).toContain('DR_OPERATOR_KEY');

    // alice sets DR_OPERATOR to bob: not read, and refused so nobody believes it counts.
    const envName = await dr(['approve', runId], { ...AS_ALICE, DR_OPERATOR: BOB.id });
    expect(envName.code).toBe(2);
    expect(envName.stderr).toContain('DR_OPERATOR is no longer read');
    // Without it, alice's key is alice: self-approval, refused.
    const self = await dr(['approve', runId], AS_ALICE);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('You requested this run: the two-person rule needs someone else to approve it.');

    // A key that is nobody's, and no key at all.
    const unknown = await dr(['approve', runId], { DR_OPERATOR_KEY: newKey() });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('DR_OPERATOR_KEY is not the key of any operator in DR_CLI_OPERATORS, so `approve` is refused. Nothing changed.');
    expect(unknown.stderr).toContain('npm run dr -- operator-key');
    // bob's key hash (from the map) is not bob's key.
    const hashAsKey = await dr(['approve', runId], { DR_OPERATOR_KEY: sha256(KEY_B) });
    expect(hashAsKey.code).toBe(1);
    for (const command of [['approve', runId], ['reject', runId], ['cancel', runId], ['run', 'quick']]) {
      const none = await dr(command);
      expect(none.code, command.join(' ')).toBe(1);
      expect(none.stderr).toContain(`\`${command[0] ?? ''}\` changes something, so it needs to know who you are, and DR_OPERATOR_KEY is not set. Nothing changed.`);
    }

    // Slack is down for the CLI, but the rule spans both: alice in Slack is alice in the CLI.
    const registry = buildRegistry();
    const slackSide = new RunService({
      store: engine.store,
      queue: engine.queue,
      runbooks: loadRunbooks(FIXTURE_COMMANDS, registry),
      registry,
      targets: engine.service.targets,
      logger: engine.logger,
      approvers: { anyone: false, users: [ALICE.id, BOB.id], groups: [] },
    });
    await expect(slackSide.approve(runId, { id: ALICE.id, name: 'alice', via: 'slack' })).rejects.toThrow('two-person rule');

    // Nothing of that changed anything.
    const run = await engine.store.get(runId);
    expect(run?.state).toBe('awaiting_approval');
    expect(run?.approvals).toEqual([]);
    expect(await engine.store.audit(runId)).toEqual(before);
    expect((await engine.store.list()).filter((r) => r.runbookId === 'quick')).toEqual([]);

    // bob, with his own key, may.
    const approved = await dr(['approve', runId], AS_BOB);
    expect(approved.code).toBe(0);
    await engine.waitForState(runId, ['succeeded']);
    const audit = await dr(['audit', runId]);
    expect(audit.stdout).toContain(`bob ${BOB.id} via cli (${ORIGIN})  approved`);
  }, 120_000); // a dozen CLI processes, each loading the AWS and Kubernetes clients: slow on a loaded machine

  it('operator-key prints a new key once, and the entry for it, which then works', async () => {
    const res = await dr(['operator-key', 'carol', 'U0CAROL001']);
    expect(res.code).toBe(0);
    const key = /^ {2}DR_OPERATOR_KEY=([A-Za-z0-9_-]{43})$/m.exec(res.stdout)?.[1] ?? '';
    const entry = /^ {2}(carol:U0CAROL001:[0-9a-f]{64})$/m.exec(res.stdout)?.[1] ?? '';
    expect(Buffer.from(key, 'base64url')).toHaveLength(32);
    expect(entry).toBe(`carol:U0CAROL001:${sha256(key)}`);
    expect(res.stdout.split(key)).toHaveLength(2);
    expect(res.stderr).not.toContain(key);

    const refused = await dr(['run', 'quick'], { DR_OPERATOR_KEY: key });
    expect(refused.code).toBe(1);
    const ran = await dr(['run', 'quick'], { DR_OPERATOR_KEY: key, DR_CLI_OPERATORS: `${OPERATORS},${entry}` });
    expect(ran.code).toBe(0);
    expect(ran.stderr).toContain(`Acting as carol (Slack user U0CAROL001) via cli from ${ORIGIN}.`);
    const run = await engine.store.get(runIdIn(ran.stdout));
    expect(run?.requester).toEqual({ id: 'U0CAROL001', name: 'carol', via: 'cli', osUser: userInfo().username, host: hostname() });
  });

  it('refuses an operator map with a duplicate entry, naming it', async () => {
    const res = await dr(['runs'], { DR_CLI_OPERATORS: `${OPERATORS},alice:U0OTHER001:${sha256(newKey())}` });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('DR_CLI_OPERATORS: entry 3 (alice) repeats the name alice of the entry for alice');
  });

  it('cancels a running run from the terminal', async () => {
    const requested = await dr(['run', 'long-wait', 'seconds=60'], AS_ALICE);
    const runId = runIdIn(requested.stdout);
    await engine.service.approve(runId, { id: 'U0APPROVER1', via: 'slack' });
    await engine.waitForState(runId, ['running']);

    const cancelled = await dr(['cancel', runId, 'wrong', 'region'], AS_ALICE);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(/Cancel requested|is cancelled/);
    const run = await engine.waitForState(runId, ['cancelled']);
    expect(run.decision?.reason).toBe('wrong region');
  });

  it('dry run: prints what would happen, changes nothing, needs no approval', async () => {
    const posts = () => api.requests.filter((r) => r.method === 'POST' && r.path === '/resources').length;
    const before = posts();
    const res = await dr(['run', 'provision', `baseUrl=${api.url}`, '--dry-run'], AS_ALICE);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('(dry run: nothing will change)');
    expect(res.stdout).toContain(`↷ create skipped: would POST ${api.url}/resources`);
    expect(res.stdout).toMatch(/Run r[a-z0-9]{7} succeeded/);
    expect(posts()).toBe(before);
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

  it('--target: lists another target\'s backups, and refuses an unknown target or a command that takes none', async () => {
    const primary = await new FakeKube().start();
    const drill = await new FakeKube().start();
    try {
      primary.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * 3_600_000), ttlHours: 720 });
      drill.addBackup('daily-full-backup-20261124020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 27 * 3_600_000), ttlHours: 720 });
      const runs = (await engine.store.list(1000)).length;
      const env = { KUBECONFIG: primary.writeKubeconfig(), DR_TARGETS: JSON.stringify({ drill: { region: 'us-west-2', kubernetes: { kubeconfig: drill.writeKubeconfig() } } }) };
      const onDrill = await dr(['backups', '--target', 'drill'], env);
      expect(onDrill.code).toBe(0);
      expect(onDrill.stdout).toContain('daily-full-backup-20261124020000');
      expect(onDrill.stdout).not.toContain('daily-full-backup-20261125020000');
      expect((await dr(['backups'], env)).stdout).toContain('daily-full-backup-20261125020000');

      const unknown = await dr(['plan', 'quick', '--target', 'prod-west'], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('There is no target `prod-west`. Targets: `default`, `drill`.');
      // Where a step acts is shown for a step that acts on the target, not for a pause.
      const commands = mkdtempSync(join(tmpdir(), 'cli-where-'));
      writeFileSync(join(commands, 'on-cluster.yaml'), ON_CLUSTER);
      const planned = await dr(['plan', 'on-cluster', '--target=drill'], { ...env, COMMANDS_DIR: commands });
      expect(planned.code).toBe(0);
      expect(planned.stdout).toContain('  1. cluster (eks.wait-cluster): Wait until an EKS cluster is ACTIVE and the bot can use its Kubernetes API\n       where   drill · us-west-2 · its kubeconfig\n');
      expect(planned.stdout).toContain('  2. settle (wait): Pause for a number of seconds\n       wait    wait 1s\n');
      expect(planned.stdout.split('where').length).toBe(2);
      const misplaced = await dr(['runs', '--target', 'drill'], env);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('runs takes no --target (only plan, run, backups do).');
      expect((await engine.store.list(1000)).length).toBe(runs);
    } finally {
      await Promise.all([primary.stop(), drill.stop()]);
    }
  }, 120_000);

  it('status --follow prints every step before the ending; times are UTC to the second', async () => {
    const run = await engine.service.create({ runbookId: 'forty-steps', params: {}, requester: ALICE });
    const following = startCli(['status', run.id, '--follow'], cliEnv());
    await following.printed('run awaiting approval');
    await engine.service.approve(run.id, BOB);
    const res = await following.done;
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    const lastStep = lines.findIndex((l) => l.includes('✔ step-40 succeeded'));
    const firstEnding = lines.findIndex((l) => /\brun succeeded\b|Run \S+ succeeded/i.test(l));
    expect(lastStep).toBeGreaterThan(0);
    expect(firstEnding).toBe(lines.length - 1);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] /);

    const audit = await dr(['audit', run.id]);
    const entries = audit.stdout.trim().split('\n').slice(1);
    expect(audit.stdout).toContain(`Audit of run ${run.id} (forty-steps), ${entries.length} entries:`);
    for (const entry of entries) expect(entry).toMatch(/^ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\S/);
    const status = await dr(['status', run.id]);
    expect(status.stdout).toMatch(/requested by alice \(slack\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/);
  }, 120_000);

  it('writes no JSON log lines among its output unless asked: --verbose to stderr, DR_CLI_LOG_FILE to a file', async () => {
    const quiet = await dr(['run', 'quick'], { ...AS_ALICE, LOG_LEVEL: 'debug' });
    expect(quiet.code).toBe(0);
    expect(`${quiet.stdout}${quiet.stderr}`).not.toMatch(/^\{/m);
    expect(quiet.stderr).toContain('Acting as alice');

    const verbose = await dr(['run', 'quick', '--verbose'], { ...AS_ALICE, LOG_LEVEL: 'debug' });
    expect(verbose.code).toBe(0);
    expect(verbose.stdout).not.toMatch(/^\{/m);
    expect(verbose.stderr).toMatch(/^\{.*"msg":"run created"/m);

    const file = join(mkdtempSync(join(tmpdir(), 'cli-log-')), 'dr.log');
    const logged = await dr(['run', 'quick'], { ...AS_ALICE, DR_CLI_LOG_FILE: file });
    expect(logged.code).toBe(0);
    expect(`${logged.stdout}${logged.stderr}`).not.toMatch(/^\{/m);
    expect(readFileSync(file, 'utf8')).toMatch(/^\{.*"msg":"run created"/m);
    expect(readFileSync(file, 'utf8')).not.toContain(KEY_A);
  }, 120_000);

  it('says there is no such run', async () => {
    const res = await dr(['status', 'rnothere']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('There is no run `rnothere`.');
  });
});
