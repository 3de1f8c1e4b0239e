import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scaleNodegroupStep } from '../../../src/steps/eks/scale-nodegroup.ts';
import { eksToken } from '../../../src/targets/eks-token.ts';
import { failoverStep } from '../../../src/steps/rds/failover.ts';
import { FakeEks } from '../../support/fake-eks.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

describe('EKS access and scaling, RDS failover', () => {
  let eks: FakeEks;
  let kube: FakeKube;
  let rds: FakeRds;
  let scale: ReturnType<typeof scaleNodegroupStep>;
  let failover: ReturnType<typeof failoverStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    [eks, kube, rds] = await Promise.all([new FakeEks().start(), new FakeKube().start(), new FakeRds().start()]);
    kube.requireEksToken = true;
    eks.addCluster('eks-dr', kube.url);
    eks.onScaled = (ng, desired) => kube.nodes.set(ng, desired);
    const clients = createStepClients({
      aws: { region: 'us-west-2', eksEndpointUrl: eks.url, rdsEndpointUrl: rds.url },
      kubernetes: { eksCluster: 'eks-dr' },
    });
    scale = withClients(scaleNodegroupStep(), clients);
    failover = withClients(failoverStep(), clients);
  });
  afterAll(async () => {
    await Promise.all([eks.stop(), kube.stop(), rds.stop()]);
  });
  beforeEach(() => {
    eks.nodegroups.clear();
    eks.calls.length = 0;
    eks.updatingMs = 300;
    eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 3, desired: 1 });
    kube.nodes.set('workers', 1);
    rds.clusters.clear();
    rds.calls.length = 0;
    rds.globalClusters.clear();
  });
  afterEach(() => {
    kube.now = Date.now;
  });

  it('makes a token as aws eks get-token does: presigned GetCallerIdentity, signed x-k8s-aws-id, base64url', async () => {
    const { token, expiresAt } = await eksToken({
      cluster: 'eks-dr',
      region: 'us-west-2',
      credentials: { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 'fake' },
      now: new Date('2026-11-25T06:00:00Z'),
    });
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    expect(token.length).toBeLessThanOrEqual(4096);
    const url = new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString());
    expect(url.origin).toBe('https://sts.us-west-2.amazonaws.com');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIAFAKEFAKEFAKE0001/20261125/us-west-2/sts/aws4_request',
      'X-Amz-Date': '20261125T060000Z',
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
    });
    expect(expiresAt).toBe(Date.parse('2026-11-25T06:14:00Z'));
  });

  it('reaches the EKS cluster\'s API with that token (the API server refuses anything else)', async () => {
    const lines = await scale.plan(planContext(), scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 3 }));
    expect(lines[0]?.detail).toBe('scale eks-dr/workers from 1/1/3 to 1/3/3 (min/desired/max) and wait for the nodes');
    expect(eks.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /clusters/eks-dr/node-groups/workers']);
    await scale.run(stepContext(), scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 3 }));
    expect(eks.calls.some((c) => c.path === '/clusters/eks-dr')).toBe(true);
    expect(kube.callsMatching('GET', '/api/v1/nodes').length).toBeGreaterThan(0);
  });

  it('keeps one set of clients and puts a current token on each request, renewed before 15 minutes', async () => {
    let clock = Date.now();
    kube.now = () => clock;
    const clients = createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { eksCluster: 'eks-dr' } }, () => clock);
    const describes = () => eks.calls.filter((c) => c.path === '/clusters/eks-dr').length;
    const before = describes();
    const first = await clients.kube();
    expect(await clients.kube()).toBe(first);
    const from = kube.bearerTokens.length;
    await first.core.listNode({});
    clock += 13 * 60_000;
    await first.core.listNode({});
    clock += 2 * 60_000;
    expect(await clients.kube()).toBe(first);
    await first.core.listNode({});
    const [a, b, c] = kube.bearerTokens.slice(from);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(describes() - before).toBe(1);
  });

  it('the fake API server does refuse a token that is not an EKS token', async () => {
    const wrong = createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    const failure = await failureOf(wrong.kube().then((api) => api.core.listNode({})));
    expect(failure.message).toMatch(/^HTTP-Code: 401/);
    expect(JSON.stringify(kube.calls.at(-1))).toContain('/api/v1/nodes');
  });

  it('scales once (client request token), waits until ACTIVE with the nodes ready', async () => {
    const p = scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 3 });
    const ctx = stepContext({ runId: 'reks0001', stepId: 'scale' });
    expect(await scale.run(ctx, p)).toEqual({ desired: 3, readyNodes: 3 });
    const updates = eks.calls.filter((c) => c.path.endsWith('/update-config'));
    expect(updates).toHaveLength(1);
    expect(updates[0]?.body).toEqual({ scalingConfig: { minSize: 1, maxSize: 3, desiredSize: 3 }, clientRequestToken: 'reks0001-scale' });
    expect(ctx.progressMessages.some((m) => /UPDATING|of 3 nodes ready/.test(m))).toBe(true);

    await scale.run(stepContext({ runId: 'reks0001', stepId: 'scale', attempt: 2 }), p);
    expect(eks.calls.filter((c) => c.path.endsWith('/update-config'))).toHaveLength(1);
  });

  it('refuses a size above the max, and fails cleanly when the nodes never come', async () => {
    expect((await failureOf(scale.plan(planContext(), scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 5 })))).message).toBe(
      "desired 5 exceeds the node group's max size 3; give max as well",
    );
    eks.onScaled = () => undefined;
    const failure = await failureOf(scale.run(stepContext({ timeoutMs: 1_500 }), scale.params.parse({ cluster: 'eks-dr', nodegroup: 'workers', desired: 2 })));
    expect(failure.message).toMatch(/^gave up waiting for node group workers: still 1 of 2 nodes ready after/);
    eks.onScaled = (ng, desired) => kube.nodes.set(ng, desired);
  });

  it('promotes a cross-region read replica once, and waits until it is the writer', async () => {
    rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' });
    const replica = rds.clusters.get('prod-aurora-replica');
    if (replica) replica.replicationSource = 'prod-aurora';
    const p = failover.params.parse({ method: 'promote-replica', cluster: 'prod-aurora-replica', region: 'us-west-2' });
    const [line] = await failover.plan(planContext(), p);
    expect(line).toMatchObject({ action: 'change', irreversible: true, detail: 'promote read replica prod-aurora-replica in us-west-2 to a standalone writer; replication from the primary stops for good' });

    const out = await failover.run(stepContext(), p);
    expect(out.writerEndpoint).toBe('prod-aurora-replica.cluster-abc123.us-east-1.rds.amazonaws.com');
    await failover.run(stepContext({ attempt: 2 }), p);
    expect(rds.callsTo('PromoteReadReplicaDBCluster')).toHaveLength(1);
    expect((await failover.plan(planContext(), p))[0]?.detail).toBe('prod-aurora-replica (us-west-2) is already the writer: nothing to promote');
  });

  it('fails a global database over to the DR cluster, allowing data loss', async () => {
    rds.addCluster('prod-aurora', { earliest: new Date(0), latest: new Date() });
    rds.addCluster('prod-aurora-dr', { earliest: new Date(0), latest: new Date() });
    rds.globalClusters.set('prod-global', ['prod-aurora', 'prod-aurora-dr']);
    const p = failover.params.parse({ method: 'global-failover', cluster: 'prod-aurora-dr', region: 'us-west-2', globalCluster: 'prod-global' });
    await failover.run(stepContext(), p);
    const [call] = rds.callsTo('FailoverGlobalCluster');
    expect(call?.params).toMatchObject({
      GlobalClusterIdentifier: 'prod-global',
      TargetDbClusterIdentifier: 'arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-dr',
      AllowDataLoss: 'true',
    });
    expect(rds.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });

  describe('long waits through EKS (tokens expire 15 minutes after signing)', () => {
    const MIN = 60_000;
    /** When a token was signed, from its presigned URL's X-Amz-Date. */
    const signedAt = (token: string | undefined): number => {
      const url = new URL(Buffer.from((token ?? '').slice('k8s-aws-v1.'.length), 'base64url').toString());
      const d = url.searchParams.get('X-Amz-Date') ?? '';
      return Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
    };
    const start = Date.parse('2026-11-25T06:00:00Z');
    let clock = start;
    let serverClock = start;
    let api: Awaited<ReturnType<ReturnType<typeof createStepClients>['kube']>>;
    let from = 0;
    const nodeCalls = () => kube.calls.filter((c) => c.path.startsWith('/api/v1/nodes')).length;

    beforeEach(async () => {
      clock = start;
      serverClock = start;
      kube.now = () => serverClock;
      const clients = createStepClients({ aws: { region: 'us-west-2', eksEndpointUrl: eks.url }, kubernetes: { eksCluster: 'eks-dr' } }, () => clock);
      // One client taken before the wait and kept through it, as the steps do.
      api = await clients.kube();
      from = kube.bearerTokens.length;
      kube.calls.length = 0;
    });

    it('a 20-minute wait on one client succeeds at minute 0, 10 and 20, with a new token minted in between', async () => {
      for (const minute of [0, 10, 20]) {
        clock = serverClock = start + minute * MIN;
        const nodes = await api.core.listNode({ labelSelector: 'eks.amazonaws.com/nodegroup=workers' });
        expect(nodes.items).toHaveLength(1);
      }
      expect(nodeCalls()).toBe(3);
      const tokens = kube.bearerTokens.slice(from);
      expect(tokens).toHaveLength(3);
      expect(tokens[1]).toBe(tokens[0]);
      expect(tokens[2]).not.toBe(tokens[0]);
      expect(signedAt(tokens[0])).toBe(start);
      expect(signedAt(tokens[2])).toBe(start + 20 * MIN);
    });

    it('a 401 on a stale token drops it, mints a new one and retries once', async () => {
      await api.core.listNode({});
      // The bot still thinks its token good (13 min), the API server already refuses it (16 min).
      clock = start + 13 * MIN;
      serverClock = start + 16 * MIN;
      await api.core.listNode({});
      const tokens = kube.bearerTokens.slice(from);
      expect(tokens).toHaveLength(3);
      expect(tokens[1]).toBe(tokens[0]);
      expect(signedAt(tokens[2])).toBe(start + 13 * MIN);
      expect(nodeCalls()).toBe(3);
      // The renewed token is kept for later requests.
      await api.core.listNode({});
      expect(kube.bearerTokens.slice(from)[3]).toBe(tokens[2]);
    });

    it('a second 401 fails the call instead of looping, and other errors are not retried', async () => {
      clock = start + 13 * MIN;
      serverClock = start + 60 * MIN;
      const failure = await failureOf(api.core.listNode({}));
      expect(failure.message).toMatch(/^HTTP-Code: 401/);
      expect(nodeCalls()).toBe(2);

      serverClock = clock;
      kube.calls.length = 0;
      expect((await failureOf(api.core.readNamespace({ name: 'no-such-namespace' }))).message).toMatch(/^HTTP-Code: 404/);
      expect(kube.calls).toHaveLength(1);
    });
  });
});
