import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/runs/model.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeArcZonalShift } from '../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../support/fake-ec2.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { A0, A1, B0, nodeName, podType, resetAzEstate, unschedulable, WEB } from '../support/az-estate.ts';

const KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };
const credentials = () => Promise.resolve(KEY);
const ENDED = ['succeeded', 'failed', 'cancelled'] as const;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A single AZ failure, through the shipped az-evacuate and az-restore on the
 * real engine: us-east-1a (use1-az1 in this account) fails while the Aurora
 * writer and two of the application's pods are there.
 */
describe('az-evacuate and az-restore: a single AZ failure', () => {
  let arc: FakeArcZonalShift;
  let ec2: FakeEc2;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let engine: TestEngine;

  beforeAll(async () => {
    [arc, ec2, rds, kube, api] = await Promise.all([new FakeArcZonalShift().start(), new FakeEc2().start(), new FakeRds().start(), new FakeKube().start(), new FakeService().start()]);
    arc.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    ec2.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
  });
  afterAll(async () => {
    await Promise.all([arc.stop(), ec2.stop(), rds.stop(), kube.stop(), api.stop()]);
  });
  beforeEach(async () => {
    resetAzEstate({ arc, ec2, rds, kube });

    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets(
        {
          defaultTarget: 'prod',
          targets: { prod: { region: 'us-east-1', endpoints: { arczonalshift: arc.url, ec2: ec2.url, rds: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } },
        },
        { credentials },
      ),
    });
  });
  afterEach(async () => {
    await engine.stop();
  });

  const evacuate = async (extra: Record<string, string> = {}): Promise<Run> => {
    const run = await engine.service.create({ runbookId: 'az-evacuate', params: { zone: 'us-east-1a', resources: WEB, healthUrl: `${api.url}/health`, ...extra }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    return run;
  };
  const writer = () => [...rds.instances.values()].find((i) => i.isWriter);
  const appPods = () => kube.objects.list(podType, 'production').filter((pod) => !(pod.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  const podsIn = (nodes: string[]) => appPods().filter((pod) => nodes.includes(nodeName(pod)));
  const planDetails = (run: Run, step: string) => run.plan.find((p) => p.stepId === step)?.lines.map((l) => l.detail) ?? [];

  it('shifts traffic away from use1-az1, moves the writer, cordons and drains the zone, checks health; az-restore brings the zone back', async () => {
    const run = await evacuate({ drain: 'true' });
    expect(run.plan.find((p) => p.stepId === 'shift')?.pinned).toEqual({ zone: 'use1-az1' });
    expect(planDetails(run, 'database').join()).toContain('prod-aurora-reader-1b');

    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    // Traffic: one shift on the load balancer, away from the zone id (not the name), named after the run.
    const shifts = [...arc.shifts.values()];
    expect(shifts.map((s) => [s.resourceIdentifier, s.awayFrom, s.cancelled])).toEqual([[WEB, 'use1-az1', false]]);
    expect(shifts[0]?.comment).toContain(run.id);
    // Database: the reader in us-east-1b is the writer now.
    expect(writer()).toMatchObject({ id: 'prod-aurora-reader-1b', availabilityZone: 'us-east-1b' });
    expect(done.steps.database?.outputs).toMatchObject({ writer: 'prod-aurora-reader-1b', writerZone: 'us-east-1b' });
    // Kubernetes: the zone's nodes cordoned, the other's not; the application's pods all run outside the zone.
    expect([A0, A1, B0].map((n) => unschedulable(kube.nodeObjects.peek(n)))).toEqual([true, true, false]);
    expect(podsIn([A0, A1])).toEqual([]);
    expect(appPods().map(nodeName)).toEqual([B0, B0, B0]);
    expect(done.steps.drain?.outputs?.evicted).toBe(2);
    expect(done.steps.health?.state).toBe('succeeded');

    const back = await engine.service.create({ runbookId: 'az-restore', params: { zone: 'us-east-1a', resources: WEB }, requester: ALICE });
    await engine.service.approve(back.id, BOB);
    const restored = await engine.waitForState(back.id, [...ENDED], 60_000);
    expect(restored.failure).toBeUndefined();
    expect(restored.state).toBe('succeeded');
    expect([...arc.shifts.values()].map((s) => [s.awayFrom, s.cancelled])).toEqual([['use1-az1', true]]);
    expect([A0, A1, B0].map((n) => unschedulable(kube.nodeObjects.peek(n)))).toEqual([false, false, false]);
  });

  it('without drain=true the zone is only cordoned: the plan says so and the pods there stay', async () => {
    const run = await evacuate();
    expect(planDetails(run, 'drain')).toEqual(['not drained (not asked): running pods stay on the cordoned nodes; nothing new is scheduled there']);
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    expect([A0, A1].map((n) => unschedulable(kube.nodeObjects.peek(n)))).toEqual([true, true]);
    expect(podsIn([A0, A1])).toHaveLength(2);
    expect(kube.callsMatching('POST', '/eviction')).toHaveLength(0);
  });

  it('a PodDisruptionBudget holds the drain, the step says which; relaxed, the run finishes', async () => {
    kube.addPdb('production', 'api-pdb', { matchLabels: { app: 'api' }, minAvailable: 3 });
    const run = await evacuate({ drain: 'true' });
    expect(planDetails(run, 'drain')).toContain("allows 0 disruption(s) now, over production/api-7d9f8-abcde, production/api-7d9f8-fghij; evictions beyond that wait for it, retried every 5 s until the step's deadline");

    const progress = async () => (await engine.store.get(run.id))?.steps.drain?.progress?.message ?? '';
    await until('the drain to report the budget', async () => (await progress()).includes('PodDisruptionBudget production/api-pdb'));
    expect(await progress()).toContain('is held by PodDisruptionBudget production/api-pdb');
    expect(podsIn([A0, A1])).toHaveLength(2);
    expect((await engine.store.get(run.id))?.state).toBe('running');

    kube.evictions.setBudget('production', 'api-pdb', { minAvailable: 2 });
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    expect(podsIn([A0, A1])).toEqual([]);
    expect(done.steps.health?.state).toBe('succeeded');
  });
});
