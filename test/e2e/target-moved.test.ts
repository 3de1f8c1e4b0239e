import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const INCIDENT = 'C0INCIDENT1';
/** The token in the fakes' kubeconfigs: a credential, never shown anywhere. */
const KUBE_TOKEN = 'fake-kube-token-0123456789';

const readable = (call: RecordedCall | undefined) => JSON.stringify(call?.args.blocks ?? call?.args.text ?? '');

/** Resolves with what `look` finds, looking every 50 ms. */
async function until<T>(what: string, look: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await look();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A run is approved on target `drill`; the bot is then restarted with `drill`
 * pointing at production (another account and region, and its kubeconfig now
 * naming production's API server). The restarted worker must not act there:
 * every step on `drill`, the cleanup too, fails naming both places, and the
 * channel and the audit say so.
 */
describe('a target that resolves elsewhere after the approval', () => {
  let slack: FakeSlack;
  let drill: FakeKube;
  let prod: FakeKube;
  let bot: TestBot | undefined;
  let redis: Redis;
  let store: RunStore;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    [slack, drill, prod] = await Promise.all([new FakeSlack([BOT_TOKEN]).start(), new FakeKube().start(), new FakeKube().start()]);
    for (const cluster of [drill, prod]) {
      cluster.addDeployment('production', 'api', ['api:1.0.0']);
      cluster.addDeployment('production', 'worker', ['worker:1.0.0']);
    }
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, prefix);
  });
  afterAll(async () => {
    await bot?.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), drill.stop(), prod.stop()]);
  });

  it('restarted with drill pointing at production: nothing reaches either cluster, the run fails naming both places', async () => {
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(
      join(commands, 'drill-restart.yaml'),
      [
        'id: drill-restart',
        'title: Restart the API in a drill target',
        'params:',
        '  target: { type: target, description: the drill target }',
        "target: '${{ params.target }}'",
        'approval: { required: 1 }',
        'steps:',
        '  - { id: restart, use: k8s.rollout-restart, with: { namespace: production, deployments: [api] } }',
        'always:',
        '  - { id: restart-worker, use: k8s.rollout-restart, with: { namespace: production, deployments: [worker] } }',
        '',
      ].join('\n'),
    );
    // One kubeconfig path for the target throughout: what it names is what changes.
    const kubeconfig = drill.writeKubeconfig();
    const drillTarget = { label: 'Drill', region: 'us-west-2', roleArn: 'arn:aws:iam::222222222222:role/dr-chatops-target', kubernetes: { kubeconfig } };
    const env = (target: object) => ({ COMMANDS_DIR: commands, SLACK_RUN_CHANNELS: INCIDENT, DR_TARGETS: JSON.stringify({ drill: target }), DR_DEFAULT_TARGET: 'drill' });

    // Planned and approved by a bot without a worker: the run waits in the queue.
    bot = await startTestBot({ slack, prefix, role: 'bot', env: env(drillTarget) });
    const ack = await sendSlashCommand(bot.url, { text: 'run drill-restart target=drill', user_id: ALICE, channel_id: INCIDENT, response_url: slack.responseUrl('cmd-1') });
    expect(ack.status).toBe(200);
    const plan = await slack.waitFor(() => slack.calls.find((c) => c.method === 'chat.postMessage' && readable(c).includes('Restart the API in a drill target') && !c.args.thread_ts));
    expect(readable(plan)).toContain('Drill (drill) · us-west-2 · account 222222222222');
    const runId = /run `(r[a-z0-9]{7})`/.exec(readable(plan))?.[1] ?? '';
    const message = await until('the run message', async () => (await store.get(runId))?.message);
    const click = await sendBlockAction(bot.url, { actionId: 'run.approve', value: runId, userId: BOB, responseUrl: slack.responseUrl('click-1'), messageTs: message.ts, channelId: message.channel });
    expect(click.status).toBe(200);
    await until('the approval', async () => ((await store.get(runId))?.state === 'approved' ? true : undefined));
    await bot.stop({ keepData: true });
    bot = undefined;
    const drillCallsAtApproval = drill.calls.length;
    expect(drill.calls.every((c) => c.method === 'GET')).toBe(true);
    expect(prod.calls).toEqual([]);

    // The restart: drill now means production's account, region and cluster (the same kubeconfig path, rewritten).
    copyFileSync(prod.writeKubeconfig(), kubeconfig);
    bot = await startTestBot({ slack, prefix, env: env({ ...drillTarget, region: 'us-east-1', roleArn: 'arn:aws:iam::111111111111:role/dr-chatops-target' }) });
    let run = await until('the run to end', async () => {
      const current = await store.get(runId);
      return current && ['failed', 'succeeded', 'cancelled'].includes(current.state) ? current : undefined;
    });
    expect(run.state).toBe('failed');

    const now = `account 111111111111, region us-east-1, role arn:aws:iam::111111111111:role/dr-chatops-target, Kubernetes API ${prod.url}/`;
    const approved = `account 222222222222, region us-west-2, role arn:aws:iam::222222222222:role/dr-chatops-target, Kubernetes API ${drill.url}/`;
    const refusal = `Target \`drill\` now resolves to ${now}, but the run was approved for ${approved}.`;
    expect(run.failure?.stepId).toBe('restart');
    expect(run.failure?.message).toBe(`${refusal} The configuration changed after the approval: nothing was called there. Plan the run again to act on the new place.; cleanup step restart-worker failed for the same reason`);
    // The cleanup does not act on production either.
    expect(run.steps.restart).toMatchObject({ state: 'failed', attempts: 0 });
    expect(run.steps['restart-worker']).toMatchObject({ state: 'failed', attempts: 0 });
    expect(run.steps['restart-worker']?.error).toContain(refusal);

    // Not one call reached production's cluster, and none reached the drill cluster after the approval.
    expect(prod.calls).toEqual([]);
    expect(drill.calls).toHaveLength(drillCallsAtApproval);

    const audit = await store.audit(runId);
    const refused = audit.filter((a) => a.action === 'step refused');
    expect(refused.map((a) => a.detail?.split(':')[0])).toEqual(['restart', 'restart-worker']);
    expect(refused[0]?.detail).toContain(refusal);
    expect(audit.find((a) => a.action === 'failed')?.detail).toContain(refusal);

    // The channel is told, on the run's message.
    const update = await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.args.ts === message.ts && readable(c).includes('now resolves to')), 20_000);
    const shown = readable(update);
    expect(shown).toContain('account 111111111111');
    expect(shown).toContain('approved for account 222222222222');
    run = (await store.get(runId)) ?? run;
    expect(JSON.stringify(slack.calls)).not.toContain(KUBE_TOKEN);
    expect(JSON.stringify(audit)).not.toContain(KUBE_TOKEN);
    expect(JSON.stringify(run)).not.toContain(KUBE_TOKEN);
  });
});
