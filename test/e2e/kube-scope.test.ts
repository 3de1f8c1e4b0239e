import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { SHIPPED_COMMANDS } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { sendSlashCommand } from '../support/slack-requests.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

const HOUR = 3_600_000;
const ALICE = 'U0ALICE001';
const CHANNEL = 'C0INCIDENT1';
const SYSTEM_PASSWORD = 'kube-system-secret-never-touched';

/**
 * The blast radius from Slack: a signed `/dr run` naming kube-system (or a
 * deployment outside K8S_ALLOWED_DEPLOYMENTS) is refused while planning, in an
 * answer only the requester sees, naming the limit; no run is stored, no plan
 * is posted, and nothing in the cluster or the database is changed.
 */
describe('Kubernetes allow-lists, end to end from Slack', () => {
  let slack: FakeSlack;
  let kube: FakeKube;
  let rds: FakeRds;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;
  let n = 0;

  const command = async (text: string) => {
    const id = `scope-${++n}`;
    const mark = slack.calls.length;
    const ack = await sendSlashCommand(bot.url, { text, user_id: ALICE, channel_id: CHANNEL, response_url: slack.responseUrl(id) });
    const answer = await slack.waitFor(() => slack.responses.find((r) => r.id === id)?.body, 15_000);
    return { ack, answer, callsAfter: () => slack.calls.slice(mark) };
  };
  const kubeWrites = () => kube.calls.filter((c) => c.method !== 'GET');

  beforeAll(async () => {
    fakeAwsCredentials();
    slack = await new FakeSlack([BOT_TOKEN]).start();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 35 * 24 * HOUR), latest: new Date(Date.now() - 60_000), writerClass: 'db.r6g.xlarge' });
    kube.addSecret('kube-system', 'database-credentials', { host: 'etcd.internal', password: SYSTEM_PASSWORD });
    kube.addDeployment('kube-system', 'coredns', ['coredns:1.11.3']);
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password: 'pw' });
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0']);
    kube.addDeployment('production', 'cron-runner', ['cron-runner:0.9.0']);
    bot = await startTestBot({
      slack,
      env: {
        COMMANDS_DIR: SHIPPED_COMMANDS,
        KUBECONFIG: kube.writeKubeconfig(),
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_RDS: rds.url,
        // Namespaces stay at the default (*, system namespaces excluded); deployments are limited.
        K8S_ALLOWED_DEPLOYMENTS: 'api-*',
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), rds.stop(), kube.stop()]);
  });

  it('restore-database-pitr with namespace=kube-system: an ephemeral refusal naming the limit; nothing stored, posted or patched', async () => {
    const { ack, answer, callsAfter } = await command('run restore-database-pitr cluster=prod-aurora namespace=kube-system healthUrl=http://127.0.0.1:1/health');
    expect(ack.status).toBe(200);
    expect(ack.json).toMatchObject({ response_type: 'ephemeral' });

    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    const text = String(answer.text);
    expect(text).toContain('Step `point-apps` (k8s.update-secret) refused the plan');
    expect(text).toContain('namespace kube-system is a system namespace, refused by K8S_ALLOWED_NAMESPACES=*');
    expect(text).toContain('add kube-system to K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces)');

    expect(await store.list(10)).toEqual([]);
    expect(callsAfter().filter((c) => c.method === 'chat.postMessage')).toEqual([]);
    // The steps refused before asking the API anything about kube-system.
    expect(kube.calls.filter((c) => c.path.includes('/namespaces/kube-system'))).toEqual([]);
    expect(kubeWrites()).toEqual([]);
    expect(kube.secretValue('kube-system', 'database-credentials', 'password')).toBe(SYSTEM_PASSWORD);
    expect(rds.calls.filter((c) => !c.action.startsWith('Describe'))).toEqual([]);
  });

  it('deployments=* in production finds one outside K8S_ALLOWED_DEPLOYMENTS: refused, naming it and the setting', async () => {
    const { answer, callsAfter } = await command('run restore-database-pitr cluster=prod-aurora namespace=production healthUrl=http://127.0.0.1:1/health');
    const text = String(answer.text);
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    expect(text).toContain('Step `restart` (k8s.rollout-restart) refused the plan');
    expect(text).toContain(
      'deployment production/cron-runner is not allowed by K8S_ALLOWED_DEPLOYMENTS=api-*; to allow it, add cron-runner or production/cron-runner to K8S_ALLOWED_DEPLOYMENTS (kubernetes.allowedDeployments)',
    );
    expect(await store.list(10)).toEqual([]);
    expect(callsAfter().filter((c) => c.method === 'chat.postMessage')).toEqual([]);
    expect(kubeWrites()).toEqual([]);
    expect(rds.calls.filter((c) => !c.action.startsWith('Describe'))).toEqual([]);
  });
});
