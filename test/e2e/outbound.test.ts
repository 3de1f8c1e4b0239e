/**
 * Through the real bot (HTTP mode, in-process, real Redis, fake Slack): a run
 * whose http.request is answered with a redirect to the instance metadata
 * service, or with credentials in the body, puts none of them into Slack, the
 * audit (`/dr audit`) or the logs. The metadata service is a loopback stand-in
 * (test/support/fake-metadata.ts) that must never be asked.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/runs/model.ts';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FAKE_IMDS_SECRETS, FakeMetadata, FAKE_IMDS_CREDENTIALS } from '../support/fake-metadata.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/outbound/', import.meta.url));

describe('outbound HTTP through the bot: no credentials in Slack or the audit', () => {
  let slack: FakeSlack;
  let api: FakeService;
  let metadata: FakeMetadata;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    api = await new FakeService().start();
    metadata = await new FakeMetadata().start();
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: COMMANDS, HTTP_ALLOWED_TARGETS: '127.0.0.1' } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), api.stop(), metadata.stop()]);
  });
  beforeEach(() => {
    api.reset();
    metadata.requests.length = 0;
  });

  /** Requests the run from Slack and waits for it to end. */
  const runToTheEnd = async (): Promise<Run> => {
    const ack = await sendSlashCommand(bot.url, { text: `run call-service url=${api.url}/resources` });
    expect(ack.status).toBe(200);
    const plan = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => !c.args.thread_ts && /run `r[a-z0-9]{7}`/.test(JSON.stringify(c.args.blocks ?? c.args.text)) && !seen.has(JSON.stringify(c.args))));
    seen.add(JSON.stringify(plan.args));
    const runId = /run `(r[a-z0-9]{7})`/.exec(JSON.stringify(plan.args.blocks ?? plan.args.text))?.[1] ?? '';
    expect(runId).not.toBe('');
    let run = await store.get(runId);
    for (const deadline = Date.now() + 20_000; !run || !['succeeded', 'failed'].includes(run.state); run = await store.get(runId)) {
      if (Date.now() > deadline) throw new Error(`run ${runId} is ${run?.state ?? 'missing'}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The run's message and its thread are updated after the state changes.
    await slack.waitFor(() => slack.replies(typeof plan.result?.ts === 'string' ? plan.result.ts : '').find((m) => /succeeded|failed/.test(String(m.text))), 10_000);
    return run;
  };
  const seen = new Set<string>();

  /** Everything the bot sent to Slack, everything it answered, and its log. */
  const everythingShown = () => JSON.stringify({ calls: slack.calls, responses: slack.responses, logs: bot.logs });
  const expectNoSecrets = (text: string) => {
    for (const secret of FAKE_IMDS_SECRETS) expect(text).not.toContain(secret);
  };

  it('a redirect to the metadata service is reported, not followed', async () => {
    api.failNext('POST /resources', { status: 302, body: JSON.stringify(FAKE_IMDS_CREDENTIALS), headers: { location: `${metadata.url}/latest/meta-data/iam/security-credentials/dr-role` } });
    const run = await runToTheEnd();
    expect(run.state).toBe('failed');
    expect(run.failure?.message).toBe(`POST ${api.url}/resources answered HTTP 302 (redirects are not followed)`);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /resources']);
    expect(metadata.requests).toEqual([]);

    const audit = await sendSlashCommand(bot.url, { text: `audit ${run.id}` });
    const auditText = JSON.stringify(audit.json);
    expect(auditText).toContain('redirects are not followed');
    expectNoSecrets(auditText);
    expectNoSecrets(JSON.stringify(await store.audit(run.id)));
    expectNoSecrets(everythingShown());
    expect(everythingShown()).toContain('redirects are not followed');
  });

  it('credentials in an answer are redacted from the results', async () => {
    api.failNext('POST /resources', { status: 201, body: JSON.stringify(FAKE_IMDS_CREDENTIALS) });
    const run = await runToTheEnd();
    expect(run.state).toBe('succeeded');
    const outputs = run.steps.call?.outputs ?? {};
    expect(outputs.status).toBe(201);
    expect(String(outputs.body)).toContain('"SecretAccessKey":"[redacted]"');

    const audit = await sendSlashCommand(bot.url, { text: `audit ${run.id}` });
    expect(JSON.stringify(audit.json)).toContain('step succeeded');
    expectNoSecrets(JSON.stringify(audit.json));
    expectNoSecrets(JSON.stringify(await store.audit(run.id)));
    expectNoSecrets(everythingShown());
    expect(metadata.requests).toEqual([]);
  });

  it('a URL to the metadata service is refused at plan, in Slack, with how to allow it', async () => {
    const before = (await store.list(100)).length;
    const ack = await sendSlashCommand(bot.url, { text: 'run call-service url=http://2852039166/latest/meta-data/', response_url: slack.responseUrl('refused-plan') });
    expect(ack.status).toBe(200);
    const answer = JSON.stringify(ack.json) + JSON.stringify(await slack.waitFor(() => slack.responses.find((r) => r.id === 'refused-plan')?.body).catch(() => ''));
    expect(answer).toContain('refused the plan');
    expect(answer).toContain('169.254.169.254 is the cloud instance metadata service');
    expect(answer).toContain('only an entry of exactly 169.254.169.254 allows it');
    expect(metadata.requests).toEqual([]);
    expect((await store.list(100)).length).toBe(before);
  });
});
