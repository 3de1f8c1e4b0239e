import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyOutsideZoneStep } from '../../../src/steps/kube/outside-zone.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const A0 = 'ip-10-0-1-10.ec2.internal';
const B0 = 'ip-10-0-2-10.ec2.internal';

/**
 * After an AZ evacuation: does the application serve from outside the zone?
 * Pods on a node that lost its zone still show Ready for minutes, so
 * "available" alone is not the answer.
 */
describe('k8s.verify-outside-zone: every workload has a ready pod outside the failing zone', () => {
  let kube: FakeKube;
  let step: ReturnType<typeof verifyOutsideZoneStep>;
  const p = () => step.params.parse({ namespace: 'production', zone: 'us-east-1a' });
  const apiPod = (name: string, nodeName: string, ready = true) => kube.addPod('production', name, { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName, ready });

  beforeAll(async () => {
    fakeAwsCredentials();
    kube = await new FakeKube().start();
    step = withClients(verifyOutsideZoneStep(), createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: kube.writeKubeconfig() } }));
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.nodeObjects.clear();
    kube.objects.clear();
    kube.addNode(A0, { zone: 'us-east-1a' });
    kube.addNode(B0, { zone: 'us-east-1b' });
  });

  it('plans a read-only check; passes when each workload has a ready pod outside the zone, counting both sides', async () => {
    kube.addDeployment('production', 'web', ['web:1'], { replicas: 2, nodes: [A0, B0] });
    expect(await step.plan(planContext(), p())).toEqual([
      { action: 'check', resource: 'namespace production', detail: 'wait until every deployment and statefulset in production has a ready pod on a node outside us-east-1a (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)' },
    ]);
    // A pod no deployment selects (made by hand) is not the application's.
    apiPod('api-7d9f8-aaaaa', B0);
    expect(await step.run(stepContext(), p())).toEqual({ outside: 1, inside: 1 });
    expect(kube.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });

  it('every ready pod in the failing zone (or outside but not ready): it waits, and at its deadline says which workload serves only from the zone', async () => {
    kube.addDeployment('production', 'web', ['web:1'], { replicas: 2, nodes: [A0, B0] });
    kube.addDeployment('production', 'api', ['api:1'], { replicas: 2, nodes: [A0] });
    apiPod('api-7d9f8-bbbbb', B0, false);
    const failure = await failureOf(step.run(stepContext({ timeoutMs: 1_500 }), p()));
    expect(failure.message).toMatch(/^gave up waiting for workloads in production serving outside us-east-1a: still deployment api has no ready pod outside us-east-1a \(2 inside\) after /);
  });

  it('a pod on a node without a zone label counts on neither side', async () => {
    kube.addNode('ip-10-0-9-99.ec2.internal', {});
    kube.addDeployment('production', 'api', ['api:1'], { replicas: 1, nodes: ['ip-10-0-9-99.ec2.internal'] });
    const failure = await failureOf(step.run(stepContext({ timeoutMs: 1_500 }), p()));
    expect(failure.message).toContain('deployment api has no ready pod outside us-east-1a (0 inside, 1 on nodes without a zone label)');
  });

  it('an AZ id instead of a name is refused when parsed', () => {
    expect(step.params.safeParse({ namespace: 'production', zone: 'use1-az1' }).success).toBe(false);
  });
});
