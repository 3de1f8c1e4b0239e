import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { BOB, CAROL, reportSteps, ScenarioProcesses } from '../support/scenario-processes.ts';

const GLOBAL = 'prod-aurora-global';
const PRIMARY = 'prod-aurora';
const DR_CLUSTER = 'prod-aurora-replica';
const DR_ARN = `arn:aws:rds:us-west-2:123456789012:cluster:${DR_CLUSTER}`;
const STEPS = ['promote', 'scale', 'point-apps', 'restart', 'rollout', 'health'];

/**
 * A region switch, end to end: `/dr failover --target dr` typed in Slack, two
 * approvers click Approve, a worker process carries failover-region out. The
 * global database's primary is in us-east-1 and answers, so the DR cluster in
 * us-west-2 becomes the writer by a switchover asked in us-east-1 (nothing
 * lost, nobody asked about data loss); then the DR region's pilot-light node
 * group is scaled, the application pointed at the new writer and restarted,
 * and its health checked. Each region's RDS is its own fake sharing the
 * global database.
 */
describe('scenario: a region switch with the primary region healthy, through the bot and worker processes', () => {
  let primary: FakeRds;
  let drRds: FakeRds;
  let eks: FakeEks;
  let drKube: FakeKube;
  let api: FakeService;
  let dr: ScenarioProcesses;

  beforeAll(async () => {
    [primary, drRds, eks, drKube, api] = await Promise.all([new FakeRds().start(), new FakeRds().start(), new FakeEks().start(), new FakeKube().start(), new FakeService().start()]);
    primary.region = 'us-east-1';
    drRds.shareGlobalDatabases(primary, 'us-west-2');
    drKube.requireEksToken = true;
    drKube.rolloutMs = 200;
    eks.onScaled = (nodegroup, desired) => drKube.nodes.set(nodegroup, desired);
    dr = await ScenarioProcesses.start({
      defaultTarget: 'prod',
      targets: {
        prod: { label: 'production', region: 'us-east-1', endpoints: { rds: primary.url } },
        // The DR region, reaching its cluster through EKS; RDS of the primary's region is asked at its own endpoint.
        dr: { label: 'DR', region: 'us-west-2', endpoints: { rds: drRds.url, eks: eks.url }, rdsEndpoints: { 'us-east-1': primary.url }, kubernetes: { eksCluster: 'eks-dr' } },
      },
    });
  }, 40_000);
  afterAll(async () => {
    await dr.stop();
    await Promise.all([primary.stop(), drRds.stop(), eks.stop(), drKube.stop(), api.stop()]);
  });
  beforeEach(() => {
    for (const fake of [primary, drRds]) {
      fake.clusters.clear();
      fake.instances.clear();
      fake.calls.length = 0;
      fake.globalFailoverMs = 400;
    }
    primary.globalClusters.clear();
    primary.globalFailovers.clear();
    primary.globalSync.clear();
    primary.addCluster(PRIMARY, { earliest: new Date(0), latest: new Date() });
    drRds.addCluster(DR_CLUSTER, { earliest: new Date(0), latest: new Date() });
    primary.globalClusters.set(GLOBAL, [PRIMARY, DR_CLUSTER]);

    eks.clusters.clear();
    eks.nodegroups.clear();
    eks.calls.length = 0;
    eks.addCluster('eks-dr', drKube.url);
    eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 1, desired: 1 });
    drKube.deployments.clear();
    drKube.secrets.clear();
    drKube.calls.length = 0;
    drKube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password: 'never-shown-0001' });
    drKube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });
    api.reset();
  });

  const changing = (fake: FakeRds) => fake.calls.filter((c) => !c.action.startsWith('Describe')).map((c) => c.action);
  const gateButtons = () => [...dr.slack.messages.values()].filter((m) => JSON.stringify(m.blocks ?? []).includes('run.gate-'));

  it('switchover asked in the primary region: no data lost and no data-loss question, the DR region serving, the report with its numbers', async () => {
    const run = await dr.request(`failover --target dr nodes=4 healthUrl=${api.url}/health`);
    const plan = await dr.messageShows(run, /awaiting approval \(0 of 2\)/);
    expect(plan).toContain('if the primary answers: switchover (no data lost)');
    // The plan reads the DR region only: the primary is asked when the step runs.
    expect(primary.calls).toEqual([]);

    expect(await dr.answerTo(await dr.click(run, 'run.approve', BOB))).toContain('Approval recorded: 1 of 2');
    await dr.click(run, 'run.approve', CAROL);
    const { ending, message, report, reportComment } = await dr.ended(run);

    expect(ending).toMatch(new RegExp(`:large_green_circle: \\*Fail over to the DR region\\* \\(run \`${run.runId}\`\\) succeeded in`));
    expect(message).toContain('6/6 steps');
    // The database: one switchover, asked in us-east-1 (where the primary is), nothing changing asked in us-west-2.
    expect(primary.callsTo('SwitchoverGlobalCluster').map((c) => c.params)).toEqual([expect.objectContaining({ GlobalClusterIdentifier: GLOBAL, TargetDbClusterIdentifier: DR_ARN })]);
    expect(changing(primary)).toEqual(['SwitchoverGlobalCluster']);
    expect(changing(drRds)).toEqual([]);
    expect(primary.globalClusters.get(GLOBAL)).toEqual([DR_CLUSTER, PRIMARY]);
    expect(gateButtons()).toEqual([]);
    // The DR region serves: nodes scaled, the application pointed at the new writer and restarted, healthy.
    expect(eks.nodegroups.get('eks-dr/workers')).toMatchObject({ desiredSize: 4, maxSize: 4 });
    expect(eks.calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual(['/clusters/eks-dr/node-groups/workers/update-config']);
    expect(drKube.secretValue('production', 'database-credentials', 'host')).toContain(DR_CLUSTER);
    expect(drKube.callsMatching('PATCH', '/deployments/api-gateway')).toHaveLength(1);
    expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThan(0);

    // The report: the scenario, both approvers, every step with its time, the recovery time against the 4-hour RTO.
    expect(report).toContain('# Recovery report: Fail over to the DR region');
    expect(report).toContain('| Outcome | **SUCCEEDED** |');
    expect(report).toContain('| Scenario | Region-wide outage (`region-outage`) |');
    expect(report).toMatch(/\| Approved \| bob \(slack\) at [\d-]+ [\d:]+ UTC; carol \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    const steps = reportSteps(report);
    expect([...steps.keys()]).toEqual(STEPS);
    for (const step of steps.values()) expect(step).toEqual({ state: 'succeeded', took: expect.stringMatching(/^\d+(\.\d+)?m?s$/) as unknown });
    expect(report).toMatch(/\| Recovery time \(RTO\) \| \d+(\.\d+)?m?s \| 4h \| within \|/);
    expect(report).toMatch(/step succeeded: promote \([^)]*method=switchover/);
    expect(report).toMatch(/step succeeded: promote \([^)]*dataLossAllowed=false/);
    expect(report).not.toContain('never-shown-0001');
    expect(reportComment).toMatch(/succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 4h: within\)/);
  });
});
