import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { FailoverDBClusterCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { drainZoneStep } from '../../../src/steps/kube/drain.ts';
import { cordonZoneStep, uncordonZoneStep } from '../../../src/steps/kube/zone.ts';
import { failoverInRegionStep } from '../../../src/steps/rds/failover-in-region.ts';
import type { TargetAccess } from '../../../src/targets/targets.ts';
import type { Obj } from '../../support/fake-velero.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const spec = (o: Obj | undefined) => (o?.spec ?? {}) as { unschedulable?: boolean; nodeName?: string };
const annotations = (o: Obj | undefined) => ((o?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {});
const podType = { group: '', version: 'v1', resource: 'pods', kind: 'Pod' };

describe('AZ evacuation steps: cordon, drain (Eviction API, PodDisruptionBudgets) and the Aurora writer out of the AZ', () => {
  let kube: FakeKube;
  let rds: FakeRds;
  let clients: TargetAccess;
  let cordon: ReturnType<typeof cordonZoneStep>;
  let uncordon: ReturnType<typeof uncordonZoneStep>;
  let drain: ReturnType<typeof drainZoneStep>;
  let failover: ReturnType<typeof failoverInRegionStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    kube = await new FakeKube().start();
    rds = await new FakeRds().start();
    clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    cordon = withClients(cordonZoneStep(), clients);
    uncordon = withClients(uncordonZoneStep(), clients);
    drain = withClients(drainZoneStep(), clients);
    failover = withClients(failoverInRegionStep(), clients);
  });
  afterAll(async () => {
    await kube.stop();
    await rds.stop();
  });
  beforeEach(() => {
    kube.nodeObjects.clear();
    kube.objects.clear();
    kube.evictions.clear();
    kube.calls.length = 0;
    kube.evictions.graceMs = 300;
    kube.addNode('ip-10-0-1-10.ec2.internal', { zone: 'us-east-1a' });
    kube.addNode('ip-10-0-1-11.ec2.internal', { zone: 'us-east-1a' });
    kube.addNode('ip-10-0-2-10.ec2.internal', { zone: 'us-east-1b' });
  });

  const nodesIn = (zone: string) => ['ip-10-0-1-10.ec2.internal', 'ip-10-0-1-11.ec2.internal', 'ip-10-0-2-10.ec2.internal'].filter((n) => (zone === 'us-east-1a' ? n.includes('-1-') : n.includes('-2-')));

  describe('k8s.cordon-zone and k8s.uncordon-zone', () => {
    it('cordons only that zone’s nodes, with a merge patch and the run’s annotation, once; someone else’s cordon is left alone', async () => {
      kube.addNode('ip-10-0-1-12.ec2.internal', { zone: 'us-east-1a', unschedulable: true });
      const p = cordon.params.parse({ zone: 'us-east-1a' });
      const [line] = await cordon.plan(planContext('revac001'), p);
      expect(line?.detail).toBe(
        'cordon 2 node(s) in us-east-1a (spec.unschedulable=true, annotated dr-chatops/cordoned-by): ip-10-0-1-10.ec2.internal, ip-10-0-1-11.ec2.internal; ' +
          'already cordoned, left as they are (an uncordon of this run leaves them too): ip-10-0-1-12.ec2.internal; k8s.uncordon-zone reverses it',
      );

      const ctx = stepContext({ runId: 'revac001' });
      expect(await cordon.run(ctx, p)).toEqual({ nodes: 'ip-10-0-1-10.ec2.internal,ip-10-0-1-11.ec2.internal,ip-10-0-1-12.ec2.internal', cordoned: 'ip-10-0-1-10.ec2.internal,ip-10-0-1-11.ec2.internal' });
      for (const n of nodesIn('us-east-1a')) {
        expect(spec(kube.nodeObjects.peek(n)).unschedulable).toBe(true);
        expect(annotations(kube.nodeObjects.peek(n))['dr-chatops/cordoned-by']).toBe('revac001');
      }
      expect(spec(kube.nodeObjects.peek('ip-10-0-2-10.ec2.internal')).unschedulable).toBeUndefined();
      expect(annotations(kube.nodeObjects.peek('ip-10-0-1-12.ec2.internal'))).toEqual({});
      const patches = kube.callsMatching('PATCH', '/api/v1/nodes/');
      expect(patches.map((c) => c.contentType)).toEqual(['application/merge-patch+json', 'application/merge-patch+json']);

      // Entered again: nothing left to patch.
      expect((await cordon.run(stepContext({ runId: 'revac001', attempt: 2 }), p)).cordoned).toBe('ip-10-0-1-10.ec2.internal,ip-10-0-1-11.ec2.internal');
      expect(kube.callsMatching('PATCH', '/api/v1/nodes/')).toHaveLength(2);

      // The reverse runbook is another run: it uncordons what the bot cordoned, not the maintenance cordon.
      const back = uncordon.params.parse({ zone: 'us-east-1a' });
      expect((await uncordon.plan(planContext('rback001'), back))[0]?.detail).toBe(
        'uncordon 2 node(s) of us-east-1a that this bot cordoned: ip-10-0-1-10.ec2.internal, ip-10-0-1-11.ec2.internal; cordoned by someone else, left cordoned: ip-10-0-1-12.ec2.internal',
      );
      expect(await uncordon.run(stepContext({ runId: 'rback001' }), back)).toEqual({ uncordoned: 'ip-10-0-1-10.ec2.internal,ip-10-0-1-11.ec2.internal' });
      for (const n of nodesIn('us-east-1a')) {
        expect(spec(kube.nodeObjects.peek(n)).unschedulable).toBeUndefined();
        expect(annotations(kube.nodeObjects.peek(n))).toEqual({});
      }
      expect(spec(kube.nodeObjects.peek('ip-10-0-1-12.ec2.internal')).unschedulable).toBe(true);
    });

    it('uncordons only the named run’s nodes when given cordonedBy', async () => {
      await cordon.run(stepContext({ runId: 'revac001' }), cordon.params.parse({ zone: 'us-east-1a' }));
      const other = uncordon.params.parse({ zone: 'us-east-1a', cordonedBy: 'rother01' });
      expect((await uncordon.plan(planContext(), other))[0]).toMatchObject({ action: 'check', detail: 'no node of us-east-1a is cordoned by run rother01: nothing to do; cordoned by someone else, left cordoned: ip-10-0-1-10.ec2.internal, ip-10-0-1-11.ec2.internal' });
      expect(await uncordon.run(stepContext(), other)).toEqual({ uncordoned: '' });
      expect(spec(kube.nodeObjects.peek('ip-10-0-1-10.ec2.internal')).unschedulable).toBe(true);
    });

    it('refuses a zone no node is in, naming the zones there are, and an AZ id instead of a name', async () => {
      const failure = await failureOf(cordon.plan(planContext(), cordon.params.parse({ zone: 'us-east-1c' })));
      expect(failure).toEqual({ message: 'no node has topology.kubernetes.io/zone=us-east-1c; the cluster\'s nodes are in us-east-1a, us-east-1b', permanent: true });
      expect(cordon.params.safeParse({ zone: 'use1-az1' }).error?.issues[0]?.message).toBe(
        'must be an AZ name such as us-east-1a (the node label topology.kubernetes.io/zone), not an AZ id such as use1-az1',
      );
      expect(kube.callsMatching('PATCH', '/nodes/')).toHaveLength(0);
    });

    it('the fake refuses a node patch sent as JSON Patch (client-node’s default) whose body is not a JSON Patch array, as the API server does', async () => {
      const kc = new KubeConfig();
      kc.loadFromFile(kube.writeKubeconfig());
      const failure = await kc
        .makeApiClient(CoreV1Api)
        .patchNode({ name: 'ip-10-0-1-10.ec2.internal', body: { spec: { unschedulable: true } } })
        .then(() => undefined, (err: unknown) => err as { code?: number; body?: unknown });
      expect(failure?.code).toBe(400);
      expect(String(failure?.body)).toContain('cannot unmarshal object into Go value of type jsonpatch.Patch');
      expect(spec(kube.nodeObjects.peek('ip-10-0-1-10.ec2.internal')).unschedulable).toBeUndefined();
    });
  });

  describe('k8s.drain-zone', () => {
    async function cordoned(): Promise<void> {
      await cordon.run(stepContext({ runId: 'revac001' }), cordon.params.parse({ zone: 'us-east-1a' }));
    }
    const a0 = 'ip-10-0-1-10.ec2.internal';
    const a1 = 'ip-10-0-1-11.ec2.internal';
    const onZoneA = () => kube.objects.everywhere(podType).filter((pod) => [a0, a1].includes(spec(pod).nodeName ?? '')).map((pod) => `${String((pod.metadata as Obj).namespace)}/${String((pod.metadata as Obj).name)}`).sort();

    function apiPods(): void {
      kube.addPod('production', 'api-7d9f8-abcde', { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: a0 });
      kube.addPod('production', 'api-7d9f8-fghij', { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: a1 });
    }

    it('evicts the zone’s pods through the Eviction API, skips DaemonSet and mirror pods, reports pods outside the allowed namespaces, and waits until they are gone', async () => {
      await cordoned();
      apiPods();
      kube.addPod('kube-system', 'aws-node-x1', { ownerKind: 'DaemonSet', ownerName: 'aws-node', nodeName: a0 });
      kube.addPod('kube-system', 'kube-proxy-ip-10-0-1-11', { ownerKind: 'Node', ownerName: a1, annotations: { 'kubernetes.io/config.mirror': 'e3b0c442' }, nodeName: a1 });
      kube.addPod('kube-system', 'coredns-5d78c-k2x9p', { ownerKind: 'ReplicaSet', ownerName: 'coredns-5d78c', nodeName: a0 });
      kube.addPod('production', 'worker-6c4b-zz9q1', { ownerKind: 'ReplicaSet', ownerName: 'worker-6c4b', nodeName: 'ip-10-0-2-10.ec2.internal' });
      const p = drain.params.parse({ zone: 'us-east-1a' });

      const lines = await drain.plan(planContext(), p);
      expect(lines.map((l) => l.detail)).toEqual([
        'evict 2 pod(s) now there through the Eviction API (the pods are read again when it runs), then wait until they are gone: production/api-7d9f8-abcde, production/api-7d9f8-fghij; ' +
          'skipped: kube-system/aws-node-x1 (DaemonSet aws-node), kube-system/kube-proxy-ip-10-0-1-11 (mirror pod); the zone must be cordoned first (k8s.cordon-zone)',
        expect.stringMatching(/^kube-system\/coredns-5d78c-k2x9p: not evicted, namespace kube-system is a system namespace/),
      ]);

      const out = await drain.run(stepContext(), p);
      expect(out).toEqual({ evicted: 2, skipped: 2, left: 'kube-system/coredns-5d78c-k2x9p' });
      expect(onZoneA()).toEqual(['kube-system/aws-node-x1', 'kube-system/coredns-5d78c-k2x9p', 'kube-system/kube-proxy-ip-10-0-1-11']);
      const evictions = kube.callsMatching('POST', '/eviction');
      expect(evictions.map((c) => c.path).sort()).toEqual(['/api/v1/namespaces/production/pods/api-7d9f8-abcde/eviction', '/api/v1/namespaces/production/pods/api-7d9f8-fghij/eviction']);
      expect(evictions[0]?.body).toMatchObject({ apiVersion: 'policy/v1', kind: 'Eviction' });
      // Their ReplicaSet started them again outside the zone; the other zone's pod was not touched.
      const api = kube.objects.list(podType, 'production').filter((pod) => (pod.metadata as { labels?: Record<string, string> }).labels?.app === 'api');
      expect(api.map((pod) => spec(pod).nodeName)).toEqual(['ip-10-0-2-10.ec2.internal', 'ip-10-0-2-10.ec2.internal']);
      expect(kube.objects.get(podType, 'production', 'worker-6c4b-zz9q1')).toBeDefined();
    });

    it('with enabled: false (a runbook asked not to drain) plans and does nothing, not even on an uncordoned zone', async () => {
      apiPods();
      const p = drain.params.parse({ zone: 'us-east-1a', enabled: false });
      expect(await drain.plan(planContext(), p)).toEqual([
        { action: 'check', resource: 'pods of us-east-1a', detail: 'not drained (not asked): running pods stay on the cordoned nodes; nothing new is scheduled there' },
      ]);
      expect(await drain.run(stepContext(), p)).toEqual({ evicted: 0, skipped: 0, left: '' });
      expect(onZoneA()).toEqual(['production/api-7d9f8-abcde', 'production/api-7d9f8-fghij']);
      expect(kube.callsMatching('POST', '/eviction')).toHaveLength(0);
      expect(drain.params.safeParse({ zone: 'us-east-1a', enabled: 'maybe' }).error?.issues[0]?.message).toBe('must be true or false');
    });

    it('refuses to drain a zone that is not cordoned, evicting nothing', async () => {
      apiPods();
      const failure = await failureOf(drain.run(stepContext(), drain.params.parse({ zone: 'us-east-1a' })));
      expect(failure).toEqual({
        message: 'nodes of us-east-1a are not cordoned: ip-10-0-1-10.ec2.internal, ip-10-0-1-11.ec2.internal; cordon the zone first (k8s.cordon-zone) so evicted pods are not scheduled back there',
        permanent: true,
      });
      expect(kube.callsMatching('POST', '/eviction')).toHaveLength(0);
    });

    it('a PodDisruptionBudget holds the drain (429) until it is relaxed; the plan and the progress name it', async () => {
      await cordoned();
      apiPods();
      kube.addPdb('production', 'api-pdb', { matchLabels: { app: 'api' }, minAvailable: 2 });
      const p = drain.params.parse({ zone: 'us-east-1a' });
      expect((await drain.plan(planContext(), p)).at(-1)).toEqual({
        action: 'check',
        resource: 'poddisruptionbudget production/api-pdb',
        detail: 'allows 0 disruption(s) now, over production/api-7d9f8-abcde, production/api-7d9f8-fghij; evictions beyond that wait for it, retried every 5 s until the step\'s deadline',
      });

      const ctx = stepContext({ timeoutMs: 30_000 });
      const running = drain.run(ctx, p);
      await expect.poll(() => ctx.progressMessages.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(ctx.progressMessages[0]).toContain('production/api-7d9f8-abcde is held by PodDisruptionBudget production/api-pdb (needs 2 healthy pods and has 2 currently)');
      expect(onZoneA()).toHaveLength(2);
      kube.evictions.setBudget('production', 'api-pdb', { minAvailable: 1 });

      expect(await running).toEqual({ evicted: 2, skipped: 0, left: '' });
      expect(onZoneA()).toEqual([]);
      const answers = kube.callsMatching('POST', '/eviction');
      expect(answers.length).toBeGreaterThanOrEqual(4);
    });

    it('with a budget that never relaxes, the step fails at its deadline saying which pod which budget holds', async () => {
      await cordoned();
      apiPods();
      kube.addPdb('production', 'api-pdb', { matchLabels: { app: 'api' }, maxUnavailable: 0 });
      const failure = await failureOf(drain.run(stepContext({ timeoutMs: 3_000 }), drain.params.parse({ zone: 'us-east-1a' })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^the drain of us-east-1a reached the step's deadline after .*: 0 evicted, 2 held: /);
      expect(failure.message).toContain('production/api-7d9f8-abcde is held by PodDisruptionBudget production/api-pdb (needs 2 healthy pods and has 2 currently)');
      expect(failure.message).toContain('Relax those budgets or scale their workloads up, then run the step again');
      expect(onZoneA()).toHaveLength(2);
    });
  });

  describe('rds.failover-in-region', () => {
    beforeEach(() => {
      rds.clusters.clear();
      rds.instances.clear();
      rds.calls.length = 0;
      rds.failovers.underWay.clear();
      rds.failovers.failoverMs = 400;
      rds.addCluster('prod-aurora', { earliest: new Date(0), latest: new Date() });
      rds.failovers.addReader('prod-aurora', 'prod-aurora-reader-1a', 'us-east-1a', { promotionTier: 0, writerZone: 'us-east-1a' });
      rds.failovers.addReader('prod-aurora', 'prod-aurora-reader-1b', 'us-east-1b', { promotionTier: 1 });
      rds.failovers.addReader('prod-aurora', 'prod-aurora-reader-1c', 'us-east-1c', { promotionTier: 2 });
    });
    const p = () => failover.params.parse({ cluster: 'prod-aurora', zone: 'us-east-1a' });
    const writer = () => [...rds.instances.values()].find((i) => i.isWriter)?.id;

    it('the writer in the failing AZ fails over to the first available reader in another AZ, once; entered again it adopts', async () => {
      expect(await failover.plan(planContext(), p())).toEqual([
        {
          action: 'change',
          resource: 'rds cluster prod-aurora',
          detail:
            'fail prod-aurora over from prod-aurora-instance-1 (us-east-1a, available) to prod-aurora-reader-1b (us-east-1b, available) (chosen again when it runs: the first available reader outside us-east-1a by promotion tier), ' +
            'then wait until it is the writer; connections drop for about 30 s, the cluster endpoint follows',
        },
      ]);
      const ctx = stepContext();
      expect(await failover.run(ctx, p())).toEqual({ failedOver: true, writer: 'prod-aurora-reader-1b', writerZone: 'us-east-1b', measuredRpoSeconds: 0 });
      expect(rds.callsTo('FailoverDBCluster').map((c) => c.params)).toEqual([{ Version: '2014-10-31', DBClusterIdentifier: 'prod-aurora', TargetDBInstanceIdentifier: 'prod-aurora-reader-1b' }]);
      expect(writer()).toBe('prod-aurora-reader-1b');

      // The same run entered again (its checkpoint kept), and a fresh attempt without it: neither fails over again.
      expect(await failover.run(ctx, p())).toEqual({ failedOver: true, writer: 'prod-aurora-reader-1b', writerZone: 'us-east-1b', measuredRpoSeconds: 0 });
      expect(await failover.run(stepContext({ attempt: 2 }), p())).toEqual({ failedOver: false, writer: 'prod-aurora-reader-1b', writerZone: 'us-east-1b', measuredRpoSeconds: 0 });
      expect(rds.callsTo('FailoverDBCluster')).toHaveLength(1);
      expect(rds.modelRefusals).toEqual([]);
    });

    it('a lost FailoverDBCluster answer: the SDK’s repeat is refused while failing over (InvalidDBClusterStateFault) and taken as progress', async () => {
      rds.failNext('FailoverDBCluster', { code: 'ServiceUnavailable', message: 'the answer was lost', status: 503, afterApply: true });
      expect(await failover.run(stepContext(), p())).toEqual({ failedOver: true, writer: 'prod-aurora-reader-1b', writerZone: 'us-east-1b', measuredRpoSeconds: 0 });
      expect(rds.callsTo('FailoverDBCluster')).toHaveLength(2);
    });

    it('the writer elsewhere: nothing is done, and the step says so', async () => {
      const [instance] = [...rds.instances.values()].filter((i) => i.isWriter);
      if (instance) instance.availabilityZone = 'us-east-1c';
      expect(await failover.plan(planContext(), p())).toEqual([{ action: 'check', resource: 'rds cluster prod-aurora', detail: 'the writer prod-aurora-instance-1 (us-east-1c, available) is not in us-east-1a: nothing to fail over' }]);
      const ctx = stepContext();
      expect(await failover.run(ctx, p())).toEqual({ failedOver: false, writer: 'prod-aurora-instance-1', writerZone: 'us-east-1c', measuredRpoSeconds: 0 });
      expect(ctx.progressMessages).toContain('the writer prod-aurora-instance-1 (us-east-1c, available) is not in us-east-1a: nothing to fail over');
      expect(rds.callsTo('FailoverDBCluster')).toHaveLength(0);
    });

    it('refuses in the plan when no reader outside the AZ is available, saying so', async () => {
      rds.instances.delete('prod-aurora-reader-1c');
      rds.forceStatus('prod-aurora-reader-1b', 'rebooting');
      const failure = await failureOf(failover.plan(planContext(), p()));
      rds.forcedStatus.clear();
      expect(failure).toEqual({
        message:
          'cannot move the writer of prod-aurora out of us-east-1a: prod-aurora has no available reader outside us-east-1a to fail over to ' +
          '(readers: prod-aurora-reader-1a (us-east-1a, available), prod-aurora-reader-1b (us-east-1b, rebooting)); add a reader in another AZ, or wait for one to be available',
        permanent: true,
      });
    });

    it('the fake refuses as RDS does: a target that does not exist, and a second failover while one runs', async () => {
      const client = clients.aws.rds();
      const missing = await client.send(new FailoverDBClusterCommand({ DBClusterIdentifier: 'prod-aurora', TargetDBInstanceIdentifier: 'prod-aurora-nope' })).catch((err: unknown) => err as Error);
      expect(missing).toMatchObject({ name: 'DBInstanceNotFoundFault' });
      await client.send(new FailoverDBClusterCommand({ DBClusterIdentifier: 'prod-aurora', TargetDBInstanceIdentifier: 'prod-aurora-reader-1c' }));
      const again = await client.send(new FailoverDBClusterCommand({ DBClusterIdentifier: 'prod-aurora' })).catch((err: unknown) => err as Error);
      expect(again).toMatchObject({ name: 'InvalidDBClusterStateFault' });
    });
  });
});
