import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { DR_CLUSTER, GLOBAL, PRIMARY, resetRegionEstate } from '../support/region-estate.ts';
import { BOB, CAROL, reportSteps, ScenarioProcesses, shippedStepIds } from '../support/scenario-processes.ts';

const DR_ARN = `arn:aws:rds:us-west-2:123456789012:cluster:${DR_CLUSTER}`;
/** Every step of the shipped runbook (its first six: promote, scale, point-apps, restart, rollout, health). */
const STEPS = shippedStepIds('failover-region');

/**
 * The network path to the primary region's RDS: passed through to its fake,
 * or dark (the region gone: connections accepted, never answered), recording
 * the AWS actions that reached it while dark.
 */
class PrimaryRegionLink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private dark = false;
  /** The actions (Action=…) of the requests received while dark, in order. */
  readonly unanswered: string[] = [];
  private readonly target: number;

  constructor(targetUrl: string) {
    this.target = Number(new URL(targetUrl).port);
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('error', () => undefined).on('close', () => this.sockets.delete(client));
      if (this.dark) {
        client.on('data', (chunk: Buffer) => {
          for (const m of chunk.toString('utf8').matchAll(/Action=(\w+)/g)) if (m[1]) this.unanswered.push(m[1]);
        });
        return;
      }
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy()).on('close', () => this.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${String((this.server?.address() as AddressInfo).port)}`;
  }

  /** The region goes dark: open connections are dropped, new ones never answered. */
  goDark(): void {
    this.dark = true;
    this.dropAll();
  }

  up(): void {
    this.dark = false;
    this.unanswered.length = 0;
    this.dropAll();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server?.close(() => { resolve(); }));
  }

  private dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

/**
 * A region switch, end to end: `/dr failover --target dr` typed in Slack, two
 * approvers click Approve, a worker process carries failover-region out: the
 * DR cluster in us-west-2 becomes the global database's writer, the DR
 * region's pilot-light node group is scaled, the application pointed at the
 * new writer and restarted, and its health checked. Each region's RDS is its
 * own fake sharing the global database; the primary's (us-east-1) is reached
 * through a link the test can make go dark.
 */
describe('scenario: a region switch, through the bot and worker processes', () => {
  let primary: FakeRds;
  let drRds: FakeRds;
  let eks: FakeEks;
  let drKube: FakeKube;
  let api: FakeService;
  let link: PrimaryRegionLink;
  let dr: ScenarioProcesses;

  beforeAll(async () => {
    [primary, drRds, eks, drKube, api] = await Promise.all([new FakeRds().start(), new FakeRds().start(), new FakeEks().start(), new FakeKube().start(), new FakeService().start()]);
    link = await new PrimaryRegionLink(primary.url).start();
    primary.region = 'us-east-1';
    drRds.shareGlobalDatabases(primary, 'us-west-2');
    drKube.requireEksToken = true;
    drKube.rolloutMs = 200;
    eks.onScaled = (nodegroup, desired) => drKube.nodes.set(nodegroup, desired);
    dr = await ScenarioProcesses.start({
      defaultTarget: 'prod',
      targets: {
        prod: { label: 'production', region: 'us-east-1', endpoints: { rds: link.url } },
        // The DR region, reaching its cluster through EKS; RDS of the primary's region is asked at its own endpoint.
        dr: { label: 'DR', region: 'us-west-2', endpoints: { rds: drRds.url, eks: eks.url }, rdsEndpoints: { 'us-east-1': link.url }, kubernetes: { eksCluster: 'eks-dr' } },
      },
    });
  }, 40_000);
  afterAll(async () => {
    await dr.stop();
    await Promise.all([link.stop(), primary.stop(), drRds.stop(), eks.stop(), drKube.stop(), api.stop()]);
  });
  beforeEach(() => {
    link.up();
    resetRegionEstate({ primary, drRds, eks, drKube }, 'never-shown-0001');
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
    expect(message).toContain(`${String(STEPS.length)}/${String(STEPS.length)} steps`);
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
    // Nothing lost: the switchover measured it, and the report scores it against the 15-minute RPO.
    expect(report).toContain('| Data loss (RPO) | 0s | 15m | within |');
    expect(report).toMatch(/step succeeded: promote \([^)]*dataLossAllowed=false/);
    expect(report).not.toContain('never-shown-0001');
    expect(reportComment).toMatch(/succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 4h: within\)/);
  });

  it('the primary region black-holed: two approvers accept the data loss (its lag unknown) at the run\'s question, the failover is made in the DR region, and the primary gets nothing beyond the probe', async () => {
    link.goDark();
    const run = await dr.request(`failover --target dr nodes=4 healthUrl=${api.url}/health`);
    await dr.messageShows(run, /awaiting approval \(0 of 2\)/);
    expect(link.unanswered).toEqual([]);
    await dr.click(run, 'run.approve', BOB);
    await dr.click(run, 'run.approve', CAROL);

    // The primary did not answer its probe: the run asks, in its message, before failing over.
    const asked = await dr.messageShows(run, /Decision needed at `promote`/, 30_000);
    const probe = [...link.unanswered];
    expect(asked).toContain('Fail global cluster prod-aurora-global over to prod-aurora-replica in us-west-2, accepting the loss of the writes not yet replicated?');
    expect(asked).toContain('the primary region us-east-1 did not answer within 5 s');
    expect(asked).toContain(`Data that may be lost: unknown: no readiness check measured the replication lag to ${DR_CLUSTER} in the last 7 days`);
    expect(asked).toContain('Needs 2 accepts');
    expect(changing(drRds)).toEqual([]);

    const gate = dr.buttonValue(run, 'run.gate-accept');
    expect(await dr.answerTo(await dr.click(run, 'run.gate-accept', BOB, gate))).toContain('Your accept is recorded: 1 of 2');
    await dr.click(run, 'run.gate-accept', CAROL, gate);
    const { ending, message, report } = await dr.ended(run, 30_000);

    expect(ending).toContain('succeeded in');
    expect(message).toContain('`promote` accepted by bob, carol');
    // The failover: asked in the DR region, data loss allowed; the DR cluster is the writer.
    expect(drRds.callsTo('FailoverGlobalCluster').map((c) => c.params)).toEqual([expect.objectContaining({ GlobalClusterIdentifier: GLOBAL, TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: 'true' })]);
    expect(primary.globalClusters.get(GLOBAL)?.[0]).toBe(DR_CLUSTER);
    // The dark primary: the probe's reads only, none answered, nothing after the question; nothing reached its RDS.
    expect(probe.length).toBeGreaterThan(0);
    expect(probe.every((action) => ['DescribeGlobalClusters', 'DescribeDBClusters'].includes(action))).toBe(true);
    expect(link.unanswered).toEqual(probe);
    expect(primary.calls).toEqual([]);
    expect(drKube.secretValue('production', 'database-credentials', 'host')).toContain(DR_CLUSTER);

    expect(report).toContain('| Outcome | **SUCCEEDED** |');
    expect(report).toMatch(/\| Approved \| bob \(slack\) at [\d-]+ [\d:]+ UTC; carol \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    expect([...reportSteps(report).keys()]).toEqual(STEPS);
    expect(report).toMatch(/\| Recovery time \(RTO\) \| \d+(\.\d+)?m?s \| 4h \| within \|/);
    expect(report).toMatch(/step succeeded: promote \([^)]*method=failover/);
    // A failover's loss is not measured: the report says so rather than a number.
    expect(report).toContain('| Data loss (RPO) | not known | 15m | — |');
    expect(report).toMatch(/step succeeded: promote \([^)]*dataLossAcceptedBy=bob, carol/);
    // The question and both answers are in the report's timeline, with who answered.
    expect(report).toMatch(/UTC: dr-chatops \(system\): gate opened: promote: Fail global cluster prod-aurora-global over/);
    expect(report).toMatch(/UTC: bob \(slack\): gate accepted: promote: .* \(1 of 2\)/);
    expect(report).toMatch(/UTC: carol \(slack\): gate accepted: promote: .* \(2 of 2\)/);
    for (const step of reportSteps(report).values()) expect(step.state).toBe('succeeded');
  });
});
