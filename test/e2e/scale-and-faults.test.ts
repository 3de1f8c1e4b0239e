import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN } from '../support/bot.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { createdChannelId, FakeSlack } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish } from '../support/incidents.ts';
import { type BotProcess, spawnBot } from '../support/process.ts';
import { freePort, LocalRedisCluster } from '../support/redis-cluster.ts';
import { SIGNING_SECRET, sendSlashCommand } from '../support/slack-requests.ts';

const HOUR = 3_600_000;
const SP_KEY = 'sp-chaos-key-0123456789';

/** A multi-step recovery touching AWS, Kubernetes and an HTTP API, each step's side effect countable. */
const RUNBOOK = `
id: chaos
title: Restore, provision, restart, notify
scenario: data-corruption
params:
  baseUrl: { type: string, pattern: 'http://127\\.0\\.0\\.1:\\d+' }
  deployment: { type: string, pattern: 'app-\\d+' }
approval: { required: 0 }
steps:
  - id: restore
    use: rds.restore-pitr
    with: { source: prod-aurora, to: latest }
    retries: 10
  - id: create
    use: http.request
    with:
      method: POST
      url: '\${{ params.baseUrl }}/resources'
      body: { name: 'res-\${{ run.id }}' }
    retries: 10
  - id: pause
    use: wait
    with: { seconds: 0.5 }
  - id: restart
    use: k8s.rollout-restart
    with: { namespace: production, deployments: ['\${{ params.deployment }}'] }
    retries: 10
  - id: notify
    use: http.request
    with:
      method: POST
      url: '\${{ params.baseUrl }}/notify'
      body: { run: '\${{ run.id }}' }
    retries: 10
`;

