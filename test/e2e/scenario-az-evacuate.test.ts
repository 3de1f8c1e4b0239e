import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Obj } from '../support/fake-velero.ts';
import { FakeArcZonalShift } from '../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../support/fake-ec2.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { AWS_KEY, BOB, reportSteps, ScenarioProcesses, shippedStepIds } from '../support/scenario-processes.ts';

const WEB = 'arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef';
const A0 = 'ip-10-0-1-10.ec2.internal';
const A1 = 'ip-10-0-1-11.ec2.internal';
const B0 = 'ip-10-0-2-10.ec2.internal';
/** Every step of the shipped runbook: shift, database, cordon, drain, pods, health. */
const STEPS = shippedStepIds('az-evacuate');
const podType = { group: '', version: 'v1', resource: 'pods', kind: 'Pod' };
const nodeName = (pod: Obj) => ((pod.spec ?? {}) as { nodeName?: string }).nodeName ?? '';
const unschedulable = (node: Obj | undefined) => ((node?.spec ?? {}) as { unschedulable?: boolean }).unschedulable === true;

/**
 * A single AZ failure, end to end: `/dr evacuate us-east-1a` typed in Slack, the
 * plan posted and approved by a second person with the button, carried out by
 * a worker process against the fakes, the recovery report posted as a file.
 * us-east-1a is use1-az1 in this account (EC2 says so); the Aurora writer and
 * two of the application's pods are there.
 */
