import { WebClient } from '@slack/web-api';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { processPing } from '../../src/slack/ping-job.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeSlack } from '../support/fake-slack.ts';

/** A BullMQ job as the worker hands it over: only what processPing reads. */
const job = (id: string, attemptsMade: number) => ({ id, attemptsMade, data: { channelId: 'C0PING0001', userId: 'U0ALICE001', requestedAt: Date.now() } }) as unknown as Job;

describe('/dr ping answers once, even when its job runs again', () => {
  let slack: FakeSlack;
  let client: WebClient;
  const deps = () => ({ slack: client, logger: createLogger({ level: 'silent' }), workerName: 'worker-1' });
  const answers = () => [...slack.messages.values()].filter((m) => m.channel === 'C0PING0001');

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    client = new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
  });
  afterAll(async () => {
    await slack.stop();
  });

  it('a job retried after its answer was posted (the worker stopped before finishing it) finds the answer and posts nothing', async () => {
    const first = await processPing(job('ping-1', 0), deps());
    expect(answers()).toHaveLength(1);
    const retried = await processPing(job('ping-1', 1), deps());
    expect(retried).toEqual(first);
    expect(answers()).toHaveLength(1);
  });

  it('a retried job whose first attempt never reached Slack posts its answer', async () => {
    const before = answers().length;
    await processPing(job('ping-2', 1), deps());
    expect(answers()).toHaveLength(before + 1);
  });
});