/** A Redis of the test's own, persisting every write to its append-only file (as production must). */
class OwnRedis {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${String(this.port)}`;
  }

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let i = 0; ; i++) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    probe.disconnect();
  }

  /** Killed outright: only what the append-only file holds survives. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
}

/** The Redis the processes share, killed outright and restarted once during the test. */
interface SharedRedis {
  env: Record<string, string>;
  /** SIGKILL (the node holding the bot's keys, on a cluster), a second, then started again from its append-only file. */
  restart(): Promise<void>;
  client(): Redis | Cluster;
  stop(): Promise<void>;
}

async function oneRedis(): Promise<SharedRedis> {
  const redis = new OwnRedis(await freePort());
  await redis.start();
  return {
    env: { REDIS_URL: redis.url },
    async restart() {
      await redis.kill();
      await new Promise((r) => setTimeout(r, 1_000));
      await redis.start();
    },
    client: () => new Redis(redis.url, { maxRetriesPerRequest: null }),
    stop: () => redis.kill(),
  };
}

async function redisCluster(prefix: string): Promise<SharedRedis> {
  const cluster = await LocalRedisCluster.start();
  const [slot = 0] = await cluster.keySlots([prefix]);
  return {
    env: { REDIS_URL: cluster.urls, REDIS_CLUSTER: 'true' },
    async restart() {
      const node = await cluster.nodeOfSlot(slot);
      await node.kill();
      await new Promise((r) => setTimeout(r, 1_000));
      await node.start();
      await cluster.waitUntilOk();
    },
    client: () => cluster.client(),
    stop: () => cluster.stop(),
  };
}

/**
 * On one Redis the full 200 runs; on a local Redis Cluster of three primaries
 * (REDIS_CLUSTER=true, a hash-tag prefix) 60, to keep the suite's time in
 * bounds: the cluster run proves the same guarantees on the cluster's command
 * paths, the single one carries the load.
 */
const BACKENDS = [
  { name: 'one Redis', runs: 200, prefix: `chaos${String(Date.now())}`, start: (_prefix: string) => oneRedis() },
  { name: 'a Redis Cluster of three primaries', runs: 60, prefix: `{chaos${String(Date.now())}}`, start: redisCluster },
];

/**
 * Two bot processes and three worker processes share one Redis (or cluster). The runs of a
 * multi-step runbook are requested through Slack while workers are killed with
 * SIGKILL every few seconds, Redis is killed and restarted once, and the fake
 * AWS, Kubernetes, Statuspage and HTTP APIs fail 10 % of calls (half of the
 * failed changes applied before the error, as when an answer is lost).
 */
describe.each(BACKENDS)('scale out under faults on $name: 2 bots, 3 workers, $runs runs, killed workers, a Redis restart, 10 % API failures', ({ runs: RUNS, prefix, start }) => {
  let redis: SharedRedis;
  let slack: FakeSlack;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let page: FakeStatuspage;
  let env: Record<string, string>;
  const bots: BotProcess[] = [];
  const workers: BotProcess[] = [];
  const botPorts: number[] = [];

  const startWorker = async () => {
    const worker = spawnBot({ ...env, PORT: '0' }, ['--role', 'worker']);
    workers.push(worker);
    await worker.waitForLog(/dr-chatops started/, 30_000);
  };
  const alive = (p: BotProcess) => p.child.exitCode === null && p.child.signalCode === null;

  beforeAll(async () => {
    redis = await start(prefix);
    slack = await new FakeSlack([BOT_TOKEN]).start();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    api = await new FakeService().start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpdb00001']).start();
    rds.creatingMs = 100;
    rds.addCluster('prod-aurora', { earliest: new Date(Date.now() - 7 * 24 * HOUR), latest: new Date(Date.now() - 60_000), writerClass: 'db.r6g.large' });
    for (let i = 0; i < RUNS; i++) kube.addDeployment('production', `app-${String(i)}`, ['app:1.0.0'], { replicas: 1 });
    const commands = mkdtempSync(join(tmpdir(), 'chaos-commands-'));
    writeFileSync(join(commands, 'chaos.yaml'), RUNBOOK);
    env = {
      // Several processes on one host: each takes a free internal (metrics) port.
      METRICS_PORT: '0',
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      ...redis.env,
      QUEUE_PREFIX: prefix,
      COMMANDS_DIR: commands,
      HTTP_ALLOWED_TARGETS: '127.0.0.1', // the fake service; http steps refuse loopback otherwise
      KUBECONFIG: kube.writeKubeconfig(),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE0001',
      AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key-0000000000000000',
      AWS_ENDPOINT_URL_RDS: rds.url,
      STATUSPAGE_API_KEY: SP_KEY,
      STATUSPAGE_PAGE_ID: 'page001',
      STATUSPAGE_API_URL: page.url,
      STATUSPAGE_COMPONENTS: 'db:cmpdb00001',
      STATUSPAGE_RETRY_BASE_MS: '100',
      STATUSPAGE_MIN_INTERVAL_MS: '200',
      // The declarer commands the incidents and confirms their first public posts.
      DR_PUBLISHERS: 'U0ALICE001',
      // Hundreds of runs from one person in seconds: above the shipped flood limits, on purpose.
      DR_RUNS_PER_USER_PER_MINUTE: '100000',
      DR_RUNS_PER_MINUTE: '100000',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_CONCURRENCY: '8',
      STEP_RETRY_BASE_MS: '50',
      LOG_LEVEL: 'info',
    };
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const bot = spawnBot({ ...env, PORT: String(port) }, ['--role', 'bot']);
      bots.push(bot);
      botPorts.push(port);
    }
    await Promise.all(bots.map((b) => b.waitForLog(/dr-chatops started/, 30_000)));
    await Promise.all([startWorker(), startWorker(), startWorker()]);
  }, 90_000);

  afterAll(async () => {
    for (const p of [...bots, ...workers]) {
      if (alive(p)) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    await redis.stop();
    await Promise.all([slack.stop(), rds.stop(), kube.stop(), api.stop(), page.stop()]);
  });

  it('every run completes once, work spreads over the workers, no side effect is doubled, every status page update arrives once and in order', async () => {
    rds.failRate = 0.1;
    kube.failRate = 0.1;
    api.failRate = 0.1;
    page.failRate = 0.1;
    const botUrl = (i: number) => `http://127.0.0.1:${String(botPorts[i % 2] ?? 0)}`;
    let sent = 0;
    const send = (text: string, channel: string, i = sent++) =>
      sendSlashCommand(botUrl(i), { text, channel_id: channel, user_id: 'U0ALICE001', response_url: slack.responseUrl(`chaos-${String(i)}`) });

