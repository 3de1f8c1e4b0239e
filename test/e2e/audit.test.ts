import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { ALICE, FIXTURE_COMMANDS, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';

describe('/dr audit <run> in Slack', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let engine: TestEngine;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: FIXTURE_COMMANDS } });
    engine = await startTestEngine({ workers: 0, prefix: bot.prefix });
  });
  afterAll(async () => {
    await engine.stop();
    await bot.stop();
    await slack.stop();
  });

  it('shows who did what and when, as an ephemeral message', async () => {
    const run = await engine.service.create({ runbookId: 'quick', params: {}, requester: ALICE });
    await engine.waitForState(run.id, ['succeeded']); // executed by the bot's own worker

    const res = await sendSlashCommand(bot.url, { text: `audit ${run.id}` });
    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    const text = JSON.stringify(res.json?.blocks);
    expect(text).toContain(`Audit: run ${run.id} · Five steps that do nothing`);
    expect(text).toContain(`<@${ALICE.id}> *requested*`);
    expect(text).toContain('*step succeeded* — five');
    expect(text).toContain('*succeeded*');
    expect(text).toContain('state *succeeded*');
  });

  it('says so for an unknown run, and how a run id looks', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'audit rnotthere' });
    expect(res.json?.text).toBe(':warning: There is no run `rnotthere`. List recent runs with `runs`.');
  });

  it('asks for the run id when it is missing', async () => {
    const res = await sendSlashCommand(bot.url, { text: 'audit' });
    expect(res.json?.text).toBe(":warning: `audit` needs the run id (shown on the run's message). Usage: `/dr audit <run>`, e.g. `/dr audit r7k2m9x4`");
  });
});