describe('scenario: a single AZ failure, through the bot and worker processes', () => {
  let arc: FakeArcZonalShift;
  let ec2: FakeEc2;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let dr: ScenarioProcesses;

  beforeAll(async () => {
    [arc, ec2, rds, kube, api] = await Promise.all([new FakeArcZonalShift().start(), new FakeEc2().start(), new FakeRds().start(), new FakeKube().start(), new FakeService().start()]);
    arc.knownSecrets.set(AWS_KEY.accessKeyId, AWS_KEY.secretAccessKey);
    ec2.knownSecrets.set(AWS_KEY.accessKeyId, AWS_KEY.secretAccessKey);
    rds.region = 'us-east-1';
    dr = await ScenarioProcesses.start({
      defaultTarget: 'prod',
      targets: { prod: { label: 'production', region: 'us-east-1', endpoints: { arczonalshift: arc.url, ec2: ec2.url, rds: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } },
    });
  }, 40_000);
  afterAll(async () => {
    await dr.stop();
    await Promise.all([arc.stop(), ec2.stop(), rds.stop(), kube.stop(), api.stop()]);
  });
  beforeEach(() => {
    arc.shifts.clear();
    arc.calls.length = 0;
    arc.applyAfterMs = 200;
    // This account's names and ids: nothing in a name tells its id.
    ec2.setZones('us-east-1', [['us-east-1a', 'use1-az1'], ['us-east-1b', 'use1-az6']]);
    arc.setRegionZones('us-east-1', ['use1-az1', 'use1-az2', 'use1-az3', 'use1-az4', 'use1-az5', 'use1-az6']);
    arc.addManagedResource(WEB, ['use1-az1', 'use1-az6']);

    rds.clusters.clear();
    rds.instances.clear();
    rds.calls.length = 0;
    rds.failovers.underWay.clear();
    rds.failovers.failoverMs = 300;
    rds.addCluster('prod-aurora-cluster', { earliest: new Date(0), latest: new Date() });
    rds.failovers.addReader('prod-aurora-cluster', 'prod-aurora-reader-1b', 'us-east-1b', { writerZone: 'us-east-1a' });

    kube.nodeObjects.clear();
    kube.objects.clear();
    kube.evictions.clear();
    kube.calls.length = 0;
    kube.evictions.graceMs = 300;
    kube.addNode(A0, { zone: 'us-east-1a' });
    kube.addNode(A1, { zone: 'us-east-1a' });
    kube.addNode(B0, { zone: 'us-east-1b' });
    kube.addDeployment('production', 'api', ['api:2.1.0'], { replicas: 3 });
    kube.addPod('production', 'api-7d9f8-abcde', { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: A0 });
    kube.addPod('production', 'api-7d9f8-fghij', { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: A1 });
    kube.addPod('production', 'api-7d9f8-klmno', { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: B0 });
    api.reset();
  });

  const evacuate = (extra = '') => dr.request(`evacuate us-east-1a resources=${WEB} healthUrl=${api.url}/health${extra}`);
  const writer = () => [...rds.instances.values()].find((i) => i.isWriter);
  const appPods = () => kube.objects.list(podType, 'production').filter((pod) => !(pod.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  const podsIn = (nodes: string[]) => appPods().filter((pod) => nodes.includes(nodeName(pod)));
  /** The report's own claims: the scenario, who approved, every step with its time, the recovery time against the 5-minute RTO. */
  const expectReport = (report: string, runId: string) => {
    expect(report).toContain('# Recovery report: Evacuate an Availability Zone');
    expect(report).toContain(`| Run | \`${runId}\` (runbook \`az-evacuate\`) |`);
    expect(report).toContain('| Outcome | **SUCCEEDED** |');
    expect(report).toContain('| Scenario | Single AZ failure (`single-az-failure`) |');
    expect(report).toMatch(/\| Requested \| alice \(slack\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/);
    expect(report).toMatch(/\| Approved \| bob \(slack\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/);
    const steps = reportSteps(report);
    expect([...steps.keys()]).toEqual(STEPS);
    for (const step of steps.values()) expect(step).toEqual({ state: 'succeeded', took: expect.stringMatching(/^\d+(\.\d+)?m?s$/) as unknown });
    // Recovered within the single AZ failure's RTO of 5 minutes, measured to the health check.
    expect(report).toMatch(/\| Recovery time \(RTO\) \| \d+(\.\d+)?m?s \| 5m \| within \|/);
    expect(report).toContain('until the health check passed (step `health`');
    // No committed write lost: the in-region failover (or a writer already elsewhere) says so, scored against the RPO of 0.
    expect(report).toContain('| Data loss (RPO) | 0s | 0s (no data loss) | within |');
  };

  it('the writer in the failing zone: traffic shifted away from use1-az1, the writer moved to a reader in us-east-1b, the zone cordoned, health OK, the report', async () => {
    const run = await evacuate();
    const plan = await dr.messageShows(run, /awaiting approval \(0 of 1\)/);
    expect(plan).toContain('use1-az1');
    expect(plan).toContain('prod-aurora-reader-1b');

    await dr.click(run, 'run.approve', BOB);
    const { ending, message, report, reportComment } = await dr.ended(run);

    expect(ending).toMatch(new RegExp(`:large_green_circle: \\*Evacuate an Availability Zone\\* \\(run \`${run.runId}\`\\) succeeded in`));
    expect(message).toContain(`${String(STEPS.length)}/${String(STEPS.length)} steps`);
    // Traffic: one shift on the load balancer, away from the zone id (not the name), named after the run.
    expect([...arc.shifts.values()].map((s) => [s.resourceIdentifier, s.awayFrom, s.cancelled])).toEqual([[WEB, 'use1-az1', false]]);
    expect([...arc.shifts.values()][0]?.comment).toContain(run.runId);
    // Database: the reader in us-east-1b is the writer now.
    expect(writer()).toMatchObject({ id: 'prod-aurora-reader-1b', availabilityZone: 'us-east-1b' });
    expect(rds.callsTo('FailoverDBCluster')).toHaveLength(1);
    // Kubernetes: the zone's nodes cordoned, the other's not; not drained (not asked), so its pods stay.
    expect([A0, A1, B0].map((n) => unschedulable(kube.nodeObjects.peek(n)))).toEqual([true, true, false]);
    expect(podsIn([A0, A1])).toHaveLength(2);
    expect(kube.callsMatching('POST', '/eviction')).toHaveLength(0);
    expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThan(0);

    expectReport(report, run.runId);
    expect(report).toContain('- `database` Move the database writer out of the zone: done');
    expect(reportComment).toMatch(/Recovery report: \*Evacuate an Availability Zone\* \(`r\w+`\) succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 5m: within\)/);
  });

  it('drain=true with a PodDisruptionBudget that blocks it: the run message shows the budget holding the drain; relaxed, the run completes and the report says so', async () => {
    kube.addPdb('production', 'api-pdb', { matchLabels: { app: 'api' }, minAvailable: 3 });
    const run = await evacuate(' drain=true');
    await dr.messageShows(run, /awaiting approval/);
    await dr.click(run, 'run.approve', BOB);

    const held = await dr.messageShows(run, /is held by PodDisruptionBudget production\/api-pdb/, 30_000);
    expect(held).toContain('running');
    expect(podsIn([A0, A1])).toHaveLength(2);

    // The team relaxes the budget (as kubectl would): the drain goes on at its next try.
    kube.evictions.setBudget('production', 'api-pdb', { minAvailable: 2 });
    const { ending, report } = await dr.ended(run, 30_000);

    expect(ending).toContain('succeeded in');
    expect(podsIn([A0, A1])).toEqual([]);
    expect(appPods().map(nodeName)).toEqual([B0, B0, B0]);
    expect([A0, A1].map((n) => unschedulable(kube.nodeObjects.peek(n)))).toEqual([true, true]);
    expectReport(report, run.runId);
    expect(report).toContain('drain=true');
    expect(report).toContain('- `drain` Drain the zone\'s nodes (only with drain=true): done');
  });
});
