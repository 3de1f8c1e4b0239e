import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatuspageClient } from '../../src/statuspage/client.ts';
import { StatuspageOutbox, startStatuspageWorker } from '../../src/statuspage/outbox.ts';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import { postKeyedMessage } from '../../src/slack/post-once.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack, readable } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';

/** Each incident's own channel, as incidents have. */
const channelOf = (incidentId: string): string => `C0${incidentId.replace(/\W/g, '').toUpperCase()}`;

describe('Statuspage warnings in the incident channel: each said once, even when the worker dies right after saying it', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let engine: TestEngine;
  let outbox: StatuspageOutbox;
  let handle: WorkerHandle;
  /** Warnings whose job "dies" once just after Slack took the message. */
  const crashAfter = new Set<string>();

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage('sp-key', 'page001', ['cmpapi0001']).start();
    engine = await startTestEngine({ workers: 0 });
    outbox = new StatuspageOutbox(engine.redis, engine.prefix, engine.logger, 50);
    const web = new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    handle = startStatuspageWorker({
      connection: engine.redis,
      redis: engine.redis,
      prefix: engine.prefix,
      outbox,
      client: new StatuspageClient({ apiUrl: page.url, pageId: 'page001', apiKey: 'sp-key' }),
      warnAfterMs: 0,
      logger: engine.logger,
      onWarning: async (incidentId, key, text) => {
        await postKeyedMessage(web, channelOf(incidentId), `${incidentId}:${key}`, { text });
        const kind = key.split(':')[0] ?? '';
        if (crashAfter.delete(kind)) throw new Error(`simulated crash after warning ${kind}`);
      },
    });
  });
  afterAll(async () => {
    await handle.close(5_000);
    await outbox.close();
    await engine.stop();
    await page.stop();
    await slack.stop();
  });

  /** The incident channel's warnings containing `fragment`. */
  const warnings = (incidentId: string, fragment: string): string[] =>
    [...slack.messages.values()].filter((m) => m.channel === channelOf(incidentId)).map((m) => readable(m)).filter((t) => t.includes(fragment));

  it('a refused update: one warning, and the updates behind it still go out', async () => {
    crashAfter.add('statuspage-refused');
    await outbox.enqueue('inc-refused', { kind: 'create', name: 'Database down', status: 'investigating', body: 'Looking', components: { cmpunknown1: 'major_outage' } });
    await slack.waitFor(() => warnings('inc-refused', 'The status page refused an update').length > 0 && !crashAfter.has('statuspage-refused'), 10_000);
    await outbox.enqueue('inc-refused', { kind: 'create', name: 'Database down', status: 'investigating', body: 'Looking', components: { cmpapi0001: 'major_outage' } });
    await slack.waitFor(() => page.writes.includes('create investigating'), 10_000);
    expect(warnings('inc-refused', 'The status page refused an update')).toHaveLength(1);
  });

  it('Statuspage down, then back: one "not accepted" and one "reachable again", each despite a crash after posting it', async () => {
    crashAfter.add('statuspage-down');
    crashAfter.add('statuspage-back');
    page.down = { status: 503 };
    await outbox.enqueue('inc-down', { kind: 'create', name: 'API errors', status: 'investigating', body: 'Looking', components: { cmpapi0001: 'major_outage' } });
    await slack.waitFor(() => !crashAfter.has('statuspage-down') && page.requests.filter((r) => r.status === 503).length >= 3, 10_000);
    page.down = undefined;
    await slack.waitFor(() => warnings('inc-down', 'Statuspage is reachable again').length > 0 && !crashAfter.has('statuspage-back'), 10_000);
    // Let any (wrongly) repeated job finish before counting.
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings('inc-down', 'The status page has not accepted updates')).toHaveLength(1);
    expect(warnings('inc-down', 'Statuspage is reachable again')).toHaveLength(1);
  });
});
