import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FIXTURE_COMMANDS } from '../support/engine.ts';
import { createdChannelId, FakeSlack } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish } from '../support/incidents.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';

const SP_KEY = 'sp-metrics-key-0123456789';

/** One sample of a metric in Prometheus text format: its value, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('/metrics: what an operator graphs and alerts on', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  const scrape = async () => (await fetch(`${bot.internalUrl}/metrics`)).text();
  const command = (text: string, channel = 'C0OPS00001') => sendSlashCommand(bot.url, { text, channel_id: channel, response_url: slack.responseUrl(`m-${text}`) });

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001']).start();
    bot = await startTestBot({
      slack,
      env: {
        COMMANDS_DIR: FIXTURE_COMMANDS,
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'api:cmpapi0001',
        STATUSPAGE_RETRY_BASE_MS: '50',
        // The declarer (the default user, ALICE) commands; BOB confirms the first public post.
        DR_PUBLISHERS: 'U0BOB00001',
      },
    });
  });
  afterAll(async () => {
    await bot.stop();
    await Promise.all([slack.stop(), page.stop()]);
  });

  it('serves the Prometheus text format', async () => {
    const res = await fetch(`${bot.internalUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE dr_commands_total counter');
    expect(text).toContain('# TYPE dr_command_ack_seconds histogram');
    expect(sample(text, 'dr_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts commands by name and outcome, and times their acknowledgement', async () => {
    await command('help');
    await command('help');
    await command('rollbak x');
    const text = await scrape();
    expect(sample(text, 'dr_commands_total', { command: 'help', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'dr_commands_total', { command: 'invalid', outcome: 'refused' })).toBe(1);
    expect(sample(text, 'dr_command_ack_seconds_count', { command: 'help' })).toBe(2);
    expect(sample(text, 'dr_command_ack_seconds_bucket', { command: 'help', le: '+Inf' })).toBe(2);
  });

  it('counts runs by runbook and outcome, step durations by step type, and shows queue depth', async () => {
    await command('run quick');
    await slack.waitFor(() => slack.callsTo('chat.update').some((c) => JSON.stringify(c.args.blocks ?? '').includes('succeeded')), 15_000);
    let text = await scrape();
    for (let i = 0; i < 50 && sample(text, 'dr_runs_total', { runbook: 'quick', outcome: 'succeeded' }) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await scrape();
    }
    expect(sample(text, 'dr_runs_total', { runbook: 'quick', outcome: 'succeeded' })).toBe(1);
    expect(sample(text, 'dr_step_duration_seconds_count', { step: 'wait', outcome: 'succeeded' })).toBe(5);
    expect(sample(text, 'dr_queue_jobs', { queue: 'runs', state: 'waiting' })).toBe(0);
    expect(sample(text, 'dr_queue_jobs', { queue: 'runs', state: 'failed' })).toBe(0);
  });

  it('counts Slack errors and rate limits, Statuspage requests and retries, and incident recovery against the RTO', async () => {
    slack.failNext('pins.add', { error: 'not_pinnable' });
    slack.failNext('conversations.create', { status: 429, retryAfter: 1 });
    page.down = { status: 503 };
    await command('declare single-az-failure "AZ lost"', 'C0GENERAL01');
    const created = await slack.waitFor(() => slack.callsTo('conversations.create').find((c) => c.result?.ok === true), 15_000);
    const channel = createdChannelId(created);
    await pressPublish(bot.url, slack, channel, 'U0BOB00001');
    await slack.waitFor(() => page.requests.filter((r) => r.status === 503).length >= 2 && page.requests, 10_000);
    page.down = undefined;
    await slack.waitFor(() => page.writes.length >= 1 && page.writes, 15_000);
    // The pin failed once; the setup job's retry pins it.
    await slack.waitFor(() => slack.pins.size === 1, 15_000);
    await command('status resolved "AZ back"', channel);
    let text = await scrape();
    for (let i = 0; i < 50 && sample(text, 'dr_incident_rto_total', { scenario: 'single-az-failure' }) === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await scrape();
    }
    expect(sample(text, 'dr_slack_rate_limited_total', { method: 'conversations.create' })).toBe(1);
    // The failed pin: a Slack error, and a failed attempt of the setup job.
    expect(sample(text, 'dr_slack_api_errors_total', { method: 'pins.add', error: 'not_pinnable' })).toBe(1);
    expect(sample(text, 'dr_job_failures_total', { queue: 'incidents' })).toBeGreaterThanOrEqual(1);

    expect(sample(text, 'dr_statuspage_requests_total', { outcome: 'server_error' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'dr_statuspage_requests_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'dr_statuspage_retries_total')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'dr_incident_rto_total', { scenario: 'single-az-failure', rto: 'met' })).toBe(1);
    expect(sample(text, 'dr_incident_recovery_seconds_count', { scenario: 'single-az-failure' })).toBe(1);
  });
});
