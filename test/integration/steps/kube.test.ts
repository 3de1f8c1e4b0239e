import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rolloutRestartStep, rolloutStatusStep, rolloutUndoStep } from '../../../src/steps/kube/rollout.ts';
import { updateSecretStep } from '../../../src/steps/kube/update-secret.ts';
import { DEFAULT_KUBE_SCOPE, kubeScope, type KubeScope } from '../../../src/steps/kube/scope.ts';
import { deleteNamespaceStep, verifyPodsStep } from '../../../src/steps/kube/namespace.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

describe('Kubernetes steps against a fake API server (real @kubernetes/client-node)', () => {
  let kube: FakeKube;
  let secret: ReturnType<typeof updateSecretStep>;
  let restart: ReturnType<typeof rolloutRestartStep>;
  let status: ReturnType<typeof rolloutStatusStep>;
  let undo: ReturnType<typeof rolloutUndoStep>;
  let clients: ReturnType<typeof createStepClients>;

  beforeAll(async () => {
    kube = await new FakeKube().start();
    clients = createStepClients({ aws: {}, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    secret = withClients(updateSecretStep(), clients);
    restart = withClients(rolloutRestartStep(), clients);
    status = withClients(rolloutStatusStep(), clients);
    undo = withClients(rolloutUndoStep(), clients);
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.secrets.clear();
    kube.calls.length = 0;
    kube.rolloutMs = 400;
    kube.addSecret('production', 'database-credentials', { host: 'old.cluster.rds.amazonaws.com', password: 'S3cr3t-db-pass' });
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.4.0', 'api-gateway:1.5.0', 'api-gateway:1.6.0-bad'], {
      changeCauses: ['release 1.4.0', 'release 1.5.0', 'release 1.6.0'],
    });
    kube.addDeployment('production', 'worker', ['worker:2.0.0']);
  });

  describe('k8s.update-secret', () => {
    const NEW_HOST = 'prod-aurora-dr-r1.cluster-abc123.us-east-1.rds.amazonaws.com';
    const p = () => secret.params.parse({ namespace: 'production', name: 'database-credentials', values: { host: NEW_HOST, port: 5432 } });

    it('plans naming the keys, never the values', async () => {
      const lines = await secret.plan(planContext(), p());
      expect(lines).toEqual([{ action: 'change', resource: 'secret production/database-credentials', detail: 'set host, port in secret production/database-credentials (values not shown) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)' }]);
      expect(JSON.stringify(lines)).not.toContain(NEW_HOST);
    });

    it('changes only what differs, records the keys, and a re-entry changes nothing', async () => {
      const out = await secret.run(stepContext(), p());
      expect(out).toEqual({ changedKeys: 'host,port' });
      expect(kube.secretValue('production', 'database-credentials', 'host')).toBe(NEW_HOST);
      expect(kube.secretValue('production', 'database-credentials', 'password')).toBe('S3cr3t-db-pass');
      const patches = kube.callsMatching('PATCH', '/secrets/database-credentials');
      expect(patches).toHaveLength(1);
      expect(patches[0]?.contentType).toBe('application/merge-patch+json');

      expect(await secret.run(stepContext({ attempt: 2 }), p())).toEqual({ changedKeys: '' });
      expect(kube.callsMatching('PATCH', '/secrets/')).toHaveLength(1);
    });

    it('refuses a secret that does not exist', async () => {
      const failure = await failureOf(secret.plan(planContext(), secret.params.parse({ namespace: 'production', name: 'db-creds', values: { host: 'x' } })));
      expect(failure).toEqual({ message: 'there is no secret production/db-creds', permanent: true });
    });
  });

  describe('k8s.rollout-restart and k8s.rollout-status', () => {
    it('restarts with the restartedAt annotation (strategic merge), once, and waits for the rollout', async () => {
      const p = restart.params.parse({ namespace: 'production', deployments: ['*'] });
      const planned = planContext();
      expect((await restart.plan(planned, p)).map((l) => l.detail)).toEqual([
        'rolling restart of production/api-gateway (3 replicas) (* pinned: api-gateway, worker) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
        'rolling restart of production/worker (3 replicas)',
      ]);
      // The approved run restarts exactly what the plan showed, not what `*` finds later.
      expect(planned.pins).toEqual({ deployments: ['api-gateway', 'worker'] });
      const out = await restart.run(stepContext(), p);
      expect(out).toEqual({ restarted: 'api-gateway,worker' });
      const patches = kube.callsMatching('PATCH', '/deployments/');
      expect(patches).toHaveLength(2);
      expect(patches[0]?.contentType).toBe('application/strategic-merge-patch+json');
      expect(JSON.stringify(patches[0]?.body)).toContain('kubectl.kubernetes.io/restartedAt');

      await restart.run(stepContext({ attempt: 2 }), p);
      expect(kube.callsMatching('PATCH', '/deployments/')).toHaveLength(2);

      const ctx = stepContext();
      expect(await status.run(ctx, status.params.parse({ namespace: 'production', deployments: ['*'] }))).toEqual({ ready: 'api-gateway,worker' });
      expect(ctx.progressMessages.some((m) => /new replicas updated|observed|pending termination|available/.test(m))).toBe(true);
    });

    it('two executors of one run racing (a takeover from a stalled worker): the deployment restarts once', async () => {
      const p = restart.params.parse({ namespace: 'production', deployments: ['worker'] });
      const before = kube.deployments.get('production/worker')?.generation ?? 0;
      // Both read the deployment before either patches; the second patch names a stale resourceVersion.
      const results = await Promise.allSettled([restart.run(stepContext(), p), restart.run(stepContext(), p)]);
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      expect(refused.every((r) => r.includes('HTTP 409'))).toBe(true);
      // The engine retries a 409: the re-read finds this run's own restart and changes nothing.
      expect(await restart.run(stepContext({ attempt: 2 }), p)).toEqual({ restarted: 'worker' });
      expect(kube.deployments.get('production/worker')?.generation).toBe(before + 1);
    });

    it('refuses unknown deployments (listing those that exist) and paused ones', async () => {
      expect((await failureOf(restart.plan(planContext(), restart.params.parse({ namespace: 'production', deployments: ['api'] })))).message).toBe(
        'no deployment api in namespace production (deployments there: api-gateway, worker)',
      );
      const d = kube.deployments.get('production/worker');
      if (d) d.paused = true;
      expect((await failureOf(restart.plan(planContext(), restart.params.parse({ namespace: 'production', deployments: ['worker'] })))).message).toBe(
        "can't restart paused deployment worker: resume it first",
      );
    });

    it('fails with the deployment\'s own message when the rollout exceeds its progress deadline', async () => {
      const d = kube.deployments.get('production/api-gateway');
      if (d) d.progressDeadlineExceeded = true;
      const failure = await failureOf(status.run(stepContext(), status.params.parse({ namespace: 'production', deployments: ['api-gateway'] })));
      expect(failure).toEqual({ message: 'deployment api-gateway exceeded its progress deadline: ReplicaSet "api-gateway-x" has timed out progressing.', permanent: true });
    });

    it('fails cleanly when the rollout does not finish before the step deadline', async () => {
      kube.rolloutMs = 60_000;
      await restart.run(stepContext(), restart.params.parse({ namespace: 'production', deployments: ['worker'] }));
      const failure = await failureOf(status.run(stepContext({ timeoutMs: 1_200 }), status.params.parse({ namespace: 'production', deployments: ['worker'] })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^gave up waiting for rollouts in production: still worker: \d of 3 new replicas updated after [\d.]+m?s$/);
    });
  });

  describe('k8s.rollout-undo', () => {
    it('plans the previous revision with its image and change cause', async () => {
      const lines = await undo.plan(planContext(), undo.params.parse({ namespace: 'production', deployment: 'api-gateway' }));
      expect(lines[0]?.detail).toBe(
        'roll back production/api-gateway from revision 3 (api-gateway:1.6.0-bad) to revision 2 (api-gateway:1.5.0, release 1.5.0) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
      );
    });

    it('refuses a revision that does not exist, listing those that do', async () => {
      const failure = await failureOf(undo.plan(planContext(), undo.params.parse({ namespace: 'production', deployment: 'api-gateway', toRevision: 7 })));
      expect(failure.message).toBe(
        'deployment production/api-gateway has no revision 7; its revisions are: 3 (api-gateway:1.6.0-bad, release 1.6.0); 2 (api-gateway:1.5.0, release 1.5.0); 1 (api-gateway:1.4.0, release 1.4.0)',
      );
      expect((await failureOf(undo.plan(planContext(), undo.params.parse({ namespace: 'production', deployment: 'worker' })))).message).toContain(
        'has no previous revision to roll back to',
      );
    });

    it('rolls back as kubectl does (JSON patch of the old template without pod-template-hash), once', async () => {
      const p = undo.params.parse({ namespace: 'production', deployment: 'api-gateway', toRevision: 1 });
      const out = await undo.run(stepContext(), p);
      expect(out).toEqual({ revision: 1, images: 'api-gateway:1.4.0' });
      const [patch] = kube.callsMatching('PATCH', '/deployments/api-gateway');
      expect(patch?.contentType).toBe('application/json-patch+json');
      const ops = patch?.body as { op: string; path: string; value: { metadata?: { labels?: Record<string, string> } } }[];
      expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual(['replace /spec/template', 'replace /metadata/annotations']);
      expect(ops[0]?.value.metadata?.labels).toEqual({ app: 'api-gateway' });
      expect(JSON.stringify(kube.deployments.get('production/api-gateway')?.template)).toContain('api-gateway:1.4.0');
      expect(kube.deployments.get('production/api-gateway')?.annotations['deployment.kubernetes.io/revision']).toBe('4');

      expect(await undo.run(stepContext({ attempt: 2 }), p)).toEqual({ revision: 4, images: 'api-gateway:1.4.0' });
      expect(kube.callsMatching('PATCH', '/deployments/')).toHaveLength(1);
    });
  });
  describe('blast radius: namespaces, Secrets and deployments outside the allow-lists are refused at plan and at run', () => {
    const SYSTEM_PASSWORD = 'kube-system-secret-value';
    const steps = (scope: KubeScope) => ({
      secret: withClients(updateSecretStep(scope), clients),
      restart: withClients(rolloutRestartStep(scope), clients),
      status: withClients(rolloutStatusStep(scope), clients),
      undo: withClients(rolloutUndoStep(scope), clients),
      pods: withClients(verifyPodsStep(scope), clients),
      del: withClients(deleteNamespaceStep(scope), clients),
    });
    const systemCalls = () => kube.calls.filter((c) => c.path.includes('/namespaces/kube-system'));
    const writes = () => kube.calls.filter((c) => c.method !== 'GET');

    beforeEach(() => {
      kube.addSecret('kube-system', 'database-credentials', { host: 'etcd.internal', password: SYSTEM_PASSWORD });
      kube.addDeployment('kube-system', 'coredns', ['coredns:1.11.1', 'coredns:1.11.3']);
      kube.addDeployment('kube-system', 'aws-load-balancer-controller', ['aws-load-balancer-controller:2.8.0']);
    });

    it('by default (K8S_ALLOWED_NAMESPACES=*): a kube-system Secret or deployment is refused before any call, and nothing is patched', async () => {
      const s = steps(DEFAULT_KUBE_SCOPE);
      const before = [...kube.deployments.values()].map((d) => `${d.namespace}/${d.name}@${d.resourceVersion}`);
      const refusal = /^namespace kube-system is a system namespace, refused by K8S_ALLOWED_NAMESPACES=\* \(system namespaces: kube-system, .*\); to allow it, add kube-system to K8S_ALLOWED_NAMESPACES \(kubernetes\.allowedNamespaces\)$/;
      const secretParams = s.secret.params.parse({ namespace: 'kube-system', name: 'database-credentials', values: { host: 'attacker.example.com' } });
      const all = s.restart.params.parse({ namespace: 'kube-system', deployments: ['*'] });
      const one = s.undo.params.parse({ namespace: 'kube-system', deployment: 'coredns' });
      const attempts: Promise<unknown>[] = [
        s.secret.plan(planContext(), secretParams),
        s.secret.run(stepContext(), secretParams),
        s.restart.plan(planContext(), all),
        s.restart.run(stepContext(), all),
        s.restart.run(stepContext(), s.restart.params.parse({ namespace: 'kube-system', deployments: ['coredns'] })),
        s.status.plan(planContext(), all),
        s.status.run(stepContext(), all),
        s.undo.plan(planContext(), one),
        s.undo.run(stepContext(), one),
        s.pods.plan(planContext(), s.pods.params.parse({ namespace: 'kube-system' })),
        s.pods.run(stepContext(), s.pods.params.parse({ namespace: 'kube-system' })),
      ];
      for (const attempt of attempts) {
        const failure = await failureOf(attempt);
        expect(failure.permanent).toBe(true);
        expect(failure.message).toMatch(refusal);
      }
      // Not one request reached kube-system, nothing was written anywhere, and the fake's state is as it was.
      expect(systemCalls()).toEqual([]);
      expect(writes()).toEqual([]);
      expect(kube.secretValue('kube-system', 'database-credentials', 'host')).toBe('etcd.internal');
      expect([...kube.deployments.values()].map((d) => `${d.namespace}/${d.name}@${d.resourceVersion}`)).toEqual(before);
    });

    it("a target's own Velero namespace is a system namespace too, even when VELERO_NAMESPACE names another", async () => {
      kube.addDeployment('velero-dr', 'velero', ['velero:1.14.0']);
      const onDr = createStepClients({ aws: {}, kubernetes: { kubeconfig: kube.writeKubeconfig(), veleroNamespace: 'velero-dr' } });
      const restart = withClients(rolloutRestartStep(DEFAULT_KUBE_SCOPE), onDr);
      const p = restart.params.parse({ namespace: 'velero-dr', deployments: ['velero'] });
      for (const attempt of [restart.plan(planContext(), p), restart.run(stepContext(), p)]) {
        const failure = await failureOf(attempt);
        expect(failure.permanent).toBe(true);
        expect(failure.message).toMatch(/^namespace velero-dr is a system namespace, refused by K8S_ALLOWED_NAMESPACES=\* \(system namespaces: .*velero-dr.*\)/);
      }
      expect(kube.calls.filter((c) => c.path.includes('/namespaces/velero-dr'))).toEqual([]);
    });

    it('a system namespace named exactly is allowed, and the plan says so', async () => {
      const s = steps(kubeScope({ allowedNamespaces: ['production', 'kube-system'] }));
      const lines = await s.restart.plan(planContext(), s.restart.params.parse({ namespace: 'kube-system', deployments: ['coredns'] }));
      expect(lines.map((l) => l.detail)).toEqual(['rolling restart of kube-system/coredns (3 replicas) (allowed: system namespace kube-system named in K8S_ALLOWED_NAMESPACES)']);
      // A glob is not a name.
      const globbed = steps(kubeScope({ allowedNamespaces: ['kube-*'] }));
      expect((await failureOf(globbed.restart.plan(planContext(), globbed.restart.params.parse({ namespace: 'kube-system', deployments: ['coredns'] })))).message).toMatch(
        /^namespace kube-system is a system namespace, refused by K8S_ALLOWED_NAMESPACES=kube-\*/,
      );
    });

    it('an explicit namespace list replaces the default: other namespaces are refused, drills included', async () => {
      const s = steps(kubeScope({ allowedNamespaces: ['production'] }));
      expect((await s.pods.plan(planContext(), s.pods.params.parse({ namespace: 'production' })))[0]?.detail).toBe(
        'wait until at least 1 pod in production is running and ready (allowed: K8S_ALLOWED_NAMESPACES=production)',
      );
      kube.namespaces.add('dr-drill-rscope01');
      const failure = await failureOf(s.del.plan(planContext(), s.del.params.parse({ namespace: 'dr-drill-rscope01' })));
      expect(failure).toEqual({
        message: 'namespace dr-drill-rscope01 is not allowed by K8S_ALLOWED_NAMESPACES=production; to allow it, add it to K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces)',
        permanent: true,
      });
      expect((await failureOf(s.del.run(stepContext(), s.del.params.parse({ namespace: 'dr-drill-rscope01' })))).message).toMatch(/^namespace dr-drill-rscope01 is not allowed/);
      expect(kube.namespaces.has('dr-drill-rscope01')).toBe(true);
      expect(writes()).toEqual([]);
      // The drill prefix rule still applies to allowed namespaces.
      expect(s.del.params.safeParse({ namespace: 'production' }).success).toBe(false);
    });

    it('deployments: ["*"] — every deployment found must match K8S_ALLOWED_DEPLOYMENTS; one outside it refuses the whole step, nothing restarted', async () => {
      const s = steps(kubeScope({ allowedDeployments: ['api-*'] }));
      const all = s.restart.params.parse({ namespace: 'production', deployments: ['*'] });
      const refusal =
        'deployment production/worker is not allowed by K8S_ALLOWED_DEPLOYMENTS=api-*; to allow it, add worker or production/worker to K8S_ALLOWED_DEPLOYMENTS (kubernetes.allowedDeployments)';
      expect(await failureOf(s.restart.plan(planContext(), all))).toEqual({ message: refusal, permanent: true });
      expect(await failureOf(s.restart.run(stepContext(), all))).toEqual({ message: refusal, permanent: true });
      expect(await failureOf(s.status.plan(planContext(), s.status.params.parse({ namespace: 'production', deployments: ['*'] })))).toEqual({ message: refusal, permanent: true });
      expect(kube.callsMatching('PATCH', '/deployments/')).toEqual([]);
      // Named ones that match are fine, and the plan shows the limit.
      const lines = await s.restart.plan(planContext(), s.restart.params.parse({ namespace: 'production', deployments: ['api-gateway'] }));
      expect(lines[0]?.detail).toBe('rolling restart of production/api-gateway (3 replicas) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded; K8S_ALLOWED_DEPLOYMENTS=api-*)');
      expect((await failureOf(s.undo.run(stepContext(), s.undo.params.parse({ namespace: 'production', deployment: 'worker' })))).message).toBe(refusal);
      expect(writes()).toEqual([]);
    });

    it('Secrets outside K8S_ALLOWED_SECRETS are refused; the plan names the list', async () => {
      kube.addSecret('production', 'tls-cert', { 'tls.key': 'k' });
      const s = steps(kubeScope({ allowedSecrets: ['production/database-credentials'] }));
      const lines = await s.secret.plan(planContext(), s.secret.params.parse({ namespace: 'production', name: 'database-credentials', values: { host: 'h' } }));
      expect(lines[0]?.detail).toBe(
        'set host in secret production/database-credentials (values not shown) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded; K8S_ALLOWED_SECRETS=production/database-credentials)',
      );
      const p = s.secret.params.parse({ namespace: 'production', name: 'tls-cert', values: { 'tls.key': 'x' } });
      expect((await failureOf(s.secret.plan(planContext(), p))).message).toBe(
        'secret production/tls-cert is not allowed by K8S_ALLOWED_SECRETS=production/database-credentials; to allow it, add tls-cert or production/tls-cert to K8S_ALLOWED_SECRETS (kubernetes.allowedSecrets)',
      );
      expect((await failureOf(s.secret.run(stepContext(), p))).permanent).toBe(true);
      expect(kube.secretValue('production', 'tls-cert', 'tls.key')).toBe('k');
      expect(writes()).toEqual([]);
    });

    it('a namespace from an earlier step: the plan says it is checked when it runs, and run() refuses kube-system without patching', async () => {
      const s = steps(DEFAULT_KUBE_SCOPE);
      // While planning, the engine passes a placeholder for an output not produced yet.
      const planned = { namespace: '‹steps.lookup.outputs.namespace›', name: 'database-credentials', values: { host: 'h' } } as unknown as Parameters<typeof s.secret.plan>[1];
      const lines = await s.secret.plan(planContext(), planned);
      expect(lines[0]?.detail).toContain('(allowed: K8S_ALLOWED_NAMESPACES=*; K8S_ALLOWED_SECRETS=*, checked when it runs)');
      const restartPlanned = { namespace: '‹steps.lookup.outputs.namespace›', deployments: ['*'] };
      expect((await s.restart.plan(planContext(), restartPlanned))[0]?.detail).toContain('checked when it runs');

      const resolved = s.secret.params.parse({ namespace: 'kube-system', name: 'database-credentials', values: { host: 'attacker.example.com' } });
      expect((await failureOf(s.secret.run(stepContext(), resolved))).message).toMatch(/^namespace kube-system is a system namespace/);
      expect((await failureOf(s.restart.run(stepContext(), s.restart.params.parse({ namespace: 'kube-system', deployments: ['*'] })))).message).toMatch(/^namespace kube-system is a system namespace/);
      expect(systemCalls()).toEqual([]);
      expect(writes()).toEqual([]);
      expect(kube.secretValue('kube-system', 'database-credentials', 'password')).toBe(SYSTEM_PASSWORD);
    });
  });
});
