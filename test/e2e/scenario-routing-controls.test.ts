import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeArcRoutingControlCluster, routingControlArn, safetyRuleArn } from '../support/fake-arc-routing-control.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeRoute53 } from '../support/fake-route53.ts';
import { FakeService } from '../support/fake-service.ts';
import { DR_CLUSTER, GLOBAL, PRIMARY, resetRegionEstate } from '../support/region-estate.ts';
import { AWS_KEY, BOB, CAROL, reportSteps, ScenarioProcesses, shippedStepIds } from '../support/scenario-processes.ts';

const PANEL = '0123456789abcdef0123456789abcdef';
const EAST = routingControlArn(PANEL, 'cellEast00000001');
const WEST = routingControlArn(PANEL, 'cellWest00000001');
const AT_LEAST_ONE = safetyRuleArn(PANEL, 'atLeastOneCell01');
/** Every step of the shipped runbook, route-traffic and verify-dns included. */
const STEPS = shippedStepIds('failover-region');

/**
 * A region-wide outage on an installation whose traffic follows ARC routing
 * controls, end to end: `/dr failover --target dr … routingControls=…` typed
 * in Slack, two approvers click Approve, a worker process carries
 * failover-region out. The primary region's database still answers, so the
 * global database is switched over (nothing lost, no data-loss question);
 * once the DR application is healthy the routing controls are set (us-east-1's
 * cell Off, us-west-2's On) through the ARC cluster, whose us-east-1 endpoint
 * is down (503, as AWS answers "try another cluster endpoint"). Route 53's
 * failover record follows the us-east-1 control (its PRIMARY's health check),
 * as ARC's health checks do.
 */
