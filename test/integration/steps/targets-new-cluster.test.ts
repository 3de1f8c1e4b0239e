import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitClusterStep } from '../../../src/steps/eks/wait-cluster.ts';
import { veleroCheckStep } from '../../../src/steps/velero/check.ts';
import { type ResolvedTarget, type TargetAccess, Targets } from '../../../src/targets/targets.ts';
import { FakeEks } from '../../support/fake-eks.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, type TestStepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

/** Resolves once the step has reported progress matching `pattern` (the test then changes the world under it). */
async function progressed(ctx: TestStepContext, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ctx.progressMessages.some((m) => pattern.test(m))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no progress matched ${String(pattern)}; got: ${ctx.progressMessages.join(' | ')}`);
}

/** A run's step, started now: its rejection is kept for the test to await later. */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

describe('a cluster named at run time: waiting for it, then for Velero in it', () => {
  let eks: FakeEks;
  let kube: FakeKube;
  /** Target `dr` (configured for eks-dr) reaching eks-new, the cluster a runbook named at run time. */
  let newCluster: TargetAccess;

  const drTarget = (kubernetes?: ResolvedTarget['kubernetes']): Targets =>
    new Targets(new Map([['dr', { region: 'us-west-2', account: '222222222222', endpoints: { eks: eks.url }, rdsEndpoints: {}, kubernetes, veleroNamespace: 'velero' }]]), 'dr');

  beforeAll(async () => {
    fakeAwsCredentials();
    [eks, kube] = await Promise.all([new FakeEks().start(), new FakeKube().start()]);
    // The API server lets in EKS tokens only, as an EKS cluster's does.
    kube.requireEksToken = true;
  });
  afterAll(async () => {
    await Promise.all([eks.stop(), kube.stop()]);
  });
  beforeEach(() => {
    eks.clusters.clear();
    eks.calls.length = 0;
    kube.calls.length = 0;
    kube.now = Date.now;
    kube.namespaces.add('velero');
    kube.velero.clear();
    newCluster = drTarget({ eksCluster: 'eks-dr' }).access('dr', 'rtest001', 'eks-new');
  });

  describe('eks.wait-cluster', () => {
    it('plans a wait for a cluster not created yet, waits while it is absent and CREATING, then outputs its endpoint', async () => {
      const step = withClients(waitClusterStep(), newCluster);
      const p = step.params.parse({ intervalSeconds: 1 });
      expect(await step.plan(planContext(), p)).toEqual([
        {
          action: 'wait',
          resource: 'eks cluster eks-new',
          detail: 'wait for EKS cluster eks-new to be created in us-west-2 (account 222222222222) and become ACTIVE, looking every 1s; then checks that the bot can read its Kubernetes API',
        },
      ]);

      const ctx = stepContext({ timeoutMs: 25_000 });
      const run = started(step.run(ctx, p));
      await progressed(ctx, /^waiting for EKS cluster eks-new: not created yet in us-west-2 \(account 222222222222\) \(/);
      eks.addCluster('eks-new', kube.url, 'CREATING');
      expect((await step.plan(planContext(), p))[0]?.detail).toBe(
        'wait until EKS cluster eks-new in us-west-2 (account 222222222222) is ACTIVE (it is CREATING now), looking every 1s; then checks that the bot can read its Kubernetes API',
      );
      await progressed(ctx, /^waiting for EKS cluster eks-new: CREATING \(/);
      const created = eks.clusters.get('eks-new');
      if (created) created.status = 'ACTIVE';

      expect(await run).toEqual({ cluster: 'eks-new', endpoint: kube.url });
      expect(ctx.progressMessages.at(-1)).toBe('EKS cluster eks-new is ACTIVE and lets the bot in');
      // Access is proven with an EKS token before the step succeeds.
      expect(kube.callsMatching('GET', '/api/v1/namespaces/kube-system').length).toBeGreaterThan(0);
      expect(kube.bearerTokens.at(-1)).toMatch(/^k8s-aws-v1\./);
      expect((await step.plan(planContext(), p))[0]).toEqual({ action: 'check', resource: 'eks cluster eks-new', detail: 'EKS cluster eks-new (us-west-2) is ACTIVE; the bot can read its Kubernetes API' });
    });

    it('fails at once, for good, when the cluster being created turns FAILED; a plan refuses such a cluster', async () => {
      eks.addCluster('eks-new', kube.url, 'CREATING');
      const step = withClients(waitClusterStep(), newCluster);
      const p = step.params.parse({ intervalSeconds: 1 });
      const ctx = stepContext({ timeoutMs: 25_000 });
      const run = started(step.run(ctx, p));
      await progressed(ctx, /: CREATING \(/);
      const creating = eks.clusters.get('eks-new');
      if (creating) creating.status = 'FAILED';
      const message =
        'EKS cluster eks-new in us-west-2 (account 222222222222) is FAILED: it will not become ACTIVE; see why with `aws eks describe-cluster --name eks-new --query cluster.health`, then delete it and create it again';
      expect(await failureOf(run)).toEqual({ message, permanent: true });
      expect(await failureOf(step.plan(planContext(), p))).toEqual({ message, permanent: true });
    });

    it('tells the operator to map the bot in the new cluster when its API server refuses the bot', async () => {
      eks.addCluster('eks-new', kube.url);
      // A clock 20 minutes ahead makes the API server refuse every token the bot signs, as an unmapped role is refused.
      kube.now = () => Date.now() + 20 * 60_000;
      const step = withClients(waitClusterStep(), newCluster);
      const p = step.params.parse({ intervalSeconds: 1 });
      const refusal = /^EKS cluster eks-new is ACTIVE but its Kubernetes API does not know the bot \(HTTP 401 Unauthorized\): map the IAM role the bot uses for target dr in the new cluster, with an EKS access entry .* or in its aws-auth ConfigMap, then `kubectl apply -f deploy\/target-cluster\/rbac\.yaml`; see docs\/targets\.md$/;
      const planFailure = await failureOf(step.plan(planContext(), p));
      expect(planFailure.permanent).toBe(true);
      expect(planFailure.message).toMatch(refusal);

      // The run waits for the mapping (it often comes just after the cluster turns ACTIVE), then fails saying what to fix.
      const ctx = stepContext({ timeoutMs: 2_500 });
      const failure = await failureOf(step.run(ctx, p));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(refusal);
      expect(ctx.progressMessages[0]).toMatch(/^waiting for EKS cluster eks-new: ACTIVE but its Kubernetes API does not know the bot \(HTTP 401 Unauthorized\)/);
    });

    it('refuses a target that reaches no EKS cluster', async () => {
      const step = withClients(waitClusterStep(), drTarget(undefined).access('dr', 'rtest001'));
      expect(await failureOf(step.plan(planContext(), step.params.parse({})))).toEqual({
        message: "target dr reaches no EKS cluster (its Kubernetes cluster: none); give the step's cluster, or the target kubernetes.eksCluster (docs/targets.md)",
        permanent: true,
      });
      expect(step.params.safeParse({ clusterName: 'eks-new' }).success).toBe(false);
    });

    it('has nothing to wait for on a target reached through its kubeconfig (restore-cluster on a single-cluster install)', async () => {
      const step = withClients(waitClusterStep(), createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }));
      const calls = eks.calls.length;
      expect(await step.plan(planContext(), step.params.parse({}))).toEqual([
        { action: 'check', resource: 'target default', detail: 'target default reaches its kubeconfig, not an EKS cluster by name: nothing to wait for' },
      ]);
      const ctx = stepContext();
      expect(await step.run(ctx, step.params.parse({}))).toEqual({ cluster: '', endpoint: '' });
      expect(eks.calls.length).toBe(calls);
    });
  });

  describe('velero.check', () => {
    const viaEks = () => createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { eksCluster: 'eks-new' } });

    it('plans to check once the cluster is up', async () => {
      const step = withClients(veleroCheckStep(), newCluster);
      expect(await step.plan(planContext(), step.params.parse({ schedule: 'daily-full-backup' }))).toEqual([
        {
          action: 'wait',
          resource: 'velero in EKS eks-new',
          detail:
            'checks once EKS cluster eks-new is up (it does not exist yet): Velero namespace velero, its default backup storage location Available, a completed backup of daily-full-backup synced, waiting up to 10m',
        },
      ]);
    });

    it('waits for the storage location to become Available and a backup of the schedule to sync, then outputs them', async () => {
      eks.addCluster('eks-new', kube.url);
      kube.velero.setStorageLocation('default', 'Unavailable', { message: 'BackupStorageLocation "default" is unavailable: NoSuchBucket' });
      const step = withClients(veleroCheckStep(), viaEks());
      const p = step.params.parse({ schedule: 'daily-full-backup', withinSeconds: 20, intervalSeconds: 1 });
      expect((await step.plan(planContext(), p))[0]).toEqual({
        action: 'check',
        resource: 'velero in EKS eks-new',
        detail:
          'Velero namespace velero, its default backup storage location Available, a completed backup of daily-full-backup synced; now: backup storage location default is Unavailable: BackupStorageLocation "default" is unavailable: NoSuchBucket; the run waits up to 20s for it',
      });

      const ctx = stepContext({ timeoutMs: 25_000 });
      const run = started(step.run(ctx, p));
      await progressed(ctx, /^waiting for Velero in EKS eks-new: backup storage location default is Unavailable/);
      kube.velero.setStorageLocation('default', 'Available');
      await progressed(ctx, /^waiting for Velero in EKS eks-new: no completed backup of daily-full-backup synced yet \(/);
      // Velero's sync brings the bucket's backups in: the newest completed one counts, not a newer one that failed.
      kube.addBackup('daily-full-backup-20261201020000', { schedule: 'daily-full-backup', completedAt: ago(3) });
      kube.addBackup('daily-full-backup-20261201030000', { schedule: 'daily-full-backup', completedAt: ago(2), phase: 'PartiallyFailed' });
      kube.addBackup('hourly-backup-20261201040000', { schedule: 'hourly-backup', completedAt: ago(1) });

      expect(await run).toEqual({ storageLocation: 'default', newestBackup: 'daily-full-backup-20261201020000' });
      expect(ctx.progressMessages.at(-1)).toBe('Velero in velero is usable: backup storage location default Available; newest completed backup of daily-full-backup: daily-full-backup-20261201020000 (Completed, 3h old)');
      expect(kube.bearerTokens.at(-1)).toMatch(/^k8s-aws-v1\./);
    });

    it('fails naming the Velero namespace when it never appears', async () => {
      eks.addCluster('eks-new', kube.url);
      kube.namespaces.delete('velero');
      const step = withClients(veleroCheckStep(), viaEks());
      const p = step.params.parse({ withinSeconds: 2, intervalSeconds: 1 });
      expect((await step.plan(planContext(), p))[0]?.detail).toBe('Velero namespace velero, its default backup storage location Available; now: Velero namespace velero not found; the run waits up to 2s for it');
      const failure = await failureOf(step.run(stepContext({ timeoutMs: 25_000 }), p));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^gave up waiting for Velero in EKS eks-new: still Velero namespace velero not found after 1(\.\d)?s$/);
    });
  });
});
