import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/runs/model.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeArcRoutingControlCluster, routingControlArn, safetyRuleArn } from '../support/fake-arc-routing-control.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeRoute53 } from '../support/fake-route53.ts';
import { FakeService } from '../support/fake-service.ts';

const KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };
const credentials = () => Promise.resolve(KEY);
const PANEL = '0123456789abcdef0123456789abcdef';
const EAST = routingControlArn(PANEL, 'cellEast00000001');
const WEST = routingControlArn(PANEL, 'cellWest00000001');
const AT_LEAST_ONE = safetyRuleArn(PANEL, 'atLeastOneCell01');
const ENDED = ['succeeded', 'failed', 'cancelled'] as const;

/**
 * A region-wide outage where traffic follows ARC routing controls: the
 * shipped failover-region on the real engine brings the DR region up, then
 * sets the routing controls (us-east-1's cell Off, us-west-2's On) through
 * the cluster's endpoints while the us-east-1 endpoint is down (503), and
 * waits until Route 53 answers the failover record with the DR region's: the
 * PRIMARY's health check follows the us-east-1 control, as ARC's health
 * checks do.
 */
describe('failover-region with ARC routing controls and one cluster endpoint down', () => {
  let cluster: FakeArcRoutingControlCluster;
  let rds: FakeRds;
  let eks: FakeEks;
  let kube: FakeKube;
  let r53: FakeRoute53;
  let api: FakeService;
  let engine: TestEngine;
  let zone: string;
  let primaryCheck: string;

  beforeAll(async () => {
    [cluster, rds, eks, kube, r53, api] = await Promise.all([new FakeArcRoutingControlCluster().start(), new FakeRds().start(), new FakeEks().start(), new FakeKube().start(), new FakeRoute53().start(), new FakeService().start()]);
    cluster.knowSecret(KEY.accessKeyId, KEY.secretAccessKey);
    r53.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    kube.requireEksToken = true;
    kube.rolloutMs = 200;
    eks.onScaled = (ng, desired) => kube.nodes.set(ng, desired);
    zone = r53.addHostedZone('dr-test.localhost');
    primaryCheck = r53.addHealthCheck({ Type: 'RECOVERY_CONTROL', FullyQualifiedDomainName: 'cell-east', ResourcePath: '/' });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'east', Failover: 'PRIMARY', TTL: 60, ResourceRecords: ['192.0.2.10'], HealthCheckId: primaryCheck });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'west', Failover: 'SECONDARY', TTL: 60, ResourceRecords: ['198.51.100.7'] });
    // The PRIMARY's health check is the us-east-1 cell's routing control.
    cluster.onUpdated = () => r53.setHealth(primaryCheck, cluster.stateOf(EAST) === 'On');
  });
  afterAll(async () => {
    await Promise.all([cluster.stop(), rds.stop(), eks.stop(), kube.stop(), r53.stop(), api.stop()]);
  });
  beforeEach(async () => {
    cluster.controls.clear();
    cluster.rules.clear();
    cluster.updates.length = 0;
    cluster.addControl(EAST, 'cell-us-east-1', 'On').addControl(WEST, 'cell-us-west-2', 'Off');
    cluster.addRule({ kind: 'assertion', arn: AT_LEAST_ONE, name: 'at-least-one-cell', assertedControls: [EAST, WEST], config: { type: 'ATLEAST', threshold: 1, inverted: false } });
    for (const e of cluster.endpoints) {
      e.outage = undefined;
      e.outageAnswers = 0;
      e.calls.length = 0;
    }
    // The us-east-1 endpoint is down with its region.
    cluster.endpoint('us-east-1').outage = 'unavailable';
    r53.setHealth(primaryCheck, true);

    rds.clusters.clear();
    rds.instances.clear();
    rds.addCluster('prod-aurora-replica', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' });
    const replica = rds.clusters.get('prod-aurora-replica');
    if (replica) replica.replicationSource = 'prod-aurora';
    eks.clusters.clear();
    eks.nodegroups.clear();
    eks.addCluster('eks-dr', kube.url);
    eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 1, desired: 1 });
    kube.secrets.clear();
    kube.deployments.clear();
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password: 'never-shown-0002' });
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });
    api.reset();

    engine = await startTestEngine({
      commandsDir: SHIPPED_COMMANDS,
      targets: testTargets(
        {
          defaultTarget: 'dr',
          targets: {
            dr: { region: 'us-west-2', endpoints: { rds: rds.url, eks: eks.url, route53: r53.url }, kubernetes: { eksCluster: 'eks-dr' }, arcClusterEndpoints: cluster.endpointConfig() },
          },
        },
        { credentials },
      ),
    });
  });
  afterEach(async () => {
    await engine.stop();
  });

  const failover = async (extra: Record<string, string>): Promise<Run> => {
    const run = await engine.service.create({ runbookId: 'failover-region', params: { healthUrl: `${api.url}/health`, nodes: '2', ...extra }, requester: ALICE });
    await engine.service.approve(run.id, BOB);
    await engine.service.approve(run.id, { id: 'U0CAROL001', name: 'carol', via: 'slack' });
    return run;
  };
  const planLines = (run: Run, step: string) => run.plan.find((p) => p.stepId === step)?.lines.map((l) => `${l.action}: ${l.detail}`) ?? [];

  it('sets the controls once the application is healthy, through the next endpoint, and Route 53 then answers with the DR region', async () => {
    const run = await failover({ routingControls: `${EAST}=Off,${WEST}=On`, dnsRecord: 'api.dr-test.localhost' });
    expect(planLines(run, 'route-traffic')).toEqual([
      'change: On → Off: traffic stops flowing to its cell',
      'change: Off → On: traffic flows to its cell',
      "check: states read through its us-west-2 endpoint; all 2 controls are set in one call, which the cluster's safety rules judge whole, then read back",
    ]);
    expect(planLines(run, 'verify-dns').join()).toContain('answers with the SECONDARY record (198.51.100.7)');

    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['Off', 'On']);
    expect(done.steps['route-traffic']?.outputs).toEqual({ endpoint: 'us-west-2', states: `${EAST}=Off,${WEST}=On`, changed: 2 });
    // One change, both controls in it, after the health check passed.
    expect(cluster.updates).toEqual([{ region: 'us-west-2', entries: [{ arn: EAST, state: 'Off' }, { arn: WEST, state: 'On' }], overridden: [] }]);
    expect(done.steps.health?.state).toBe('succeeded');
    // The down endpoint was asked once, by the plan's first read; every later call went straight to the one that answered.
    expect(cluster.requestsByRegion()).toMatchObject({ 'us-east-1': 1, 'eu-west-1': 0, 'ap-northeast-1': 0, 'ap-southeast-2': 0 });
    expect(done.steps['verify-dns']?.outputs).toMatchObject({ answer: '198.51.100.7', healthyPrimary: false, verified: true });
  });

  it('without routing controls or a record, both steps do nothing and their plans say so', async () => {
    const run = await failover({});
    expect(planLines(run, 'route-traffic')).toEqual(['check: routing controls not set (none given): this step changes nothing']);
    expect(planLines(run, 'verify-dns')).toEqual([expect.stringContaining('check: traffic NOT verified: no dnsRecord given') as unknown]);
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.state).toBe('succeeded');
    expect(cluster.requestsByRegion()).toEqual({ 'us-east-1': 0, 'us-west-2': 0, 'eu-west-1': 0, 'ap-northeast-1': 0, 'ap-southeast-2': 0 });
    expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['On', 'Off']);
    expect(done.steps['verify-dns']?.outputs).toMatchObject({ verified: false });
  });

  it('a safety rule refusing the change fails the run naming the rule, after the application is up, with nothing changed', async () => {
    const run = await failover({ routingControls: `${EAST}=Off,${WEST}=Off` });
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.state).toBe('failed');
    expect(done.failure).toMatchObject({ stepId: 'route-traffic', message: expect.stringContaining(`ARC safety rule ${AT_LEAST_ONE} refused`) as unknown });
    expect(done.steps.health?.state).toBe('succeeded');
    expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['On', 'Off']);
    expect(cluster.updates).toEqual([]);
  });
});