    // Two incidents whose status pages must follow their status changes in order.
    await send('declare data-corruption "Orders corrupted" --services db', 'C0GENERAL01');
    await send('declare region-outage "Region degraded" --services db', 'C0GENERAL01');
    const channels = await slack.waitFor(() => {
      const ids = slack.callsTo('conversations.create').map(createdChannelId).filter(Boolean);
      return ids.length >= 2 && ids;
    }, 30_000);
    const statusSequence = ['identified', 'monitoring', 'identified', 'monitoring', 'resolved'];
    for (const channel of channels) await pressPublish(botUrl(0), slack, channel, 'U0ALICE001');

    // Chaos: a worker killed every 2 s (and replaced), Redis killed and restarted once.
    const chaosState = { stop: false };
    let killed = 0;
    let restarted = false;
    const chaos = (async () => {
      await new Promise((r) => setTimeout(r, 2_000));
      while (!chaosState.stop) {
        const live = workers.filter(alive);
        const victim = live[Math.floor(Math.random() * live.length)];
        if (victim) {
          victim.child.kill('SIGKILL');
          await victim.exited;
          killed += 1;
          await startWorker();
        }
        // Early enough that the restart falls amid the runs, with the smaller count on the cluster too.
        if (killed === 1) {
          await redis.restart();
          restarted = true;
        }
        await new Promise((r) => setTimeout(r, 2_000));
      }
    })();

    // The run requests through the two bots, 20 at a time (each answered within Slack's window).
    const acks: number[] = [];
    for (let batch = 0; batch < RUNS; batch += 20) {
      const request = (j: number) => send(`run chaos baseUrl=${api.url} deployment=app-${String(batch + j)}`, 'C0CHAOS0001', batch + j);
      const answers = await Promise.all(Array.from({ length: Math.min(20, RUNS - batch) }, (_, j) => request(j)));
      // A request that lands while Redis restarts is told "nothing was queued, try again": the person asks again.
      for (let j = 0; j < answers.length; j++) {
        for (let tries = 0; tries < 10 && String(answers[j]?.json?.text).includes('nothing was queued'); tries++) {
          await new Promise((r) => setTimeout(r, 500));
          answers[j] = await request(j);
        }
      }
      acks.push(...answers.map((a) => a.status));
      expect(answers.map((a) => String(a.json?.text)).filter((t) => !t.includes('Planning'))).toEqual([]);
      // Halfway through, the incidents move.
      if (batch === Math.floor(RUNS / 40) * 20) {
        for (const [i, state] of statusSequence.entries()) {
          for (const channel of channels) await send(`status ${state} "step ${String(i + 1)} of the recovery"`, channel);
        }
      }
    }
    expect(acks.filter((s) => s !== 200)).toEqual([]);

