import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecoveryReport } from '../../src/reports/recovery.ts';
import type { Run } from '../../src/runs/model.ts';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { runCli } from '../support/cli.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

const FIXTURE_REPORTS = fileURLToPath(new URL('../fixtures/reports/', import.meta.url));
const CHANNEL = 'C0RECOVER1';
const PRIVATE = 'C0RECOVPRV';
const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const MIN = 60_000;

async function until<T>(read: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The recovery report in the bot (one process, both roles): a changing run
 * requested with /dr, approved by a second person with the button, carried
 * out by the worker; its report file posted once by the follower; then
 * `/dr report` (privately and as a file, only where the run may be seen) and
 * the CLI's Markdown and JSON export. INCIDENT_TARGETS: data-corruption RTO
 * 1m, RPO 10m.
 */
describe('recovery reports in the bot: the file after the run, /dr report and the CLI export', () => {
  let slack: FakeSlack;
  let api: FakeService;
  let bot: TestBot;
  let redis: Redis;
  let runs: RunStore;
  let asked = 0;
  let done: Run;

  const command = (text: string, channel = CHANNEL, user = ALICE) =>
    sendSlashCommand(bot.url, { text, channel_id: channel, user_id: user, user_name: user === ALICE ? 'alice' : 'bob', response_url: slack.responseUrl(`report-${String(++asked)}`) });
  const files = (runId: string) => [...slack.files.values()].filter((f) => f.name === `recovery-${runId}.md` && f.completed);
  const cliEnv = () => ({ PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: bot.prefix, COMMANDS_DIR: FIXTURE_REPORTS, INCIDENT_TARGETS: 'data-corruption=1m/10m' });
  /** Requests `text` in `channel`; bob approves it with the button when it needs approval; resolves once it ended. */
  const request = async (text: string, channel = CHANNEL): Promise<Run> => {
    const known = new Set((await runs.list(100)).map((r) => r.id));
    expect(String((await command(text, channel)).json?.text)).toContain('Planning');
    const run = await until(async () => (await runs.list(100)).find((r) => !known.has(r.id) && r.message), 10_000, `the run of ${text}`);
    if (run.state === 'awaiting_approval') {
      const res = await sendBlockAction(bot.url, { actionId: 'run.approve', value: run.id, userId: BOB, responseUrl: slack.responseUrl(`approve-${run.id}`), messageTs: run.message?.ts ?? '', channelId: run.message?.channel ?? channel });
      expect(res.status).toBe(200);
    }
    return until(async () => {
      const current = await runs.get(run.id);
      return current && ['succeeded', 'failed', 'cancelled'].includes(current.state) ? current : undefined;
    }, 20_000, `the end of ${run.id}`);
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.setChannel(PRIVATE, { isPrivate: true });
    api = await new FakeService().start();
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: FIXTURE_REPORTS, HTTP_ALLOWED_TARGETS: '127.0.0.1', INCIDENT_TARGETS: 'data-corruption=1m/10m' } });
    redis = new Redis(TEST_REDIS_URL);
    runs = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    redis.disconnect();
    await bot.stop();
    await Promise.all([slack.stop(), api.stop()]);
  });

  it('a changing run that ends gets its report file once in its channel; a read-only run and a dry run get none', async () => {
    done = await request(`run recover-service baseUrl=${api.url} dataAsOf=${new Date(Date.now() - 5 * MIN).toISOString()}`);
    expect(done.state).toBe('succeeded');
    await slack.waitFor(() => files(done.id)[0], 10_000);
    const look = await request(`run look-at-service baseUrl=${api.url}`);
    const dry = await request(`run recover-service baseUrl=${api.url} dataAsOf=${new Date(Date.now() - 5 * MIN).toISOString()} --dry-run`);
    expect(look.state).toBe('succeeded');
    expect(dry.dryRun).toBe(true);
    // The follower had every end: a report for either would be there by now, as the first one was.
    await until(async () => ((await redis.hlen(`${bot.prefix}:reports:pending`)) === 0 ? true : undefined), 10_000, 'no report pending');
    expect(files(done.id)).toHaveLength(1);
    expect(files(look.id)).toHaveLength(0);
    expect(files(dry.id)).toHaveLength(0);
    const shared = [...slack.messages.values()].filter((m) => m.files?.some((f) => f.name.startsWith('recovery-')));
    expect(shared.map((m) => m.channel)).toEqual([CHANNEL]);
    expect(files(done.id)[0]?.content).toMatch(/\| Recovery time \(RTO\) \| [\d.]+m?s \| 1m \| within \|/);
    expect(files(done.id)[0]?.content).toContain('| Data loss (RPO) | 5m | 10m | within |');

    const refused = String((await command(`report ${look.id}`)).json?.text);
    expect(refused).toContain(`Run \`${look.id}\` (look-at-service) needed no approval: it is read-only and has no recovery report.`);
    expect(String((await command(`report ${dry.id}`)).json?.text)).toContain('was a dry run: it changed nothing');
  });

  it('/dr report <run>: privately, the outcome, recovery time against the RTO, data loss, who approved, what changed', async () => {
    const answer = await command(`report ${done.id}`);
    expect(answer.json?.response_type).toBe('ephemeral');
    const text = String(answer.json?.text);
    expect(text).toMatch(/Recovery report: \*Recover the &lt;service&gt; \*now\* \(fixture\)\* \(`r\w+`\) succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 1m: within\); data loss 5m \(RPO 10m: within\)/);
    const at = (ms: number | undefined) => `${new Date(ms ?? 0).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    const approval = done.approvals[0];
    expect(approval?.by.id).toBe(BOB);
    expect(text).toContain(`Requested by ${done.requester.name ?? '?'} at ${at(done.createdAt)}; approved by ${approval?.by.name ?? '?'} at ${at(approval?.at)}.`);
    expect(text).toContain('• `verify` Check the service answers');
    expect(text).toContain(`\`/dr report ${done.id} file\``);
  });

  it('/dr report <run> file shares the Markdown here; a private channel\'s run is reported only there', async () => {
    expect(String((await command(`report ${done.id} file`)).json?.text)).toContain('Sharing the recovery report');
    await slack.waitFor(() => (files(done.id).length === 2 ? true : undefined), 10_000);
    const hidden = await request(`run recover-service baseUrl=${api.url} dataAsOf=${new Date(Date.now() - 5 * MIN).toISOString()}`, PRIVATE);
    await slack.waitFor(() => files(hidden.id)[0], 10_000);
    expect(String((await command(`report ${hidden.id}`)).json?.text)).toContain(`There is no run \`${hidden.id}\``);
    expect(String((await command(`report ${hidden.id}`, PRIVATE)).json?.text)).toContain('Recovery report:');
    expect(String((await command('report r7k2m9x4 pdf')).json?.text)).toContain('`report` takes a run id and, to share it as a file here, `file`');
  });

  it('the CLI exports it as Markdown and as JSON with its numbers', async () => {
    const md = await runCli(['report', done.id], cliEnv());
    expect(md.code).toBe(0);
    expect(md.stdout).toContain('# Recovery report: Recover the \\<service\\> \\*now\\* (fixture)');
    expect(md.stdout).toContain('| Data loss (RPO) | 5m | 10m | within |');

    const json = await runCli(['report', done.id, '--json'], cliEnv());
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as RecoveryReport;
    const verifyEnd = done.steps.verify?.finishedAt ?? 0;
    expect(report).toMatchObject({ runId: done.id, runbookId: 'recover-service', outcome: 'succeeded', scenario: { id: 'data-corruption', title: 'Data corruption' } });
    expect(report.requestedBy).toMatchObject({ id: ALICE, at: done.createdAt });
    expect(report.approvedBy).toEqual([expect.objectContaining({ id: BOB, at: done.approvals[0]?.at })]);
    expect(report.recoveryTime).toEqual({ fromAt: done.createdAt, until: 'health-check', untilAt: verifyEnd, stepId: 'verify', achievedMs: verifyEnd - done.createdAt, objectiveMs: MIN, withinObjective: true });
    expect(report.rpo).toEqual({ achievedMs: 5 * MIN, source: 'measured', stepId: 'measure', objectiveMs: 10 * MIN, withinObjective: true });
    expect(report.steps.map((s) => [s.stepId, s.state, s.durationMs])).toEqual(done.plan.map((p) => [p.stepId, 'succeeded', (done.steps[p.stepId]?.finishedAt ?? 0) - (done.steps[p.stepId]?.startedAt ?? 0)]));
    expect(report.changed.map((c) => c.stepId)).toEqual(['restore', 'verify', 'measure', 'cleanup']);

    const wrong = await runCli(['runs', '--json'], cliEnv());
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('runs takes no --json (only report does).');
  });
});
