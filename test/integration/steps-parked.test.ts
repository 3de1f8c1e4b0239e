import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseParkMarker } from '../../src/engine/park.ts';
import { ALICE, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { JSON_PATCH } from '../../src/steps/kube/api.ts';
import { rolloutUndoStep } from '../../src/steps/kube/rollout.ts';
import { createStepClients, fakeAwsCredentials, stepContext, withClients } from '../support/step-context.ts';

const RUNBOOKS: Record<string, string> = {
  'restart.yaml': `id: restart
title: Restart web and wait for its rollout
approval: { required: 0 }
steps:
  - id: restart
    use: k8s.rollout-restart
    with: { namespace: production, deployments: [web] }
  - id: rollout
    use: k8s.rollout-status
    with: { namespace: production, deployments: [web] }
`,
  'rollback.yaml': `id: rollback
title: Roll web back and wait for its rollout
approval: { required: 0 }
steps:
  - id: undo
    use: k8s.rollout-undo
    with: { namespace: production, deployment: web }
  - id: rollout
    use: k8s.rollout-status
    with: { namespace: production, deployments: [web] }
`,
  'restore.yaml': `id: restore
title: Restore production from its newest backup
approval: { required: 0 }
steps:
  - id: restore
    use: velero.restore
    with: { schedule: daily-full-backup, includedNamespaces: [production] }
`,
  'scale.yaml': `id: scale
title: Scale the DR node group up
approval: { required: 0 }
steps:
  - id: scale
    use: eks.scale-nodegroup
    with: { cluster: eks-dr, nodegroup: workers, desired: 4, max: 6, waitForNodes: false }
`,
  'short.yaml': `id: short
title: A short run
approval: { required: 0 }
steps:
  - id: pause
    use: wait
    with: { seconds: 0 }
`,
};

/**
 * Steps that act, then wait long (a rollout, a Velero restore, a node group
 * scaling) give their worker back while they wait: with one worker of
 * concurrency 1, a short run finishes meanwhile; the waiting run then
 * finishes, and each change it made was made once.
 */
describe('steps that act and then wait park: the worker is free while they wait, and nothing is done twice', () => {
  let kube: FakeKube;
  let eks: FakeEks;
  let engine: TestEngine;

  beforeAll(async () => {
    fakeAwsCredentials();
    kube = await new FakeKube().start();
    eks = await new FakeEks().start();
  });
  afterAll(async () => {
    await Promise.all([kube.stop(), eks.stop()]);
  });
  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parked-steps-'));
    for (const [file, text] of Object.entries(RUNBOOKS)) writeFileSync(join(dir, file), text);
    engine = await startTestEngine({
      workers: 0,
      commandsDir: dir,
      targets: testTargets({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }),
    });
    // WORKER_CONCURRENCY=1: one run at a time holds this worker.
    engine.startWorker(1);
    kube.calls.length = 0;
    kube.deployments.clear();
    kube.velero.clear();
  });
  afterEach(async () => {
    await engine.stop();
  });

  /** Resolves once the run is parked in `stepId`: its marker stored and its job delayed. */
  const parkedIn = async (runId: string, stepId: string) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const marker = parseParkMarker(await engine.store.field(runId, 'parked'));
      const job = await engine.queue.queue.getJob(`exec-${runId}`);
      if (marker?.stepId === stepId && job && (await job.isDelayed())) return;
      if (Date.now() > deadline) throw new Error(`run ${runId} did not park in ${stepId}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  /** Starts `runbookId`; once it parks in `stepId`, a short run must finish on the only worker while it still waits. */
  const parksWhileAShortRunFinishes = async (runbookId: string, stepId: string) => {
    const long = await engine.service.create({ runbookId, params: {}, requester: ALICE });
    await parkedIn(long.id, stepId);
    const short = await engine.service.create({ runbookId: 'short', params: {}, requester: ALICE });
    expect((await engine.waitForState(short.id, ['succeeded', 'failed', 'cancelled'])).state).toBe('succeeded');
    const waiting = await engine.store.get(long.id);
    expect(waiting?.state).toBe('running');
    expect(waiting?.steps[stepId]?.state).toBe('running');
    const done = await engine.waitForState(long.id, ['succeeded', 'failed', 'cancelled'], 40_000);
    expect(done.steps[stepId]?.error).toBeUndefined();
    expect(done.state).toBe('succeeded');
    // Several looks, one attempt: a parked wait taken up again is neither a retry nor a takeover.
    expect(done.steps[stepId]?.attempts).toBe(1);
    return done;
  };

  it('a restart, then its rollout: the rollout wait parks, and the deployment is patched once', async () => {
    kube.addDeployment('production', 'web', ['web:1.0'], { replicas: 3 });
    kube.rolloutMs = 6_000;
    const done = await parksWhileAShortRunFinishes('restart', 'rollout');
    expect(done.steps.restart?.outputs).toEqual({ restarted: 'web' });
    expect(kube.callsMatching('PATCH', '/namespaces/production/deployments/web')).toHaveLength(1);
  });

  it('a rollback, then its rollout: the rollout wait parks, and it rolls back one revision, once', async () => {
    kube.addDeployment('production', 'web', ['web:1.0', 'web:1.1'], { replicas: 3 });
    kube.rolloutMs = 6_000;
    const done = await parksWhileAShortRunFinishes('rollback', 'rollout');
    expect(done.steps.undo?.outputs).toEqual({ revision: 1, images: 'web:1.0' });
    expect(kube.callsMatching('PATCH', '/namespaces/production/deployments/web')).toHaveLength(1);
  });

  it('a Velero restore parks while Velero restores, and the Restore is created once', async () => {
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: new Date(Date.now() - 3 * 3_600_000) });
    kube.restoreMs = 6_000;
    const done = await parksWhileAShortRunFinishes('restore', 'restore');
    expect(done.steps.restore?.outputs).toMatchObject({ backupName: 'daily-full-backup-20261125020000', restoreName: `dr-${done.id}-restore`.toLowerCase() });
    expect(kube.callsMatching('POST', '/restores')).toHaveLength(1);
  });

  it('a node group scaled up parks while EKS updates it, and UpdateNodegroupConfig is called once', async () => {
    eks.addCluster('eks-dr', kube.url);
    eks.addNodegroup('eks-dr', 'workers', { min: 0, max: 2, desired: 0 });
    eks.updatingMs = 6_000;
    await parksWhileAShortRunFinishes('scale', 'scale');
    expect(eks.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/update-config'))).toHaveLength(1);
    expect(eks.nodegroups.get('eks-dr/workers')?.updates).toHaveLength(1);
    expect(eks.nodegroups.get('eks-dr/workers')).toMatchObject({ desiredSize: 4, maxSize: 6 });
  });
});

describe('a rollback entered again after it acted', () => {
  let kube: FakeKube;

  beforeAll(async () => {
    kube = await new FakeKube().start();
  });
  afterAll(async () => {
    await kube.stop();
  });

  it('does not roll back a second revision, even when its mark on the deployment is gone', async () => {
    const clients = createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    const undo = withClients(rolloutUndoStep(), clients);
    kube.addDeployment('production', 'web', ['web:1.0', 'web:1.1'], { replicas: 2 });
    // One context: the second run() is the step entered again in the same run (after a crash or a park), with its checkpoints.
    const ctx = stepContext({ runId: 'rundo001', stepId: 'undo' });
    const params = undo.params.parse({ namespace: 'production', deployment: 'web' });
    expect(await undo.run(ctx, params)).toEqual({ revision: 1, images: 'web:1.0' });

    // Meanwhile a deploy tool rewrites the deployment's annotations: the step's mark on it is gone.
    const api = await clients.kube();
    await api.apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'production', body: [{ op: 'remove', path: '/metadata/annotations/dr-chatops~1rolled-back-by' }] },
      JSON_PATCH,
    );

    expect(await undo.run(ctx, params)).toEqual({ revision: 1, images: 'web:1.0' });
    // One rollback by the step; the other PATCH is the deploy tool's.
    expect(kube.callsMatching('PATCH', '/namespaces/production/deployments/web')).toHaveLength(2);
    const now = await api.apps.readNamespacedDeployment({ name: 'web', namespace: 'production' });
    expect(now.spec?.template.spec?.containers.map((c) => c.image)).toEqual(['web:1.0']);
  });
});
