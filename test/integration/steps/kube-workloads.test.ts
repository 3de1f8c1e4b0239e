import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteNamespaceStep, verifyPodsStep } from '../../../src/steps/kube/namespace.ts';
import { rolloutRestartStep } from '../../../src/steps/kube/rollout.ts';
import { verifyWorkloadsStep } from '../../../src/steps/kube/verify.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

/** What a Velero restore into `target` writes: the objects of `source` (fake-velero.ts does the same). */
function restoreInto(kube: FakeKube, source: string, target: string): void {
  for (const obj of kube.objectsIn(source)) kube.restoreObject({ ...obj, metadata: { ...(obj.metadata as object), namespace: target } });
}

describe('k8s.verify-workloads / k8s.verify-pods and k8s.delete-namespace, as real namespaces behave', () => {
  let kube: FakeKube;
  let clients: ReturnType<typeof createStepClients>;
  let verify: ReturnType<typeof verifyWorkloadsStep>;
  let legacy: ReturnType<typeof verifyPodsStep>;
  let del: ReturnType<typeof deleteNamespaceStep>;

  beforeAll(async () => {
    kube = await new FakeKube().start();
    clients = createStepClients({ aws: {}, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    verify = withClients(verifyWorkloadsStep(), clients);
    legacy = withClients(verifyPodsStep(), clients);
    del = withClients(deleteNamespaceStep(), clients);
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.objects.clear();
    kube.calls.length = 0;
    kube.rolloutMs = 300;
    kube.namespaceTerminationMs = 200;
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0']);
    kube.addDeployment('production', 'billing', ['billing:3.1.0']);
  });

  describe('verify', () => {
    it('a namespace with finished CronJob pods (Succeeded) and an evicted pod verifies', async () => {
      kube.addCronJobPods('production', 'nightly-report', { succeeded: 3, failed: 1 });
      kube.addPod('production', 'billing-7d9f8-evicted', { phase: 'Failed', reason: 'Evicted', ownerKind: 'ReplicaSet', ownerName: 'billing-7d9f8' });
      // A CronJob's run in progress: its pod is not Ready, and it does not matter.
      kube.addPod('production', 'nightly-report-29261130-abcde', { phase: 'Running', ready: false, ownerKind: 'Job', ownerName: 'nightly-report-29261130' });
      const p = { namespace: 'production', minPods: 1 };
      expect(await verify.run(stepContext(), p)).toEqual({ pods: 6 });
      // The runbooks' older id is the same check.
      expect(legacy.id).toBe('k8s.verify-pods');
      expect(await legacy.run(stepContext(), p)).toEqual({ pods: 6 });
      expect(buildRegistry().get('k8s.verify-workloads')?.id).toBe('k8s.verify-workloads');
      expect(buildRegistry().get('k8s.verify-pods')?.id).toBe('k8s.verify-pods');
    });

    it('waits for restored workloads to come up (deployments, statefulsets), and the plan says what it checks', async () => {
      kube.addStatefulSet('production', 'ledger-db', { replicas: 2 });
      kube.namespaces.add('dr-drill-rwl00001');
      restoreInto(kube, 'production', 'dr-drill-rwl00001');
      const ctx = stepContext();
      expect(await verify.run(ctx, { namespace: 'dr-drill-rwl00001', minPods: 1 })).toEqual({ pods: 8 });
      expect(ctx.progressMessages.some((m) => /ledger-db 0\/2 available|api-gateway [0-2]\/3 available|spec update not observed/.test(m))).toBe(true);
      expect((await verify.plan(planContext(), { namespace: 'dr-drill-rwl00001', minPods: 1 }))[0]?.detail).toBe(
        'wait until every deployment, statefulset and daemonset in dr-drill-rwl00001 has its replicas available (at least 1 pod; finished and Job pods ignored) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
      );
    });

    it('names what is not available when it gives up', async () => {
      kube.rolloutMs = 60_000;
      await withClients(rolloutRestartStep(), clients).run(stepContext(), { namespace: 'production', deployments: ['billing'] });
      kube.addStatefulSet('production', 'ledger-db', { replicas: 3, readyMs: 60_000 });
      const failure = await failureOf(verify.run(stepContext({ timeoutMs: 1_200 }), { namespace: 'production', minPods: 1 }));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^gave up waiting for workloads in production: still billing 0\/3 available, ledger-db 0\/3 available after [\d.]+m?s$/);
    });

    it('a namespace with nothing to verify fails at once (nothing was restored), unless minPods is 0', async () => {
      kube.namespaces.add('dr-drill-rwl00002');
      kube.addCronJobPods('dr-drill-rwl00002', 'cleanup');
      expect(await failureOf(verify.run(stepContext(), { namespace: 'dr-drill-rwl00002', minPods: 1 }))).toEqual({
        message: 'namespace dr-drill-rwl00002 has no deployments, statefulsets, daemonsets or pods to verify: nothing was restored there',
        permanent: true,
      });
      expect(await verify.run(stepContext(), { namespace: 'dr-drill-rwl00002', minPods: 0 })).toEqual({ pods: 0 });
    });
  });

  describe('delete-namespace', () => {
    it('waits until the namespace is gone with everything in it; a second DELETE meanwhile (409) is progress; a re-entry after is done', async () => {
      kube.namespaces.add('dr-drill-rdel0001');
      restoreInto(kube, 'production', 'dr-drill-rdel0001');
      const ctx = stepContext();
      // Two executors of the step at once (a takeover): the second DELETE meets a terminating namespace.
      const [first, second] = await Promise.all([del.run(ctx, { namespace: 'dr-drill-rdel0001' }), del.run(stepContext({ attempt: 2 }), { namespace: 'dr-drill-rdel0001' })]);
      expect(first).toEqual({ deleted: true });
      expect(second).toEqual({ deleted: true });
      expect(kube.namespaces.has('dr-drill-rdel0001')).toBe(false);
      expect(kube.objectsIn('dr-drill-rdel0001')).toEqual([]);
      expect(ctx.progressMessages.some((m) => m.startsWith('waiting for namespace dr-drill-rdel0001 to be deleted: Terminating'))).toBe(true);
      expect(kube.callsMatching('GET', '/api/v1/namespaces/dr-drill-rdel0001').length).toBeGreaterThan(0);
      expect(await del.run(stepContext({ attempt: 3 }), { namespace: 'dr-drill-rdel0001' })).toEqual({ deleted: false });
    });

    it('a namespace held by a finalizer: progress and the failure say what holds it; released, it goes and a re-entry is done', async () => {
      kube.namespaces.add('dr-drill-rdel0002');
      kube.holdNamespace('dr-drill-rdel0002', 'kubernetes');
      const ctx = stepContext({ timeoutMs: 1_500 });
      const failure = await failureOf(del.run(ctx, { namespace: 'dr-drill-rdel0002' }));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(
        /^gave up waiting for namespace dr-drill-rdel0002 to be deleted: still Terminating, held by NamespaceContentRemaining: Some resources are remaining: .* has 1 resource instances; NamespaceFinalizersRemaining: Some content in the namespace has finalizers remaining: kubernetes in 1 resource instances; finalizers kubernetes after /,
      );
      expect(ctx.progressMessages.at(-1)).toContain('NamespaceFinalizersRemaining');
      kube.releaseNamespace('dr-drill-rdel0002');
      expect(await del.run(stepContext({ attempt: 2 }), { namespace: 'dr-drill-rdel0002' })).toEqual({ deleted: false });
      expect(kube.namespaces.has('dr-drill-rdel0002')).toBe(false);
    });
  });
});
