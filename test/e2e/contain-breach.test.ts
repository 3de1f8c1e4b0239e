import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Actor, Run } from '../../src/runs/model.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { FakeService } from '../support/fake-service.ts';
import { resourceByPath } from '../support/kube/objects.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const CAROL: Actor = { id: 'U0CAROL001', name: 'carol', via: 'slack' };
const KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };
const credentials = () => Promise.resolve(KEY);
const ENDED = ['succeeded', 'failed', 'cancelled'] as const;
const CLUSTER = 'prod-aurora-cluster';
const OLD_PASSWORD = 'old-leaked-password-0001';
const INCIDENT = 'inc-7q2w9e';
const policyType = resourceByPath('networking.k8s.io', 'v1', 'networkpolicies');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Everything stored under the engine's prefix (runs, audit, events, queue), as text. */
async function everythingStored(prefix: string): Promise<string> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    const parts: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    return `${keys.length} keys\n${parts.join('\n')}`;
  } finally {
    redis.disconnect();
  }
}

/**
 * A security breach through the shipped contain-breach on the real engine:
 * the `reports` deployment of production is compromised; the database is an
 * Aurora cluster (a global database's primary, or with an RDS-managed master
 * secret); two people approve, and approvers answer the run's gates.
 */
describe('contain-breach: a security breach', () => {
  let rds: FakeRds;
  let sm: FakeSecretsManager;
  let kube: FakeKube;
  let api: FakeService;
  let engine: TestEngine;
  let logLines: string[];

  beforeAll(async () => {
    [rds, sm, kube, api] = await Promise.all([new FakeRds().start(), new FakeSecretsManager().start(), new FakeKube().start(), new FakeService().start()]);
    rds.region = 'us-east-1';
    rds.passwords.keepSecretsIn(sm);
  });
  afterAll(async () => {
    await Promise.all([rds.stop(), sm.stop(), kube.stop(), api.stop()]);
  });
  beforeEach(async () => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.globalClusters.clear();
    rds.passwords.current.clear();
    rds.passwords.managed.clear();
    rds.addCluster(CLUSTER, { earliest: new Date(0), latest: new Date() });
    rds.passwords.current.set(CLUSTER, OLD_PASSWORD);

    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.objects.clear();
    kube.secrets.clear();
    kube.calls.length = 0;
    kube.addDeployment('production', 'api', ['api:3.2.0'], { replicas: 3 });
    kube.addDeployment('production', 'reports', ['reports:1.4.0'], { replicas: 2 });
    kube.addSecret('production', 'database-credentials', { host: `${CLUSTER}.cluster-abc123.us-east-1.rds.amazonaws.com`, username: 'postgres', password: OLD_PASSWORD });

    logLines = [];
    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      logLines,
      targets: testTargets(
        { defaultTarget: 'prod', targets: { prod: { region: 'us-east-1', endpoints: { rds: rds.url, secretsmanager: sm.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } } },
        { credentials },
      ),
    });
  });
  afterEach(async () => {
    await engine.stop();
  });

  const request = async (origin: { incidentId?: string } = {}): Promise<Run> => {
    const run = await engine.service.create({
      runbookId: 'contain-breach',
      params: { cluster: CLUSTER, namespace: 'production', deployments: 'reports', restart: 'api', healthUrl: `${api.url}/health` },
      requester: ALICE,
      origin,
    });
    // Two people approve: the first approval alone starts nothing.
    expect((await engine.service.approve(run.id, BOB)).outcome).toBe('recorded');
    expect((await engine.service.approve(run.id, CAROL)).outcome).toBe('approved');
    return run;
  };
  /** Answers the gate step `stepId` opens, once it is open. */
  const answer = async (runId: string, stepId: string, choice: 'accept' | 'refuse', by: Actor = BOB): Promise<void> => {
    let gateId = '';
    await until(`the ${stepId} gate`, async () => {
      const gate = (await engine.store.get(runId))?.gate;
      gateId = gate?.stepId === stepId && gate.state === 'open' ? gate.id : '';
      return gateId !== '';
    });
    await engine.service.decideGate(runId, gateId, by, choice, choice === 'refuse' ? 'not contained yet' : undefined);
  };
  const isolation = () => (policyType ? kube.objects.get(policyType, 'production', 'dr-chatops-isolate') : undefined);
  const appPassword = () => kube.secretValue('production', 'database-credentials', 'password') ?? '';
  const restartedAt = (name: string) => ((kube.deployments.get(`production/${name}`)?.template.metadata ?? {}) as { annotations?: Record<string, string> }).annotations?.['kubectl.kubernetes.io/restartedAt'];

  it('isolates, contains, keeps evidence tagged with the incident, rotates the password into the Secret, restarts, lifts on an approver’s word and checks health; the password is stored nowhere else', async () => {
    // A global database's primary: no RDS-managed password is possible, the bot makes one.
    rds.globalClusters.set('prod-global', [CLUSTER, 'prod-aurora-dr']);
    const run = await request({ incidentId: INCIDENT });
    expect(run.plan.find((p) => p.stepId === 'evidence')?.lines[0]?.detail).toContain(`(incident ${INCIDENT})`);
    expect(run.plan.find((p) => p.stepId === 'rotate')?.lines[0]).toMatchObject({ irreversible: true });

    // The application is restarted while the namespace is still isolated; the bot's credentials are a person's to rotate.
    await answer(run.id, 'bot-credentials', 'accept', CAROL);
    await until('the reopen gate', async () => (await engine.store.get(run.id))?.gate?.stepId === 'reopen');
    expect(isolation()).toBeDefined();
    expect(restartedAt('api')).toBeDefined();
    await answer(run.id, 'reopen', 'accept');

    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');

    // Evidence first: the snapshot requested before anything changed, then containment without waiting for it, then its completion.
    expect(run.plan.map((p) => p.stepId).slice(0, 4)).toEqual(['evidence', 'isolate', 'contain', 'evidence-kept']);
    expect(done.steps.evidence?.finishedAt).toBeLessThanOrEqual(done.steps.isolate?.startedAt ?? 0);
    expect(done.steps['evidence-kept']?.outputs?.snapshot).toBe(done.steps.evidence?.outputs?.snapshot);
    // Evidence: a manual snapshot of the cluster, tagged with the incident, the run and its purpose.
    expect(rds.snapshots).toHaveLength(1);
    expect(rds.snapshots[0]).toMatchObject({ clusterId: CLUSTER, type: 'manual', tags: { 'dr-chatops:incident': INCIDENT, 'dr-chatops:run': run.id, 'dr-chatops:purpose': 'evidence' } });
    expect(done.steps.evidence?.outputs).toMatchObject({ snapshot: `${CLUSTER}-evidence-${run.id}`, incident: INCIDENT });
    // Containment: the compromised deployment kept at 0 replicas with its count recorded; the others untouched.
    expect(kube.deployments.get('production/reports')).toMatchObject({ replicas: 0 });
    expect(kube.deployments.get('production/reports')?.annotations['dr-chatops/replicas-before']).toBe('2');
    expect(kube.deployments.get('production/api')).toMatchObject({ replicas: 3 });
    expect(restartedAt('reports')).toBeUndefined();
    // Isolation: made, then lifted on the approver's word (the policy's creation is in the calls).
    expect(kube.callsMatching('POST', '/namespaces/production/networkpolicies')).toHaveLength(1);
    expect(isolation()).toBeUndefined();
    // The password: a new one, on the cluster and in the application's Secret, the other keys kept.
    const password = appPassword();
    expect(password).not.toBe(OLD_PASSWORD);
    expect(rds.passwords.current.get(CLUSTER)).toBe(password);
    expect(kube.secretValue('production', 'database-credentials', 'host')).toBe(`${CLUSTER}.cluster-abc123.us-east-1.rds.amazonaws.com`);
    expect(done.steps.rotate?.outputs).toMatchObject({ method: 'new-password' });
    expect(done.steps.health?.state).toBe('succeeded');
    expect(done.steps['bot-credentials']?.outputs).toMatchObject({ decision: 'accepted', decidedBy: 'carol' });

    // Nowhere else: not in Redis (the run, its audit, events, checkpoints, the queue), not in any log line.
    const stored = await everythingStored(engine.prefix);
    expect(stored).toContain(run.id);
    expect(stored).toContain(`${CLUSTER}-evidence-${run.id}`);
    expect(stored).not.toContain(password);
    expect(stored).not.toContain(Buffer.from(password).toString('base64'));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(password);
  });

  it('an RDS-managed master secret is rotated by RDS; with no incident the evidence names the run; refused at the reopen gate, the namespace stays isolated', async () => {
    const managed = rds.passwords.manage(CLUSTER, OLD_PASSWORD);
    const run = await request();
    expect(run.plan.find((p) => p.stepId === 'evidence')?.lines[0]?.detail).toContain(`no incident is linked to this run: dr-chatops:incident names the run ${run.id}`);

    await answer(run.id, 'bot-credentials', 'accept');
    await answer(run.id, 'reopen', 'refuse');
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.state).toBe('failed');
    expect(done.steps.reopen?.state).toBe('failed');
    expect(done.steps.lift?.state ?? 'pending').toBe('pending');

    expect(rds.snapshots[0]?.tags?.['dr-chatops:incident']).toBe(run.id);
    expect(rds.callsTo('ModifyDBCluster').map((c) => c.params.RotateMasterUserPassword)).toEqual(['true']);
    const rotated = rds.passwords.current.get(CLUSTER) ?? '';
    expect(rotated).not.toBe(OLD_PASSWORD);
    expect(JSON.parse(sm.currentValue('us-east-1', managed.name) ?? '{}')).toMatchObject({ password: rotated });
    expect(appPassword()).toBe(rotated);
    expect(done.steps.rotate?.outputs).toMatchObject({ method: 'managed-rotation' });
    // Still isolated and contained: nothing is given back without an approver's word.
    expect(isolation()).toBeDefined();
    expect(kube.deployments.get('production/reports')).toMatchObject({ replicas: 0 });
    expect(await everythingStored(engine.prefix)).not.toContain(rotated);
  });
});
