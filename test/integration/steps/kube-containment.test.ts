import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isolateNamespaceStep, liftIsolationStep } from '../../../src/steps/kube/isolate.ts';
import { scaleRestoreStep, scaleToZeroStep } from '../../../src/steps/kube/scale.ts';
import { DEFAULT_KUBE_SCOPE, kubeScope, type KubeScope } from '../../../src/steps/kube/scope.ts';
import type { Obj } from '../../support/fake-velero.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { resourceByPath } from '../../support/kube/objects.ts';
import { createStepClients, failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

const policyType = resourceByPath('networking.k8s.io', 'v1', 'networkpolicies');
const metadataOf = (o: Obj | undefined) => (o?.metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string>; uid?: string };

describe('Security breach containment: k8s.isolate-namespace, k8s.lift-isolation, k8s.scale-to-zero, k8s.scale-restore', () => {
  let kube: FakeKube;
  let clients: ReturnType<typeof createStepClients>;

  const steps = (scope: KubeScope = DEFAULT_KUBE_SCOPE) => ({
    isolate: withClients(isolateNamespaceStep(scope), clients),
    lift: withClients(liftIsolationStep(scope), clients),
    scale: withClients(scaleToZeroStep(scope), clients),
    restore: withClients(scaleRestoreStep(scope), clients),
  });
  const writes = () => kube.calls.filter((c) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(c.method));
  const policy = () => (policyType ? kube.objects.get(policyType, 'production', 'dr-chatops-isolate') : undefined);
  const annotations = (name: string) => kube.deployments.get(`production/${name}`)?.annotations ?? {};
  const podsOf = (name: string) => kube.objects.list(resourceByPath('', 'v1', 'pods') ?? { group: '', version: 'v1', resource: 'pods', kind: 'Pod' }, 'production').filter((p) => metadataOf(p).labels?.app === name);

  beforeAll(async () => {
    kube = await new FakeKube().start();
    clients = createStepClients({ aws: {}, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.deployments.clear();
    kube.replicaSets.length = 0;
    kube.objects.clear();
    kube.calls.length = 0;
    kube.podTerminationMs = 300;
    kube.addDeployment('production', 'api', ['api:1.0.0'], { replicas: 3 });
    kube.addDeployment('production', 'worker', ['worker:2.0.0'], { replicas: 2 });
    kube.addDeployment('kube-system', 'coredns', ['coredns:1.11.3']);
    kube.namespaces.add('staging');
  });

  describe('k8s.isolate-namespace and k8s.lift-isolation', () => {
    const ns = { namespace: 'production' };

    it('plans the deny-all: every pod loses its traffic, only with an enforcing CNI, and how to reverse it', async () => {
      const { isolate } = steps();
      kube.addPod('production', 'debug-shell', { labels: { app: 'debug' } });
      kube.addObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-ingress-nginx', namespace: 'production' }, spec: { podSelector: {}, ingress: [{}] } });
      expect(await isolate.plan(planContext(), isolate.params.parse(ns))).toEqual([
        {
          action: 'create',
          resource: 'networkpolicy production/dr-chatops-isolate',
          detail:
            'create NetworkPolicy dr-chatops-isolate (podSelector {}, policyTypes Ingress and Egress, no rules): every pod in production loses all network traffic in and out, DNS included ' +
            '(6 pods there now; its other NetworkPolicies still allow what they allow (policies add up), delete them too for a full isolation: allow-ingress-nginx); ' +
            'it only takes effect where the cluster’s CNI enforces NetworkPolicies (the VPC CNI with network policy enabled, Calico, Cilium…); ' +
            'reverse: k8s.lift-isolation, or kubectl delete networkpolicy dr-chatops-isolate -n production (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
        },
      ]);
      expect(writes()).toEqual([]);
    });

    it('creates the policy once, marked with the run; a re-entry adopts it, and the plan then says it is there', async () => {
      const { isolate } = steps();
      expect(await isolate.run(stepContext({ runId: 'rbreach01' }), isolate.params.parse(ns))).toEqual({ policy: 'production/dr-chatops-isolate', created: true });
      const stored = policy();
      expect(stored?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      expect(metadataOf(stored).labels).toEqual({ 'app.kubernetes.io/managed-by': 'dr-chatops', 'dr-chatops/isolated-by': 'rbreach01' });
      expect(metadataOf(stored).annotations?.['dr-chatops/isolated-by']).toBe('rbreach01');
      expect(metadataOf(stored).annotations?.['dr-chatops/isolated-at']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      const posts = kube.callsMatching('POST', '/networkpolicies');
      expect(posts.map((c) => c.path)).toEqual(['/apis/networking.k8s.io/v1/namespaces/production/networkpolicies?fieldManager=dr-chatops']);

      // A worker that died before the checkpoint was stored enters again: nothing is created twice.
      expect(await isolate.run(stepContext({ runId: 'rbreach01', attempt: 2 }), isolate.params.parse(ns))).toEqual({ policy: 'production/dr-chatops-isolate', created: false });
      expect(kube.callsMatching('POST', '/networkpolicies')).toHaveLength(1);
      const [line] = await isolate.plan(planContext('rbreach02'), isolate.params.parse(ns));
      expect(line?.action).toBe('check');
      expect(line?.detail).toMatch(/^NetworkPolicy production\/dr-chatops-isolate already denies all traffic \(made by run rbreach01\): adopted, nothing created; 5 pods there now/);
    });

    it('refuses a policy of that name someone else made with other rules, in the plan and the run, and changes nothing', async () => {
      const { isolate, lift } = steps();
      kube.addObject({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'dr-chatops-isolate', namespace: 'production', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
        spec: { podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] },
      });
      kube.calls.length = 0;
      const refusal =
        'NetworkPolicy production/dr-chatops-isolate exists and was made by someone else (app.kubernetes.io/managed-by=Helm) with other rules ' +
        '(pods app=api, policyTypes Ingress, 1 ingress rule, 0 egress rules): the bot neither adopts nor replaces it; rename or delete it, then isolate again';
      expect(await failureOf(isolate.plan(planContext(), isolate.params.parse(ns)))).toEqual({ message: refusal, permanent: true });
      expect(await failureOf(isolate.run(stepContext(), isolate.params.parse(ns)))).toEqual({ message: refusal, permanent: true });
      // The lift deletes only the bot's own policy.
      const notOurs =
        'NetworkPolicy production/dr-chatops-isolate was not made by this bot (no label app.kubernetes.io/managed-by=dr-chatops): not deleted, and production stays isolated until whoever made it deletes it (kubectl delete networkpolicy dr-chatops-isolate -n production)';
      expect(await failureOf(lift.plan(planContext(), lift.params.parse(ns)))).toEqual({ message: notOurs, permanent: true });
      expect(await failureOf(lift.run(stepContext(), lift.params.parse(ns)))).toEqual({ message: notOurs, permanent: true });
      expect(writes()).toEqual([]);
      expect(metadataOf(policy()).labels).toEqual({ 'app.kubernetes.io/managed-by': 'Helm' });
    });

    it('adopts someone else’s identical deny-all as it is, and says the lift will leave it', async () => {
      const { isolate } = steps();
      kube.addObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'dr-chatops-isolate', namespace: 'production' }, spec: { podSelector: {}, policyTypes: ['Egress', 'Ingress'] } });
      const [line] = await isolate.plan(planContext(), isolate.params.parse(ns));
      expect(line?.detail).toMatch(/^NetworkPolicy production\/dr-chatops-isolate already denies all traffic but was not made by this bot .*: adopted as it is; k8s.lift-isolation will not delete it;/);
      expect(await isolate.run(stepContext(), isolate.params.parse(ns))).toEqual({ policy: 'production/dr-chatops-isolate', created: false });
      expect(writes()).toEqual([]);
    });

    it('refuses namespaces the bot may not change, before any call: a system namespace by default, any other outside K8S_ALLOWED_NAMESPACES', async () => {
      const byDefault = steps();
      const onlyProduction = steps(kubeScope({ allowedNamespaces: ['production'] }));
      const cases: [ReturnType<typeof steps>, string, RegExp][] = [
        [byDefault, 'kube-system', /^namespace kube-system is a system namespace, refused by K8S_ALLOWED_NAMESPACES=\*/],
        [onlyProduction, 'staging', /^namespace staging is not allowed by K8S_ALLOWED_NAMESPACES=production; to allow it, add it to K8S_ALLOWED_NAMESPACES/],
      ];
      for (const [s, namespace, refusal] of cases) {
        for (const attempt of [s.isolate.plan(planContext(), { namespace }), s.isolate.run(stepContext(), { namespace }), s.lift.plan(planContext(), { namespace }), s.lift.run(stepContext(), { namespace })]) {
          const failure = await failureOf(attempt);
          expect(failure.permanent).toBe(true);
          expect(failure.message).toMatch(refusal);
        }
      }
      expect(kube.calls).toEqual([]);
    });

    it('refuses a namespace that does not exist in the plan', async () => {
      const { isolate } = steps();
      expect(await failureOf(isolate.plan(planContext(), { namespace: 'prodution' }))).toEqual({ message: 'there is no namespace prodution', permanent: true });
    });

    it('lifts only its own policy, with its uid and resourceVersion as preconditions; a second lift finds nothing to do', async () => {
      const { isolate, lift } = steps();
      await isolate.run(stepContext({ runId: 'rbreach01' }), isolate.params.parse(ns));
      const uid = metadataOf(policy()).uid;
      const [line] = await lift.plan(planContext('rlift0001'), lift.params.parse(ns));
      expect(line?.action).toBe('delete');
      expect(line?.detail).toMatch(
        /^delete NetworkPolicy dr-chatops-isolate \(made by run rbreach01 at \S+Z\): pods in production get their network traffic back \(as far as its other NetworkPolicies allow\); k8s.isolate-namespace isolates it again \(allowed: /,
      );
      expect(await lift.run(stepContext({ runId: 'rlift0001' }), lift.params.parse(ns))).toEqual({ deleted: true });
      expect(policy()).toBeUndefined();
      const [del] = kube.callsMatching('DELETE', '/networkpolicies/dr-chatops-isolate');
      expect((del?.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid).toBe(uid);

      expect(await lift.run(stepContext({ runId: 'rlift0001', attempt: 2 }), lift.params.parse(ns))).toEqual({ deleted: false });
      expect((await lift.plan(planContext(), lift.params.parse(ns)))[0]?.detail).toMatch(/^delete NetworkPolicy dr-chatops-isolate if this bot made it \(an earlier step of this run may create it; there is none now, so if none is there then, nothing is lifted\)/);
    });

    it('the fake refuses what the API server refuses: no podSelector, an unknown policy type, a stale delete precondition', async () => {
      const post = async (spec: object) => {
        const res = await fetch(`${kube.url}/apis/networking.k8s.io/v1/namespaces/production/networkpolicies`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec }),
        });
        return { code: res.status, body: (await res.json()) as { reason?: string; message?: string } };
      };
      const noSelector = await post({ policyTypes: ['Ingress'] });
      expect(noSelector.code).toBe(422);
      expect(noSelector.body.message).toBe('NetworkPolicy.networking.k8s.io "p" is invalid: spec.podSelector: Required value');
      const sideways = await post({ podSelector: {}, policyTypes: ['Ingress', 'Sideways'] });
      expect(sideways.code).toBe(422);
      expect(sideways.body.message).toContain('spec.policyTypes[1]');
      expect((await post({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] })).code).toBe(201);
      const stale = await fetch(`${kube.url}/apis/networking.k8s.io/v1/namespaces/production/networkpolicies/p`, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ preconditions: { uid: 'someone-elses' } }),
      });
      expect(stale.status).toBe(409);
      expect(((await stale.json()) as { message: string }).message).toMatch(/^Operation cannot be fulfilled on networkpolicies.networking.k8s.io "p": Precondition failed: UID in precondition: someone-elses, UID in object meta: /);
    });
  });

  describe('k8s.scale-to-zero and k8s.scale-restore', () => {
    const both = { namespace: 'production', deployments: ['api', 'worker'] };

    it('plans each deployment with its current replicas and how to put them back', async () => {
      const { scale } = steps();
      expect((await scale.plan(planContext(), scale.params.parse(both))).map((l) => [l.action, l.resource, l.detail])).toEqual([
        [
          'change',
          'deployment production/api',
          'scale production/api from 3 replicas to 0 and wait until its pods are gone; the deployment is kept (for forensics), annotated dr-chatops/replicas-before=3; ' +
            'reverse: k8s.scale-restore, or kubectl scale deployment api -n production --replicas=3 (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
        ],
        [
          'change',
          'deployment production/worker',
          'scale production/worker from 2 replicas to 0 and wait until its pods are gone; the deployment is kept (for forensics), annotated dr-chatops/replicas-before=2; ' +
            'reverse: k8s.scale-restore, or kubectl scale deployment worker -n production --replicas=2',
        ],
      ]);
    });

    it('records the count, scales through the scale subresource, keeps the deployment and waits until its pods are gone', async () => {
      const { scale } = steps();
      const ctx = stepContext({ runId: 'rbreach01' });
      expect(await scale.run(ctx, scale.params.parse(both))).toEqual({ scaled: 'api,worker' });
      expect(kube.deployments.get('production/api')?.replicas).toBe(0);
      expect(annotations('api')).toMatchObject({ 'dr-chatops/replicas-before': '3', 'dr-chatops/scaled-by': 'rbreach01' });
      expect(annotations('worker')).toMatchObject({ 'dr-chatops/replicas-before': '2', 'dr-chatops/scaled-by': 'rbreach01' });
      const puts = kube.callsMatching('PUT', '/deployments/api/scale');
      expect(puts).toHaveLength(1);
      expect(puts[0]?.body).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'api', namespace: 'production' }, spec: { replicas: 0 } });
      // The pods were seen terminating, and the step ended only once they were gone.
      expect(ctx.progressMessages.some((m) => /api: 3 pods left \(3 terminating\)/.test(m))).toBe(true);
      const pods = await fetch(`${kube.url}/api/v1/namespaces/production/pods?labelSelector=app%3Dapi`).then((r) => r.json() as Promise<{ items: unknown[] }>);
      expect(pods.items).toEqual([]);
      expect(podsOf('api')).toEqual([]);
    });

    it('entered again, it keeps the first count instead of recording 0, and scales nothing twice', async () => {
      const { scale } = steps();
      await scale.run(stepContext({ runId: 'rbreach01' }), scale.params.parse(both));
      const putsBefore = kube.callsMatching('PUT', '/scale').length;
      expect(await scale.run(stepContext({ runId: 'rbreach01', attempt: 2 }), scale.params.parse(both))).toEqual({ scaled: 'api,worker' });
      // A later run (another breach) finds them at zero and keeps the original counts too.
      await scale.run(stepContext({ runId: 'rbreach02' }), scale.params.parse(both));
      expect(annotations('api')).toMatchObject({ 'dr-chatops/replicas-before': '3', 'dr-chatops/scaled-by': 'rbreach01' });
      expect(kube.callsMatching('PUT', '/scale')).toHaveLength(putsBefore);
      expect((await scale.plan(planContext(), scale.params.parse(both)))[0]?.detail).toMatch(
        /^production\/api is at 0 replicas already: nothing to do \(its dr-chatops\/replicas-before=3 is kept for k8s.scale-restore\)/,
      );
    });

    it('restores the recorded counts and removes the record; a second restore changes nothing', async () => {
      const { scale, restore } = steps();
      await scale.run(stepContext({ runId: 'rbreach01' }), scale.params.parse(both));
      const all = restore.params.parse({ namespace: 'production', deployments: ['*'] });
      const plan = planContext('rrestore1');
      expect((await restore.plan(plan, all)).map((l) => l.detail)).toEqual([
        'scale production/api from 0 replicas back to 3 (dr-chatops/replicas-before, recorded by run rbreach01), then remove the annotation; k8s.rollout-status waits for the pods (* pinned: api, worker) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
        'scale production/worker from 0 replicas back to 2 (dr-chatops/replicas-before, recorded by run rbreach01), then remove the annotation; k8s.rollout-status waits for the pods',
      ]);
      expect(plan.pins).toEqual({ deployments: ['api', 'worker'] });
      expect(await restore.run(stepContext({ runId: 'rrestore1' }), restore.params.parse({ namespace: 'production', deployments: ['api', 'worker'] }))).toEqual({ restored: 'api,worker' });
      expect(kube.deployments.get('production/api')?.replicas).toBe(3);
      expect(kube.deployments.get('production/worker')?.replicas).toBe(2);
      expect(annotations('api')['dr-chatops/replicas-before']).toBeUndefined();
      expect(annotations('api')['dr-chatops/scaled-by']).toBeUndefined();

      const puts = kube.callsMatching('PUT', '/scale').length;
      expect(await restore.run(stepContext({ runId: 'rrestore2' }), restore.params.parse({ namespace: 'production', deployments: ['api'] }))).toEqual({ restored: '' });
      expect(kube.callsMatching('PUT', '/scale')).toHaveLength(puts);
      expect((await restore.plan(planContext(), restore.params.parse({ namespace: 'production', deployments: ['api'] })))[0]?.detail).toMatch(
        /^production\/api has no dr-chatops\/replicas-before annotation \(not scaled down by this bot, or restored already\): left at 3 replicas/,
      );
    });

    it('refuses deployments the bot may not change, before any write', async () => {
      const onlyWorker = steps(kubeScope({ allowedNamespaces: ['production'], allowedDeployments: ['worker'] }));
      for (const attempt of [onlyWorker.scale.plan(planContext(), onlyWorker.scale.params.parse(both)), onlyWorker.scale.run(stepContext(), onlyWorker.scale.params.parse(both))]) {
        expect(await failureOf(attempt)).toEqual({
          message: 'deployment production/api is not allowed by K8S_ALLOWED_DEPLOYMENTS=worker; to allow it, add api or production/api to K8S_ALLOWED_DEPLOYMENTS (kubernetes.allowedDeployments)',
          permanent: true,
        });
      }
      const failure = await failureOf(steps().scale.run(stepContext(), { namespace: 'kube-system', deployments: ['coredns'] }));
      expect(failure.message).toMatch(/^namespace kube-system is a system namespace/);
      expect(writes()).toEqual([]);
      expect(kube.deployments.get('kube-system/coredns')?.replicas).toBe(3);
    });

    it('the fake’s scale subresource answers as the API server: a Scale read, a merge patch, and refusals of a stale version, a wrong name and a negative count', async () => {
      const url = `${kube.url}/apis/apps/v1/namespaces/production/deployments/api/scale`;
      const scaleRead = (await fetch(url).then((r) => r.json())) as { kind: string; metadata: { resourceVersion: string }; spec: { replicas: number }; status: { selector: string } };
      expect(scaleRead).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 3 }, status: { replicas: 3, selector: 'app=api' } });
      const send = async (method: string, body: object, contentType = 'application/json') => {
        const res = await fetch(url, { method, headers: { 'content-type': contentType }, body: JSON.stringify(body) });
        return { code: res.status, message: ((await res.json()) as { message?: string }).message };
      };
      expect(await send('PUT', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'api', resourceVersion: '1' }, spec: { replicas: 1 } })).toEqual({
        code: 409,
        message: 'Operation cannot be fulfilled on deployments.apps "api": the object has been modified; please apply your changes to the latest version and try again',
      });
      expect(await send('PUT', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 1 } })).toEqual({ code: 400, message: 'the name of the object (web) does not match the name on the URL (api)' });
      expect(await send('PATCH', { spec: { replicas: -1 } }, 'application/merge-patch+json')).toEqual({
        code: 422,
        message: 'Scale.autoscaling "api" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      });
      expect((await send('PATCH', { spec: { replicas: 1 } }, 'application/merge-patch+json')).code).toBe(200);
      expect(kube.deployments.get('production/api')?.replicas).toBe(1);
    });
  });
});
