import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeArcZonalShift } from '../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../support/fake-ec2.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { AWS_KEY, BOB, reportSteps, ScenarioProcesses, shippedStepIds } from '../support/scenario-processes.ts';
import { A0, A1, B0, nodeName, podType, resetAzEstate, unschedulable, WEB } from '../support/az-estate.ts';

/** Every step of the shipped runbook: shift, database, cordon, drain, pods, health. */
const STEPS = shippedStepIds('az-evacuate');

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
    resetAzEstate({ arc, ec2, rds, kube });
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
