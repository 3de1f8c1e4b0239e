/**
 * EKS node group states as EKS reports them (DescribeNodegroup status and
 * health.issues): a scale wait ends at once on a state that never leads to
 * ACTIVE, gives a DEGRADED node group its grace, and says which state and
 * which issues stopped it; the plan refuses a node group that cannot be scaled.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scaleNodegroupStep } from '../../../src/steps/eks/scale-nodegroup.ts';
import { EKS_STATES, eksVerdictOf } from '../../../src/steps/eks/states.ts';
import { FakeEks } from '../../support/fake-eks.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HEALTH = '`aws eks describe-nodegroup --cluster-name eks-dr --nodegroup-name workers --query nodegroup.health`';
const CAPACITY = { code: 'AsgInstanceLaunchFailures', message: 'Could not launch On-Demand Instances. InsufficientInstanceCapacity', resourceIds: ['eks-workers-asg'] };

describe('eks.scale-nodegroup and the node group states EKS reports', () => {
  let eks: FakeEks;
  let kube: FakeKube;
  let scale: ReturnType<typeof scaleNodegroupStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    [eks, kube] = await Promise.all([new FakeEks().start(), new FakeKube().start()]);
    kube.requireEksToken = true;
    eks.addCluster('eks-dr', kube.url);
    const clients = createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { eksCluster: 'eks-dr' } });
    scale = withClients(scaleNodegroupStep(), clients);
  });
  afterAll(async () => {
    await Promise.all([eks.stop(), kube.stop()]);
  });
  beforeEach(() => {
    eks.nodegroups.clear();
    eks.calls.length = 0;
    eks.updatingMs = 300;
    eks.onUpdate = () => undefined;
    eks.onScaled = (ng, desired) => kube.nodes.set(ng, desired);
    eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 3, desired: 1 });
    kube.nodes.set('workers', 1);
  });

  const params = (extra: Record<string, unknown> = {}) => scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 3, ...extra });
  /** Each test scales under its own run id: EKS would answer a reused client request token with the earlier update. */
  const updates = () => eks.calls.filter((c) => c.path.endsWith('/update-config'));

  it('one table: the states the SDK waiters stop on are terminal, DEGRADED is not', () => {
    expect(Object.keys(EKS_STATES.cluster.failure).sort()).toEqual(['DELETING', 'FAILED']);
    expect(Object.keys(EKS_STATES['node group'].failure).sort()).toEqual(['CREATE_FAILED', 'DELETE_FAILED', 'DELETING']);
    expect(eksVerdictOf('node group', 'DEGRADED')).toBe('in-progress');
    expect(eksVerdictOf('cluster', 'PENDING')).toBe('in-progress');
  });

  it('a node group deleted during the wait ends it at once, naming the state', async () => {
    eks.onUpdate = () => eks.setNodegroupState('eks-dr', 'workers', 'DELETING');
    eks.onScaled = () => undefined;
    const failure = await failureOf(scale.run(stepContext({ runId: 'rngdel01' }), params()));
    expect(failure).toEqual({
      permanent: true,
      message:
        'stopped waiting for EKS node group workers of eks-dr to be ACTIVE: it is DELETING, which it does not leave by itself; EKS reports no health issues; ' +
        'it is being deleted; wait until it is gone and create it again',
    });
  });

  it('DEGRADED with an issue that does not clear by itself (an instance quota) ends the wait at once, with the issue', async () => {
    eks.onUpdate = () =>
      eks.setNodegroupState('eks-dr', 'workers', 'DEGRADED', [
        CAPACITY,
        { code: 'InstanceLimitExceeded', message: 'You have requested more vCPU capacity than your current vCPU limit of 32 allows', resourceIds: ['eks-workers-asg'] },
      ]);
    eks.onScaled = () => undefined;
    const failure = await failureOf(scale.run(stepContext({ runId: 'rngquota' }), params({ degradedGraceSeconds: 3600 })));
    expect(failure).toEqual({
      permanent: true,
      message:
        'stopped waiting for EKS node group workers of eks-dr to be ACTIVE: it is DEGRADED with issues that do not clear by themselves; ' +
        'health issues: InstanceLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 32 allows (eks-workers-asg); ' +
        `fix what the issues name (${HEALTH}), then run the step again`,
    });
  });

  it('DEGRADED for capacity is given its grace, then the wait fails naming the issues', async () => {
    eks.onUpdate = () => eks.setNodegroupState('eks-dr', 'workers', 'DEGRADED', [CAPACITY]);
    eks.onScaled = () => undefined;
    const ctx = stepContext({ runId: 'rnggrace' });
    const failure = await failureOf(scale.run(ctx, params({ degradedGraceSeconds: 1 })));
    expect(failure.permanent).toBe(true);
    expect(failure.message).toMatch(/^stopped waiting for EKS node group workers of eks-dr to be ACTIVE: it has been DEGRADED for [\d.]+s, past the 1s it is given to recover; /);
    expect(failure.message).toContain(`health issues: AsgInstanceLaunchFailures: Could not launch On-Demand Instances. InsufficientInstanceCapacity (eks-workers-asg); fix what the issues name (${HEALTH})`);
    expect(ctx.progressMessages.some((m) => m.includes('DEGRADED for') && m.includes('AsgInstanceLaunchFailures'))).toBe(true);
  });

  it('DEGRADED that recovers within its grace goes on to ACTIVE and the nodes', async () => {
    eks.onUpdate = () => {
      eks.setNodegroupState('eks-dr', 'workers', 'DEGRADED', [CAPACITY]);
      setTimeout(() => eks.setNodegroupState('eks-dr', 'workers', 'ACTIVE'), 1_000);
    };
    const ctx = stepContext({ runId: 'rngheal1' });
    expect(await scale.run(ctx, params())).toEqual({ desired: 3, readyNodes: 3 });
    expect(ctx.progressMessages.some((m) => m.includes('DEGRADED for'))).toBe(true);
  });

  it('the plan refuses a node group that failed to be created, with its health issues, and run changes nothing', async () => {
    const issue = { code: 'NodeCreationFailure', message: 'Instances failed to join the kubernetes cluster', resourceIds: ['i-0abc', 'i-0def', 'i-0123', 'i-0456'] };
    eks.setNodegroupState('eks-dr', 'workers', 'CREATE_FAILED', [issue]);
    const expected =
      'cannot scale EKS node group workers of eks-dr: it is CREATE_FAILED, which it does not leave by itself; ' +
      'health issues: NodeCreationFailure: Instances failed to join the kubernetes cluster (i-0abc, i-0def, i-0123, …); ' +
      `EKS could not create it; see why with ${HEALTH}, fix that, then delete it and create it again`;
    expect(await failureOf(scale.plan(planContext(), params()))).toEqual({ permanent: true, message: expected });
    expect(await failureOf(scale.run(stepContext(), params()))).toEqual({ permanent: true, message: expected });
    expect(updates()).toHaveLength(0);
  });

  it('the fake refuses to update a node group that is not ACTIVE or DEGRADED, as EKS does', async () => {
    eks.setNodegroupState('eks-dr', 'workers', 'DELETE_FAILED');
    const res = await fetch(`${eks.url}/clusters/eks-dr/node-groups/workers/update-config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scalingConfig: { desiredSize: 2 } }),
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('x-amzn-errortype')).toBe('ResourceInUseException');
  });

  it('a DEGRADED node group is scaled, and the plan says so and how long it may stay DEGRADED', async () => {
    eks.setNodegroupState('eks-dr', 'workers', 'DEGRADED', [CAPACITY]);
    const [line] = await scale.plan(planContext(), params());
    expect(line?.detail).toBe(
      'scale eks-dr/workers from 1/1/3 to 1/3/3 (min/desired/max) and wait for the nodes; it is DEGRADED now ' +
        '(health issues: AsgInstanceLaunchFailures: Could not launch On-Demand Instances. InsufficientInstanceCapacity (eks-workers-asg)): the wait fails if it stays so for 10m',
    );
  });
});
