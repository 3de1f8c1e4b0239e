import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { A0, B0, resetAzEstate, WEB } from '../support/az-estate.ts';
import { SHIPPED_COMMANDS } from '../support/engine.ts';
import { FakeArcZonalShift } from '../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../support/fake-ec2.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { FakeSlack, type RecordedCall } from '../support/fake-slack.ts';
import { jobsQueued, TEST_REDIS_URL } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const ALICE = 'U0ALICE001';
const CHANNEL = 'C0INCIDENT1';

function readable(call: RecordedCall | undefined): string {
  return JSON.stringify(call?.args.blocks ?? call?.args.text ?? '');
}

/**
 * `/dr evacuate` through the real bot (signed slash commands, the fake Slack)
 * on the shipped runbooks, planned against the zonal shift, EC2, RDS and
 * Kubernetes fakes: the zone by name becomes a run of az-evacuate (or, with
 * --restore, az-restore); an AZ id is refused privately with nothing stored or queued.
 */
describe('/dr evacuate: the single AZ failure from Slack', () => {
  let slack: FakeSlack;
  let arc: FakeArcZonalShift;
  let ec2: FakeEc2;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;
  let responses = 0;
  let mark = 0;

  const command = (text: string) => {
    mark = slack.calls.length;
    return sendSlashCommand(bot.url, { text, user_id: ALICE, channel_id: CHANNEL, response_url: slack.responseUrl(`evacuate-${String(++responses)}`) });
  };
  const postedSince = (title: string) => slack.waitFor(() => slack.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && !c.args.thread_ts && readable(c).includes(title)), 20_000);
  const runOf = async (call: RecordedCall) => {
    const id = /run `(r[a-z0-9]{7})`/.exec(readable(call))?.[1] ?? '';
    return store.get(id);
  };

  beforeAll(async () => {
    fakeAwsCredentials();
    const key = { id: process.env.AWS_ACCESS_KEY_ID ?? '', secret: process.env.AWS_SECRET_ACCESS_KEY ?? '' };
    [slack, arc, ec2, rds, kube, api] = await Promise.all([new FakeSlack([BOT_TOKEN]).start(), new FakeArcZonalShift().start(), new FakeEc2().start(), new FakeRds().start(), new FakeKube().start(), new FakeService().start()]);
    arc.knownSecrets.set(key.id, key.secret);
    ec2.knownSecrets.set(key.id, key.secret);
    resetAzEstate({ arc, ec2, rds, kube }, { nodes: [A0, B0] });
    bot = await startTestBot({
      slack,
      env: {
        COMMANDS_DIR: SHIPPED_COMMANDS,
        SLACK_RUN_CHANNELS: CHANNEL,
        HTTP_ALLOWED_TARGETS: '127.0.0.1',
        DR_TARGETS: JSON.stringify({ prod: { region: 'us-east-1', endpoints: { arczonalshift: arc.url, ec2: ec2.url, rds: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } }),
        DR_DEFAULT_TARGET: 'prod',
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), arc.stop(), ec2.stop(), rds.stop(), kube.stop(), api.stop()]);
  });

  it('refuses an AZ id where the zone’s name belongs, privately, with nothing stored or queued', async () => {
    for (const text of [`evacuate use1-az1 resources=${WEB} healthUrl=${api.url}/health`, `evacuate --restore use1-az1 resources=${WEB}`]) {
      const ack = await command(text);
      expect(ack.status).toBe(200);
      expect(ack.json).toMatchObject({ response_type: 'ephemeral' });
      expect(String(ack.json?.text)).toContain('`evacuate` takes the zone by name: `use1-az1` must be an AZ name such as us-east-1a (the node label topology.kubernetes.io/zone), not an AZ id such as use1-az1');
    }
    expect(await store.list()).toEqual([]);
    expect(await jobsQueued(bot.prefix, 'runs')).toBe(0);
    expect(slack.callsTo('chat.postMessage')).toEqual([]);
  });

  it('plans az-evacuate for the zone by name, its id pinned; --dry-run plans it without approval; --restore plans az-restore', async () => {
    const ack = await command(`evacuate us-east-1a resources=${WEB} healthUrl=${api.url}/health drain=true`);
    expect(ack.status).toBe(200);
    const plan = await postedSince('Evacuate an Availability Zone');
    expect(plan.args.channel).toBe(CHANNEL);
    expect(readable(plan)).toContain('move traffic away from us-east-1a (use1-az1)');
    expect(readable(plan)).toContain('awaiting approval (0 of 1)');
    const run = await runOf(plan);
    expect(run).toMatchObject({ runbookId: 'az-evacuate', state: 'awaiting_approval', params: { zone: 'us-east-1a', resources: WEB, drain: true } });
    expect(run?.plan.find((p) => p.stepId === 'shift')?.pinned).toEqual({ zone: 'use1-az1' });

    await command(`evacuate us-east-1a resources=${WEB} healthUrl=${api.url}/health --dry-run`);
    const dry = await postedSince('Dry run: Evacuate an Availability Zone');
    expect((await runOf(dry))?.dryRun).toBe(true);

    await command(`evacuate --restore us-east-1a resources=${WEB}`);
    const restore = await postedSince('Bring an evacuated Availability Zone back');
    expect(await runOf(restore)).toMatchObject({ runbookId: 'az-restore', state: 'awaiting_approval', params: { zone: 'us-east-1a', resources: WEB } });
    // Plans only: nothing was shifted.
    expect(arc.callsTo('StartZonalShift')).toEqual([]);
  });
});
