import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import type { Run } from '../../src/runs/model.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { runCli } from '../support/cli.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendEvent, sendSlashCommand } from '../support/slack-requests.ts';

const FIXTURE_DRILLS = fileURLToPath(new URL('../fixtures/drills/', import.meta.url));
const CHANNEL = 'C0DRILL001';
const PRIVATE = 'C0DRILLPRV';
const MIN = 60_000;

/** Polls `read` until it gives a value. */
async function until<T>(read: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One sample of a metric in Prometheus text format: its value, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

/**
 * The drill record in the bot (one process, both roles): drills requested
 * with /dr run, executed by its worker, recorded by its drill follower with
 * a report file each in the channel; then /dr drills, the CLI, the App Home
 * and /metrics. INCIDENT_TARGETS gives accidental-deletion an RTO of 100 ms,
 * which slow-drill's waits always exceed.
 */
describe('drills in the bot: /dr drills, the CLI, the App Home, /metrics and the report file', () => {
  let slack: FakeSlack;
  let api: FakeService;
  let bot: TestBot;
  let redis: Redis;
  let runs: RunStore;
  /** The drills in the order they ran. */
  const ran: Run[] = [];

  const command = async (text: string, channel = CHANNEL) => {
    const res = await sendSlashCommand(bot.url, { text, channel_id: channel, user_id: 'U0ALICE001', user_name: 'alice', response_url: slack.responseUrl(`drills-${Date.now()}`) });
    return res;
  };
  const reportOf = (runId: string) => [...slack.files.values()].filter((f) => f.name === `drill-${runId}.md` && f.completed);
  /** Requests a drill in `channel`, waits until it ended and its report is in the channel. */
  const drill = async (text: string, channel = CHANNEL): Promise<Run> => {
    const known = new Set((await runs.list(100)).map((r) => r.id));
    expect(String((await command(text, channel)).json?.text)).toContain('Planning');
    const run = await until(async () => (await runs.list(100)).find((r) => !known.has(r.id)), 10_000, `the run of ${text}`);
    const done = await until(async () => {
      const current = await runs.get(run.id);
      return current && ['succeeded', 'failed', 'cancelled'].includes(current.state) ? current : undefined;
    }, 20_000, `the end of ${run.id}`);
    await slack.waitFor(() => reportOf(done.id)[0], 10_000);
    ran.push(done);
    return done;
  };
  const restore = (minutes: number, checkPath = '/health') => {
    const lostAt = Date.now() - MIN;
    return `run restore-drill baseUrl=${api.url} checkPath=${checkPath} dataAsOf=${new Date(lostAt - minutes * MIN).toISOString()} lostAt=${new Date(lostAt).toISOString()}`;
  };
  const home = async () => {
    const before = slack.callsTo('views.publish').length;
    await sendEvent(bot.url, { type: 'app_home_opened', user: 'U0BOB00001', channel: 'D0HOME0001', tab: 'home', event_ts: `${Date.now() / 1000}` });
    return slack.waitFor(() => slack.callsTo('views.publish').slice(before)[0]);
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.setChannel(PRIVATE, { isPrivate: true });
    api = await new FakeService().start();
    bot = await startTestBot({
      slack,
      env: { COMMANDS_DIR: FIXTURE_DRILLS, HTTP_ALLOWED_TARGETS: '127.0.0.1', INCIDENT_TARGETS: 'accidental-deletion=100ms/1m,data-corruption=1m/10m' },
    });
    redis = new Redis(TEST_REDIS_URL);
    runs = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    redis.disconnect();
    await bot.stop();
    await Promise.all([slack.stop(), api.stop()]);
  });

  it('before any drill: /dr drills, the App Home and the CLI say there is none yet', async () => {
    expect(String((await command('drills')).json?.text)).toContain('No drill has been recorded yet.');
    expect(JSON.stringify((await home()).args.view)).toContain('No drill recorded yet.');
    const cli = await runCli(['drills'], { PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: bot.prefix, COMMANDS_DIR: FIXTURE_DRILLS });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('No drill has been recorded yet.');
  });

  it('each drill that ends is recorded and its report file shared once in its channel', async () => {
    await drill(restore(5));
    await drill('run slow-drill seconds=0.2');
    await drill('run slow-drill seconds=0.6');
    await drill(restore(5, '/down'));
    await drill('run slow-drill seconds=0.2', PRIVATE);
    for (const run of ran) {
      expect(reportOf(run.id)).toHaveLength(1);
      const shared = [...slack.messages.values()].filter((m) => m.files?.some((f) => f.name === `drill-${run.id}.md`));
      expect(shared.map((m) => m.channel)).toEqual([run.origin.channelId]);
    }
    const failed = reportOf(ran[3]?.id ?? '')[0]?.content ?? '';
    expect(failed).toContain('| Result | **FAILED** |');
    expect(failed).toContain('the run failed at step verify');
    expect(failed).toMatch(/UTC: \S+ \(slack\): requested: restore-drill /);
    expect(reportOf(ran[0]?.id ?? '')[0]?.content).toContain('| RPO | 5m (step `measure`) | 10m | within |');
    expect(reportOf(ran[1]?.id ?? '')[0]?.content).toMatch(/\| RTO \| [\d.]+m?s \| 100ms \| missed \|/);
  });

  it('/dr drills: newest first with pass or fail, RTO and RPO against the objectives, the trend per scenario; a private channel\'s drills only there', async () => {
    const answer = await command('drills');
    expect(answer.json?.response_type).toBe('ephemeral');
    const text = JSON.stringify(answer.json?.blocks);
    const [good, slow1, slow2, broken, hidden] = ran.map((r) => r.id);
    const at = (id: string | undefined) => text.indexOf(`\`${id ?? '?'}\``);
    expect([broken, slow2, slow1, good].map(at).every((i) => i > 0)).toBe(true);
    expect(at(broken)).toBeLessThan(at(slow2));
    expect(at(slow2)).toBeLessThan(at(slow1));
    expect(at(slow1)).toBeLessThan(at(good));
    expect(at(hidden)).toBe(-1);
    expect(text).toContain('*Restore test (fixture)*');
    expect(text).toContain('RPO 5m of 10m');
    expect(text).toContain('RTO not achieved (objective 1m)');
    expect(text).toContain('_Why:_ the run failed at step verify');
    expect(text).toMatch(/RTO [\d.]+m?s of 100ms · RPO not measured \(objective 1m\)/);
    expect(text).toContain('_Why:_ RTO missed: recovered in');
    // The trend counts the private channel's drill too (it describes the estate, not the conversation).
    expect(text).toMatch(/:x: \*Accidental deletion\* — last failed [^·]+ · RTO [\d.]+m?s → [\d.]+m?s → [\d.]+m?s, ↓ better than the median of the 2 before \([\d.]+m?s\) · objective 100ms · 0 of the last 3 drills passed/);
    expect(text).toMatch(/:x: \*Data corruption\* — last failed [^·]+ · RTO [\d.]+m?s \(the first that recovered: nothing to compare yet\) · objective 1m · 1 of the last 2 drills passed/);

    expect(JSON.stringify((await command('drills', PRIVATE)).json?.blocks)).toContain(`\`${hidden ?? '?'}\``);
    const one = JSON.stringify((await command('drills accidental-deletion')).json?.blocks);
    expect(one).toContain('Drills: Accidental deletion');
    expect(one).not.toContain(`\`${good ?? '?'}\``);
    expect(String((await command('drills accidental')).json?.text)).toContain('`drills` takes a scenario of the DR plan, not `accidental`');
  });

  it('the CLI lists the same, newest first, with the trend (and the private channel\'s drill: the terminal is no conversation)', async () => {
    const env = { PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: bot.prefix, COMMANDS_DIR: FIXTURE_DRILLS };
    const cli = await runCli(['drills'], env);
    expect(cli.code).toBe(0);
    const [good, , , broken, hidden] = ran.map((r) => r.id);
    const lines = cli.stdout.split('\n');
    const row = (id: string | undefined) => lines.findIndex((l) => l.includes(`  ${id ?? '?'}  `));
    expect(row(hidden)).toBeLessThan(row(broken));
    expect(row(broken)).toBeLessThan(row(good));
    expect(lines[row(good)]).toMatch(/Z {2}PASS {2}r\w+ {2}restore-drill {2}data-corruption {2}RTO [\d.]+m?s of 1m {2}RPO 5m of 10m/);
    expect(lines[row(broken) + 1]).toContain('    why: the run failed at step verify');
    expect(cli.stdout).toMatch(/accidental-deletion: last failed \S+; RTO [\d.]+m?s → [\d.]+m?s → [\d.]+m?s, ↓ better than the median of the 2 before/);

    const limited = await runCli(['drills', 'data-corruption', '--limit', '1'], env);
    expect(limited.stdout).toContain('… and 1 older drill (--limit N shows more)');
    const wrong = await runCli(['drills', 'data-corupton'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('drills: data-corupton is not a scenario of the DR plan (did you mean data-corruption?)');
  });

  it('the App Home shows the last result per scenario; /metrics the last drill\'s RTO, pass and time per scenario', async () => {
    const view = JSON.stringify((await home()).args.view);
    expect(view).toContain('*Drills* (the last result per scenario)');
    expect(view).toMatch(/:x: \*Data corruption\* — failed [^·]+ · RTO not achieved \(objective 1m\) · RPO not measured \(objective 10m\)/);
    expect(view).toMatch(/:x: \*Accidental deletion\* — failed [^·]+ · RTO [\d.]+m?s of 100ms/);
    expect(view).toContain('_Never drilled:_ Single AZ failure, Region-wide outage, Security breach, Complete infrastructure loss');

    const metrics = await (await fetch(`${bot.internalUrl}/metrics`)).text();
    const last = ran.at(-1);
    expect(sample(metrics, 'dr_drill_last_passed', { scenario: 'data-corruption' })).toBe(0);
    expect(sample(metrics, 'dr_drill_last_passed', { scenario: 'accidental-deletion' })).toBe(0);
    // The failed restore did not recover: no RTO series (never a 0 that reads as instant).
    expect(sample(metrics, 'dr_drill_last_rto_seconds', { scenario: 'data-corruption' })).toBeUndefined();
    expect(sample(metrics, 'dr_drill_last_rto_seconds', { scenario: 'accidental-deletion' })).toBeGreaterThan(0.2);
    expect(sample(metrics, 'dr_drill_last_timestamp_seconds', { scenario: 'accidental-deletion' })).toBe((last?.startedAt ?? 0) / 1_000);
    expect(sample(metrics, 'dr_drill_last_passed', { scenario: 'region-outage' })).toBeUndefined();
  });
});