describe('scenario: a region switch moving traffic with ARC routing controls, one cluster endpoint down, through the bot and worker processes', () => {
  let cluster: FakeArcRoutingControlCluster;
  let primary: FakeRds;
  let drRds: FakeRds;
  let eks: FakeEks;
  let drKube: FakeKube;
  let r53: FakeRoute53;
  let api: FakeService;
  let dr: ScenarioProcesses;
  let zone: string;
  let primaryCheck: string;

  beforeAll(async () => {
    [cluster, primary, drRds, eks, drKube, r53, api] = await Promise.all([
      new FakeArcRoutingControlCluster().start(),
      new FakeRds().start(),
      new FakeRds().start(),
      new FakeEks().start(),
      new FakeKube().start(),
      new FakeRoute53().start(),
      new FakeService().start(),
    ]);
    cluster.knowSecret(AWS_KEY.accessKeyId, AWS_KEY.secretAccessKey);
    r53.knownSecrets.set(AWS_KEY.accessKeyId, AWS_KEY.secretAccessKey);
    primary.region = 'us-east-1';
    drRds.shareGlobalDatabases(primary, 'us-west-2');
    drKube.requireEksToken = true;
    drKube.rolloutMs = 200;
    eks.onScaled = (nodegroup, desired) => drKube.nodes.set(nodegroup, desired);
    zone = r53.addHostedZone('dr-test.localhost');
    primaryCheck = r53.addHealthCheck({ Type: 'RECOVERY_CONTROL', FullyQualifiedDomainName: 'cell-east', ResourcePath: '/' });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'east', Failover: 'PRIMARY', TTL: 60, ResourceRecords: ['192.0.2.10'], HealthCheckId: primaryCheck });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'west', Failover: 'SECONDARY', TTL: 60, ResourceRecords: ['198.51.100.7'] });
    cluster.onUpdated = () => r53.setHealth(primaryCheck, cluster.stateOf(EAST) === 'On');
    dr = await ScenarioProcesses.start({
      defaultTarget: 'prod',
      targets: {
        prod: { label: 'production', region: 'us-east-1', endpoints: { rds: primary.url } },
        // The DR region: its RDS, EKS and Route 53; the primary's RDS at its own endpoint; the ARC cluster's five endpoints.
        dr: {
          label: 'DR',
          region: 'us-west-2',
          endpoints: { rds: drRds.url, eks: eks.url, route53: r53.url },
          rdsEndpoints: { 'us-east-1': primary.url },
          kubernetes: { eksCluster: 'eks-dr' },
          arcClusterEndpoints: cluster.endpointConfig(),
        },
      },
    });
  }, 40_000);
  afterAll(async () => {
    await dr.stop();
    await Promise.all([cluster.stop(), primary.stop(), drRds.stop(), eks.stop(), drKube.stop(), r53.stop(), api.stop()]);
  });
  beforeEach(() => {
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
    r53.setHealth(primaryCheck, true);

    resetRegionEstate({ primary, drRds, eks, drKube }, 'never-shown-0003');
    api.reset();
  });

  it('switchover with the us-east-1 cluster endpoint answering 503: the controls are set through the next endpoint once the DR region is healthy, read back, Route 53 answers with the DR region, the report with its numbers', async () => {
    const down = cluster.endpoint('us-east-1');
    down.outage = 'unavailable';
    const run = await dr.request(`failover --target dr nodes=4 healthUrl=${api.url}/health routingControls=${EAST}=Off,${WEST}=On dnsRecord=api.dr-test.localhost`);
    const plan = await dr.messageShows(run, /awaiting approval \(0 of 2\)/);
    // The plan read both controls, through the endpoint after the one that is down, and says what changes.
    expect(plan).toContain('On → Off: traffic stops flowing to its cell');
    expect(plan).toContain('Off → On: traffic flows to its cell');
    expect(plan).toContain('states read through its us-west-2 endpoint');
    expect(cluster.updates).toEqual([]);

    expect(await dr.answerTo(await dr.click(run, 'run.approve', BOB))).toContain('Approval recorded: 1 of 2');
    await dr.click(run, 'run.approve', CAROL);
    const { ending, message, report, reportComment } = await dr.ended(run);

    expect(ending).toMatch(new RegExp(`:large_green_circle: \\*Fail over to the DR region\\* \\(run \`${run.runId}\`\\) succeeded in`));
    expect(message).toContain(`${String(STEPS.length)}/${String(STEPS.length)} steps`);
    // The database: switched over (the primary answered), so no data-loss question was asked.
    expect(primary.callsTo('SwitchoverGlobalCluster')).toHaveLength(1);
    expect(primary.globalClusters.get(GLOBAL)).toEqual([DR_CLUSTER, PRIMARY]);
    expect([...dr.slack.messages.values()].filter((m) => JSON.stringify(m.blocks ?? []).includes('run.gate-'))).toEqual([]);
    expect(drKube.secretValue('production', 'database-credentials', 'host')).toContain(DR_CLUSTER);

    // The controls hold the asked states: one change with both, sent through us-west-2 (never the down endpoint).
    expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['Off', 'On']);
    expect(cluster.updates).toEqual([{ region: 'us-west-2', entries: [{ arn: EAST, state: 'Off' }, { arn: WEST, state: 'On' }], overridden: [] }]);
    // Every answer came from us-west-2: the plan's read (bot), then the run's read, change and read back (worker).
    const reads = cluster.callsTo('GetRoutingControlState');
    expect(new Set(reads.map((c) => c.endpoint))).toEqual(new Set(['us-west-2']));
    const clientCalls = reads.length / 2 + cluster.callsTo('UpdateRoutingControlStates').length;
    expect(clientCalls).toBe(4);
    // The down endpoint was tried (it is first in the list), but at most once per call: each process keeps to the one that answered.
    expect(down.outageAnswers).toBeGreaterThan(0);
    expect(down.outageAnswers).toBeLessThanOrEqual(clientCalls);
    expect(cluster.requestsByRegion()).toMatchObject({ 'eu-west-1': 0, 'ap-northeast-1': 0, 'ap-southeast-2': 0 });
    // Traffic moved: the PRIMARY's health check followed the us-east-1 control, and Route 53 was asked what it answers.
    expect(r53.callsTo('TestDNSAnswer').length).toBeGreaterThan(0);

    // The report: the scenario, both approvers, every step with its time, the recovery time against the 4-hour RTO.
    expect(report).toContain('# Recovery report: Fail over to the DR region');
    expect(report).toContain(`| Run | \`${run.runId}\` (runbook \`failover-region\`) |`);
    expect(report).toContain('| Outcome | **SUCCEEDED** |');
    expect(report).toContain('| Scenario | Region-wide outage (`region-outage`) |');
    expect(report).toMatch(/\| Requested \| alice \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    expect(report).toMatch(/\| Approved \| bob \(slack\) at [\d-]+ [\d:]+ UTC; carol \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    const steps = reportSteps(report);
    expect([...steps.keys()]).toEqual(STEPS);
    for (const step of steps.values()) expect(step).toEqual({ state: 'succeeded', took: expect.stringMatching(/^\d+(\.\d+)?m?s$/) as unknown });
    expect(report).toMatch(/\| Recovery time \(RTO\) \| \d+(\.\d+)?m?s \| 4h \| within \|/);
    expect(report).toMatch(/step succeeded: promote \([^)]*method=switchover/);
    expect(report).toContain('| Data loss (RPO) | 0s | 15m | within |');
    expect(report).toMatch(/step succeeded: route-traffic \([^)]*endpoint=us-west-2/);
    expect(report).toMatch(/step succeeded: route-traffic \([^)]*changed=2/);
    expect(report).toMatch(/step succeeded: verify-dns \([^)]*answer=198\.51\.100\.7/);
    expect(report).toMatch(/step succeeded: verify-dns \([^)]*verified=true/);
    expect(report).not.toContain('never-shown-0003');
    expect(reportComment).toMatch(/succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 4h: within\)/);
  });
});
