import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { SHIPPED_COMMANDS } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { jobsQueued } from '../support/redis.ts';
import { sendBlockAction, sendEvent, sendSlashCommand } from '../support/slack-requests.ts';
import { Redis } from 'ioredis';
import { RunStore } from '../../src/runs/store.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const INCIDENT = 'C0INCIDENT1';

/** A plan message's text as a person reads it (blocks flattened). */
function readable(call: RecordedCall | undefined): string {
  return JSON.stringify(call?.args.blocks ?? call?.args.text ?? '');
}

describe('runs from Slack: plan message, approval buttons, live progress', () => {
  let slack: FakeSlack;
  let kube: FakeKube;
  let bot: TestBot;
  let store: RunStore;
  let redis: Redis;
  let responseId = 0;

  let mark = 0;
  const command = (text: string, user = ALICE, channel = INCIDENT) => {
    mark = slack.calls.length;
    return sendSlashCommand(bot.url, { text, user_id: user, channel_id: channel, response_url: slack.responseUrl(`cmd-${++responseId}`) });
  };
  const click = async (actionId: string, runId: string, user: string) => {
    const id = `click-${++responseId}`;
    // A click counts only on the run's own message, as Slack sends it from there.
    let message = (await store.get(runId))?.message;
    for (let i = 0; !message && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      message = (await store.get(runId))?.message;
    }
    const res = await sendBlockAction(bot.url, { actionId, value: runId, userId: user, responseUrl: slack.responseUrl(id), ...(message ? { messageTs: message.ts, channelId: message.channel } : {}) });
    expect(res.status).toBe(200);
    return id;
  };
  const whisperTo = (id: string) => slack.waitFor(() => slack.responses.find((r) => r.id === id)?.body);
  /** The plan message posted for the latest command. */
  const planMessage = (runbookTitle: string) =>
    slack.waitFor(() => slack.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && readable(c).includes(runbookTitle) && !c.args.thread_ts));
  const runIdOf = (call: RecordedCall) => /run `(r[a-z0-9]{7})`/.exec(readable(call))?.[1] ?? '';

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.userGroups.set('sre-oncall', { id: 'S0SREONCALL', users: [CAROL] });
    kube = await new FakeKube().start();
    kube.rolloutMs = 200;
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    copyFileSync(join(SHIPPED_COMMANDS, 'rollback-deployment.yaml'), join(commands, 'rollback-deployment.yaml'));
    writeFileSync(
      join(commands, 'restricted.yaml'),
      'id: restricted\ntitle: Only on-call may approve\napproval: { required: 1, groups: [sre-oncall], expiresIn: 15m }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0.1 } }\n',
    );
    writeFileSync(join(commands, 'short-lived.yaml'), 'id: short-lived\ntitle: Expires quickly\napproval: { required: 1, expiresIn: 1s }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0 } }\n');
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: commands, KUBECONFIG: kube.writeKubeconfig(), SLACK_RUN_CHANNELS: INCIDENT } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), kube.stop()]);
  });
  beforeEach(() => {
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.calls.length = 0;
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.5.0', 'api-gateway:1.6.0'], { changeCauses: ['release 1.5.0', 'release 1.6.0'] });
  });

  it('posts the plan for the team, refuses the requester\'s own approval, runs on a second approval, and reports progress in place', async () => {
    const ack = await command('rollback api-gateway');
    expect(ack.status).toBe(200);
    expect(ack.json).toMatchObject({ response_type: 'ephemeral' });
    expect(String(ack.json?.text)).toContain('Planning *Roll a deployment back');

    const plan = await planMessage('Roll a deployment back');
    expect(plan.args.channel).toBe(INCIDENT);
    const shown = readable(plan);
    expect(shown).toContain('roll back production/api-gateway from revision 2 (api-gateway:1.6.0) to revision 1 (api-gateway:1.5.0, release 1.5.0)');
    expect(shown).toContain('awaiting approval (0 of 1)');
    expect(shown).toContain('"action_id":"run.approve"');
    expect(shown).toContain('"action_id":"run.reject"');
    const runId = runIdOf(plan);
    expect(runId).not.toBe('');

    const selfApproval = await click('run.approve', runId, ALICE);
    expect(String((await whisperTo(selfApproval)).text)).toContain('two-person rule');
    expect((await store.get(runId))?.state).toBe('awaiting_approval');

    await click('run.approve', runId, BOB);
    const finalUpdate = await slack.waitFor(
      () => slack.callsTo('chat.update').filter((c) => c.args.ts === plan.result?.ts).find((c) => readable(c).includes('succeeded')),
      20_000,
    );
    expect(readable(finalUpdate)).toContain('2/2 steps');
    expect(readable(finalUpdate)).not.toContain('"action_id"');
    expect(kube.callsMatching('PATCH', '/deployments/api-gateway')).toHaveLength(1);
    const thread = await slack.waitFor(() => slack.replies(typeof plan.result?.ts === 'string' ? plan.result.ts : '').find((m) => String(m.text).includes('succeeded')));
    expect(String(thread.text)).toMatch(/:large_green_circle: \*Roll a deployment back .*\* \(run `r[a-z0-9]{7}`\) succeeded in/);
    const audit = await store.audit(runId);
    expect(audit.find((a) => a.action === 'approved')?.actor.id).toBe(BOB);
  });

  it('a double-clicked approve starts one run', async () => {
    await command('rollback api-gateway');
    const plan = await planMessage('Roll a deployment back');
    const runId = runIdOf(plan);
    await Promise.all([click('run.approve', runId, BOB), click('run.approve', runId, BOB), click('run.approve', runId, CAROL)]);
    await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.args.ts === plan.result?.ts && readable(c).includes('succeeded')), 20_000);
    const run = await store.get(runId);
    expect(run?.approvals).toHaveLength(1);
    expect(kube.callsMatching('PATCH', '/deployments/api-gateway')).toHaveLength(1);
  });

  it('only the policy\'s user group may approve (resolved through Slack), and a rejection replaces the buttons', async () => {
    await command('run restricted');
    const plan = await planMessage('Only on-call may approve');
    const runId = runIdOf(plan);
    expect(readable(plan)).toContain('Needs 1 approval from members of @sre-oncall other than the requester');

    const refused = await click('run.approve', runId, BOB);
    expect(String((await whisperTo(refused)).text)).toContain('You may not approve runs of restricted: only members of @sre-oncall may. Nothing changed.');
    expect((await store.get(runId))?.approvals).toEqual([]);

    await click('run.reject', runId, CAROL);
    const rejected = await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.args.ts === plan.result?.ts && readable(c).includes('rejected')));
    expect(readable(rejected)).toContain(`Rejected by <@${CAROL}>`);
    expect(readable(rejected)).not.toContain('"action_id"');
    expect(slack.callsTo('usergroups.users.list').length).toBeGreaterThan(0);
  });

  it('an expired request cannot be approved', async () => {
    await command('run short-lived');
    const plan = await planMessage('Expires quickly');
    const runId = runIdOf(plan);
    await new Promise((r) => setTimeout(r, 1_300));
    const late = await click('run.approve', runId, BOB);
    expect(String((await whisperTo(late)).text)).toMatch(/This approval request expired at .*Request the run again/);
    expect((await store.get(runId))?.state).toBe('expired');
  });

  it('refuses changing runbooks outside the configured channels, and bad input, with nothing stored', async () => {
    const before = (await store.list(100)).length;
    const elsewhere = await command('rollback api-gateway', ALICE, 'C0RANDOM01');
    expect(String(elsewhere.json?.text)).toContain("`rollback-deployment` changes production, so it may be requested only in <#C0INCIDENT1> (SLACK_RUN_CHANNELS)");
    const missing = await command('restore db');
    expect(String(missing.json?.text)).toContain('`restore` needs the cluster to restore from. Usage:');
    const both = await command('restore db prod-aurora --latest --to 15m ago');
    expect(String(both.json?.text)).toContain('needs exactly one of --latest, --to <time> or --snapshot <id|latest>');
    const badRevision = await command('rollback api-gateway --to-revision two');
    expect(String(badRevision.json?.text)).toContain('`toRevision`: `two` is not a number');
    const unknown = await command('run rollback-deploymnt');
    expect(String(unknown.json?.text)).toContain('There is no runbook `rollback-deploymnt`. Did you mean `rollback-deployment`?');
    for (const res of [elsewhere, missing, both, badRevision, unknown]) expect(res.json?.response_type).toBe('ephemeral');
    expect((await store.list(100)).length).toBe(before);
    expect(await jobsQueued(bot.prefix, 'runs')).toBeGreaterThanOrEqual(0);
  });

  it('a plan a step refuses answers the requester privately and stores nothing', async () => {
    const before = (await store.list(100)).length;
    await command('rollback api-gateway --to-revision 9');
    const answer = await slack.waitFor(() => slack.responses.find((r) => String(r.body.text).includes('has no revision 9')));
    expect(answer.body.response_type).toBe('ephemeral');
    expect(String(answer.body.text)).toContain('its revisions are: 2 (api-gateway:1.6.0, release 1.6.0); 1 (api-gateway:1.5.0, release 1.5.0)');
    expect((await store.list(100)).length).toBe(before);
  });

  it('lists runbooks and runs, and shows one run, privately', async () => {
    const runbooks = await command('runbooks');
    expect(JSON.stringify(runbooks.json?.blocks)).toContain('*rollback-deployment*');
    const runs = await command('runs');
    expect(runs.json?.response_type).toBe('ephemeral');
    const [latest] = await store.list(1);
    const show = await command(`show ${latest?.id ?? ''}`);
    expect(JSON.stringify(show.json?.blocks)).toContain(`run \`${latest?.id ?? ''}\``);
  });

  it('the App Home tab shows runs awaiting approval', async () => {
    await command('rollback api-gateway');
    const plan = await planMessage('Roll a deployment back');
    const runId = runIdOf(plan);
    const res = await sendEvent(bot.url, { type: 'app_home_opened', user: BOB, channel: 'D0BOBDM001', tab: 'home', event_ts: `${Date.now() / 1000}` });
    expect(res.status).toBe(200);
    const publish = await slack.waitFor(() => slack.callsTo('views.publish').find((c) => c.args.user_id === BOB && JSON.stringify(c.args.view).includes(runId)));
    expect(JSON.stringify(publish.args.view)).toContain('*Awaiting approval*');
    expect(JSON.stringify(publish.args.view)).toContain(`0 of 1 approvals`);
  });
});

