import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { startLoopback } from '../support/loopback.ts';
import { type CliResult, newOperatorKey, runCli, sha256 } from '../support/cli.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const TOKEN = 'xoxb-cli-check-token';
const KEY_A = newOperatorKey();
const KEY_B = newOperatorKey();
const KEY_C = newOperatorKey();
/** carol's entry names a Slack user the workspace does not have. */
const GONE = 'U0GONE0001';
const OPERATORS = `alice:${ALICE.id}:${sha256(KEY_A)},bob:${BOB.id}:${sha256(KEY_B)},carol:${GONE}:${sha256(KEY_C)}`;

/** The CLI asks Slack whether the operator a key maps to may still act, as the bot's guard does. */
describe('the CLI checks its operator with Slack when Slack answers', () => {
  let engine: TestEngine;
  let slack: FakeSlack;

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: engine.prefix,
    COMMANDS_DIR: FIXTURE_COMMANDS,
    DR_CLI_OPERATORS: OPERATORS,
    DR_APPROVERS: `${ALICE.id},${BOB.id}`,
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_API_URL: slack.apiUrl,
    ...extra,
  });
  const dr = (args: string[], key: string, extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { ...env(extra), DR_OPERATOR_KEY: key });
  const runIdIn = (text: string): string => /Run (r[a-z0-9]{7}) requested/.exec(text)?.[1] ?? '';
  const runCount = async () => (await engine.store.list(1000)).length;

  beforeAll(async () => {
    engine = await startTestEngine();
    slack = await new FakeSlack([TOKEN]).start();
  });
  afterAll(async () => {
    await engine.stop();
    await slack.stop();
  });

  it('refuses a deactivated, guest, foreign or unknown operator, saying why, and changes nothing', async () => {
    const run = await engine.service.create({ runbookId: 'forty-steps', params: {}, requester: ALICE });
    const before = { runs: await runCount(), audit: await engine.store.audit(run.id) };

    slack.addUser(BOB.id, { name: 'bob', deleted: true });
    const deactivated = await dr(['approve', run.id], KEY_B);
    expect(deactivated.code).toBe(1);
    expect(deactivated.stderr).toContain(`Slack says the Slack user ${BOB.id} may not act: Your Slack account is deactivated.`);
    expect(deactivated.stderr).toContain('`approve` is refused for bob: Slack no longer lets that person act, so their key does not either. Nothing changed.');

    slack.addUser(ALICE.id, { name: 'alice', is_restricted: true });
    const guest = await dr(['run', 'quick'], KEY_A);
    expect(guest.code).toBe(1);
    expect(guest.stderr).toContain('Guests cannot use DR ChatOps');

    slack.addUser(ALICE.id, { name: 'alice', team_id: 'T0ELSEWHERE' });
    const foreign = await dr(['cancel', run.id], KEY_A);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain('You are a member of another organisation');

    const unknown = await dr(['run', 'quick'], KEY_C);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`Slack does not know the Slack user ${GONE} that DR_CLI_OPERATORS maps this key to (user_not_found)`);

    for (const res of [deactivated, guest, foreign, unknown]) expect(res.stderr).not.toContain('Acting as');
    expect(await runCount()).toBe(before.runs);
    expect(await engine.store.audit(run.id)).toEqual(before.audit);
    expect((await engine.store.get(run.id))?.state).toBe('awaiting_approval');

    // Back to full members: bob may approve, and nothing says the check was skipped.
    slack.addUser(ALICE.id, { name: 'alice' });
    slack.addUser(BOB.id, { name: 'bob' });
    const approved = await dr(['approve', run.id], KEY_B);
    expect(approved.code).toBe(0);
    expect(approved.stderr).not.toContain('Slack could not be asked');
    expect(slack.callsTo('users.info').map((c) => c.args.user)).toContain(BOB.id);
    await engine.waitForState(run.id, ['succeeded']);
    expect((await engine.store.audit(run.id)).map((e) => e.action)).not.toContain('not checked with Slack');
  }, 180_000); // seven CLI processes, each loading the AWS and Kubernetes clients: slow on a loaded machine

  it('goes on when Slack does not answer or rejects the token, and says so on stderr and in the audit', async () => {
    const closed = await startLoopback(() => Promise.resolve());
    const closedUrl = `${closed.url}/api/`;
    await closed.stop();
    const cases: { why: string; extra?: Record<string, string>; fail?: () => void; reason: string }[] = [
      { why: 'no token', extra: { SLACK_BOT_TOKEN: '' }, reason: 'no SLACK_BOT_TOKEN is set' },
      { why: 'HTTP 503', fail: () => { slack.failNext('users.info', { status: 503 }); }, reason: 'HTTP 503' },
      { why: 'rate limited', fail: () => { slack.failNext('users.info', { status: 429, retryAfter: 60 }); }, reason: 'rate limited' },
      { why: 'no answer in time', fail: () => { slack.failNext('auth.test', { delayMs: 8_000 }); }, reason: 'no answer: timed out without an answer' },
      { why: 'refused connection', extra: { SLACK_API_URL: closedUrl }, reason: 'no answer: ECONNREFUSED' },
      { why: 'token revoked', fail: () => { slack.failNext('auth.test', { error: 'token_revoked' }); }, reason: 'Slack rejected SLACK_BOT_TOKEN (token_revoked): replace it' },
    ];
    for (const c of cases) {
      c.fail?.();
      const res = await dr(['run', 'quick'], KEY_A, c.extra);
      expect(res.code, c.why).toBe(0);
      expect(res.stderr, c.why).toContain(`Slack could not be asked whether alice may still act (${c.reason}): going on with DR_CLI_OPERATORS alone`);
      const runId = runIdIn(res.stdout);
      const entry = (await engine.store.audit(runId)).find((e) => e.action === 'not checked with Slack');
      expect(entry, c.why).toMatchObject({ actor: { id: ALICE.id, name: 'alice', via: 'cli' }, detail: `Slack could not be asked: ${c.reason}` });
    }
    const audit = await runCli(['audit', runIdIn((await dr(['run', 'quick'], KEY_A, { SLACK_BOT_TOKEN: '' })).stdout)], env());
    expect(audit.stdout).toMatch(/alice U0ALICE001 via cli \(\S+@\S+\) {2}not checked with Slack — Slack could not be asked: no SLACK_BOT_TOKEN is set/);
  }, 300_000);

  it('asks Slack which user groups the operator is in, for requesters and approvers named by group', async () => {
    slack.userGroups.set('sre-leads', { id: 'S0SRELEADS', users: [ALICE.id] });
    slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [BOB.id] });
    const byGroup = { DR_REQUESTERS: '@sre-leads', DR_APPROVERS: '@sre-oncall' };
    const requested = await dr(['run', 'forty-steps'], KEY_A, byGroup);
    expect(requested.stderr).not.toContain('Nothing was requested');
    expect(requested.code).toBe(0);
    const runId = runIdIn(requested.stdout);

    // Slack down: bob's group cannot be proven, so the approval is refused, saying why.
    const unproven = await dr(['approve', runId], KEY_B, { ...byGroup, SLACK_BOT_TOKEN: '' });
    expect(unproven.code).toBe(1);
    expect(unproven.stderr).toContain('the CLI cannot ask Slack which user groups you are in');
    expect((await engine.store.get(runId))?.approvals).toEqual([]);

    const approved = await dr(['approve', runId], KEY_B, byGroup);
    expect(approved.stderr).not.toContain('may not');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`Approved: run ${runId} starts now.`);
    await engine.waitForState(runId, ['succeeded']);
  }, 180_000);
});
