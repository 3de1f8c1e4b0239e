import { Redis } from 'ioredis';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import { MESSAGE_BLOCKS_LIMIT } from '../../src/slack/limits.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack, readable, type StoredMessage } from '../support/fake-slack.ts';
import { joinChannel } from '../support/incidents.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const ITEMS = 60;

describe('a long checklist: every item can be ticked in Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  const prefix = uniquePrefix();
  let channel = '';

  const checklistMessages = (): StoredMessage[] => [...slack.messages.values()].filter((m) => m.channel === channel && String(m.text).startsWith('During Disaster'));
  const buttonValues = (m: StoredMessage): string[] => [...JSON.stringify(m.blocks ?? []).matchAll(/"value":"(inc-[\w-]+\|checklistDuring\|\d+)"/g)].map((x) => x[1] ?? '');

  beforeAll(async () => {
    const overrides = mkdtempSync(join(tmpdir(), 'templates-'));
    const items = Array.from({ length: ITEMS }, (_, i) => `- [ ] Step ${String(i + 1)}: confirm shard ${String(i + 1)} serves from the DR region`);
    writeFileSync(join(overrides, 'checklist-during.md'), `During Disaster (long runbook)\n\n${items.join('\n')}\n`);
    slack = await new FakeSlack([BOT_TOKEN]).start();
    redis = new Redis(TEST_REDIS_URL);
    bot = await startTestBot({ slack, prefix, env: { TEMPLATES_OVERRIDE_DIR: overrides } });
  });
  afterAll(async () => {
    redis.disconnect();
    await bot.stop();
    await slack.stop();
  });

  it('a 60-item checklist is posted in parts within Slack\'s limits, every item with its own button', async () => {
    await sendSlashCommand(bot.url, { text: 'declare region-outage "Shards lost in us-east-1" --private', channel_id: 'C0GENERAL01', user_id: ALICE, response_url: slack.responseUrl('declare') });
    channel = createdChannelId(await slack.waitFor(() => slack.callsTo('conversations.create')[0]));
    const parts = await slack.waitFor(() => checklistMessages().length === 3 && checklistMessages());
    expect(parts.map((m) => String(m.text))).toEqual([
      'During Disaster (long runbook) (part 1 of 3, items 1–25): 1 of 25 done',
      'During Disaster (long runbook) (part 2 of 3, items 26–50): 0 of 25 done',
      'During Disaster (long runbook) (part 3 of 3, items 51–60): 0 of 10 done',
    ]);
    for (const m of parts) expect(((m.blocks as unknown[] | undefined) ?? []).length).toBeLessThanOrEqual(MESSAGE_BLOCKS_LIMIT);
    // Item 1 was ticked by declaring (no button); every other item has one, once.
    const indexes = parts.flatMap(buttonValues).map((v) => Number(v.split('|')[2]));
    expect(indexes).toEqual(Array.from({ length: ITEMS - 1 }, (_, i) => i + 1));
    for (let i = 1; i <= ITEMS; i++) expect(parts.map((m) => readable(m)).join('\n')).toContain(`Step ${String(i)}: confirm shard ${String(i)} serves`);
  });

  it('the last item ticks from its part, once however often clicked; the timeline records it once', async () => {
    joinChannel(slack, channel, BOB);
    const last = checklistMessages()[2];
    if (!last) throw new Error('the third part of the checklist is missing');
    const value = buttonValues(last).at(-1) ?? '';
    expect(value).toMatch(/\|checklistDuring\|59$/);
    await Promise.all([1, 2].map((n) => sendBlockAction(bot.url, { actionId: 'incident.check', value, userId: BOB, channelId: channel, messageTs: last.ts, responseUrl: slack.responseUrl(`tick-${String(n)}`) })));
    await slack.waitFor(() => String(slack.messageAt(last.ts)?.text).endsWith('1 of 10 done'));
    expect(readable(slack.messageAt(last.ts))).toContain(`~Step 60: confirm shard 60 serves from the DR region~\\n_<@${BOB}> at `);
    const incidentId = value.split('|')[0] ?? '';
    const timeline = await new IncidentStore(redis, prefix).timeline(incidentId);
    expect(timeline.filter((e) => e.text.startsWith('checked "Step 60:'))).toHaveLength(1);
  });
});