    const client = redis.client();
    client.on('error', () => undefined);
    const store = new RunStore(client, prefix);
    const deadline = Date.now() + 240_000;
    let runs = await store.list(1_000);
    // A request acknowledged just before Redis went away is told afterwards (response_url) that nothing was
    // requested: the person asks again, as for an acknowledgement that said so.
    const askedAgain = new Map<number, number>();
    // Asked again but answered at once that nothing was requested (Redis still coming back): ask once more.
    const refusedAgain = new Set<number>();
    const nothingRequested = /nothing was (requested|queued)/i;
    const toldNothingWasRequested = (i: number) =>
      refusedAgain.has(i) || slack.responses.filter((r) => r.id === `chaos-${String(i)}` && nothingRequested.test(String(r.body.text))).length > (askedAgain.get(i) ?? 0);
    while (Date.now() < deadline && (killed < 2 || runs.length < RUNS || runs.some((r) => !['succeeded', 'failed', 'cancelled', 'expired', 'rejected'].includes(r.state)))) {
      await new Promise((r) => setTimeout(r, 500));
      runs = await store.list(1_000).catch(() => runs);
      const requested = new Set(runs.map((r) => r.params.deployment));
      for (let i = 0; i < RUNS; i++) {
        if (requested.has(`app-${String(i)}`) || !toldNothingWasRequested(i) || (askedAgain.get(i) ?? 0) >= 10) continue;
        if (!refusedAgain.delete(i)) askedAgain.set(i, (askedAgain.get(i) ?? 0) + 1);
        const answer = await send(`run chaos baseUrl=${api.url} deployment=app-${String(i)}`, 'C0CHAOS0001', i).catch(() => undefined);
        if (answer === undefined || nothingRequested.test(String(answer.json?.text))) refusedAgain.add(i);
      }
    }
    chaosState.stop = true;
    await chaos;

    // Every run requested once and finished, successfully.
    const requestedAt = new Set(runs.map((r) => r.params.deployment));
    const missing = Array.from({ length: RUNS }, (_, i) => i).filter((i) => !requestedAt.has(`app-${String(i)}`));
    // What the bot told the person of each request that made no run, to say why.
    expect(missing.map((i) => [i, slack.responses.filter((r) => r.id === `chaos-${String(i)}`).map((r) => String(r.body.text))])).toEqual([]);
    expect(runs.length).toBe(RUNS);
    expect(runs.filter((r) => r.state !== 'succeeded').map((r) => `${r.id} ${r.state} ${r.failure?.message ?? ''}`)).toEqual([]);
    expect(new Set(runs.map((r) => r.params.deployment)).size).toBe(RUNS);
    expect(killed).toBeGreaterThanOrEqual(2);
    expect(restarted).toBe(true);

    // No side effect doubled: one cluster, one resource, one restart, one notification per run.
    const runIds = runs.map((r) => r.id);
    expect(rds.clusters.size).toBe(RUNS + 1);
    expect([...api.creates.values()].filter((n) => n !== 1)).toEqual([]);
    expect(api.creates.size).toBe(RUNS);
    const notified = api.notifications.map((n) => (n.body as { run?: string }).run);
    expect(notified.sort()).toEqual([...runIds].sort());
    for (let i = 0; i < RUNS; i++) expect(kube.deployments.get(`production/app-${String(i)}`)?.generation).toBe(2);

    // Work spread across worker processes (killed ones included).
    const executors = workers.filter((w) => /"msg":"run (started|resumed)"/.test(w.stdout()));
    expect(executors.length).toBeGreaterThanOrEqual(3);

    // Each incident's page: created, then the status changes once each, in order, ending resolved (an update still
    // unsent when a later one is queued is superseded by it: README, Incidents).
    const incidents = new IncidentStore(client, prefix);
    for (const channel of channels) {
      const incident = await incidents.byChannel(channel);
      expect(incident?.state).toBe('resolved');
      const onPage = page.incidents.find((p) => p.name === incident?.title);
      const deadlineSp = Date.now() + 60_000;
      while (Date.now() < deadlineSp && onPage?.incident_updates[0]?.status !== 'resolved') await new Promise((r) => setTimeout(r, 200));
      const statuses = [...(onPage?.incident_updates ?? [])].reverse().map((u) => u.status);
      expect(statuses[0]).toBe('investigating');
      expect(statuses.at(-1)).toBe('resolved');
      let next = 0;
      for (const s of ['investigating', ...statusSequence]) if (statuses[next] === s) next += 1;
      expect(next, `${statuses.join(' → ')} is not ${['investigating', ...statusSequence].join(' → ')} with some left out`).toBe(statuses.length);
    }
    client.disconnect();
  }, 420_000);
});
