import { RDSClient, DescribeGlobalClustersCommand, FailoverGlobalClusterCommand, SwitchoverGlobalClusterCommand } from '@aws-sdk/client-rds';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failoverStep } from '../../../src/steps/rds/failover.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { answeringGate, createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const PRIMARY_ARN = 'arn:aws:rds:us-east-1:123456789012:cluster:prod-aurora';
const DR_ARN = 'arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-dr';

/** A region that does not answer: it accepts connections and never says anything. */
class BlackHole {
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => {
    this.connections++;
    this.sockets.add(socket);
    socket.on('error', () => undefined);
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => { resolve(); }));
  }
}

/**
 * A region switch of an Aurora global database across two regions' RDS: the
 * primary prod-aurora in us-east-1, its secondary prod-aurora-dr in us-west-2,
 * each region its own FakeRds sharing the global database.
 */
describe('rds.failover switchover and auto-switch: graceful when the primary answers, a failover when it does not', () => {
  let primary: FakeRds;
  let dr: FakeRds;
  let hole: BlackHole;
  const sdk = (url: string, region: string) => new RDSClient({ region, endpoint: url, maxAttempts: 1 });
  const stepReaching = (primaryUrl: string) =>
    withClients(failoverStep(), createStepClients({ aws: { region: 'us-west-2', rdsEndpointUrl: dr.url, rdsEndpointUrls: { 'us-west-2': dr.url, 'us-east-1': primaryUrl } }, kubernetes: {} }));
  const params = (step: ReturnType<typeof failoverStep>, extra: Record<string, unknown>) => step.params.parse({ cluster: 'prod-aurora-dr', globalCluster: 'prod-global', ...extra });
  const changing = (fake: FakeRds) => fake.calls.filter((c) => !c.action.startsWith('Describe')).map((c) => c.action);

  beforeAll(async () => {
    fakeAwsCredentials();
    [primary, dr, hole] = await Promise.all([new FakeRds().start(), new FakeRds().start(), new BlackHole().start()]);
    primary.region = 'us-east-1';
    dr.shareGlobalDatabases(primary, 'us-west-2');
  });
  afterAll(async () => {
    await Promise.all([primary.stop(), dr.stop(), hole.stop()]);
  });
  beforeEach(() => {
    for (const fake of [primary, dr]) {
      fake.clusters.clear();
      fake.instances.clear();
      fake.calls.length = 0;
      fake.globalFailoverMs = 400;
    }
    primary.globalClusters.clear();
    primary.globalFailovers.clear();
    primary.globalSync.clear();
    primary.addCluster('prod-aurora', { earliest: new Date(0), latest: new Date() });
    dr.addCluster('prod-aurora-dr', { earliest: new Date(0), latest: new Date() });
    primary.globalClusters.set('prod-global', ['prod-aurora', 'prod-aurora-dr']);
  });
  afterEach(() => {
    expect([...primary.modelRefusals, ...dr.modelRefusals]).toEqual([]);
  });

  it('the fake: a switchover only in the primary region, switching-over without data loss, refused while one runs or a secondary lags', async () => {
    // Asked in the DR region, where the primary is not: refused.
    await expect(sdk(dr.url, 'us-west-2').send(new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN }))).rejects.toMatchObject({
      name: 'InvalidGlobalClusterStateFault',
      message: expect.stringContaining("must be requested in the primary cluster's region (us-east-1)") as unknown,
    });
    // A secondary not connected: refused, it would lose writes.
    primary.globalSync.set('prod-aurora-dr', 'pending-resync');
    await expect(sdk(primary.url, 'us-east-1').send(new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN }))).rejects.toMatchObject({ name: 'InvalidGlobalClusterStateFault' });
    primary.globalSync.clear();

    await sdk(primary.url, 'us-east-1').send(new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN }));
    const seen = (await sdk(dr.url, 'us-west-2').send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'prod-global' }))).GlobalClusters?.[0];
    expect(seen).toMatchObject({ Status: 'switching-over', FailoverState: { Status: 'switching-over', FromDbClusterArn: PRIMARY_ARN, ToDbClusterArn: DR_ARN, IsDataLossAllowed: false } });
    // A second operation while it runs: refused, a failover too.
    await expect(sdk(dr.url, 'us-west-2').send(new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: true }))).rejects.toMatchObject({
      name: 'InvalidGlobalClusterStateFault',
      message: 'Global cluster prod-global is in switching-over state.',
    });
    const running = primary.globalFailovers.get('prod-global');
    if (running) running.until = 0;
    const after = (await sdk(primary.url, 'us-east-1').send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'prod-global' }))).GlobalClusters?.[0];
    expect(after?.FailoverState).toBeUndefined();
    expect(after?.GlobalClusterMembers).toEqual([
      expect.objectContaining({ DBClusterArn: DR_ARN, IsWriter: true }),
      expect.objectContaining({ DBClusterArn: PRIMARY_ARN, IsWriter: false, SynchronizationStatus: 'connected' }),
    ]);
  });

  it('the fake: a switchover is refused while a failover is under way', async () => {
    await sdk(dr.url, 'us-west-2').send(new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: true }));
    const seen = (await sdk(primary.url, 'us-east-1').send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'prod-global' }))).GlobalClusters?.[0];
    expect(seen?.FailoverState).toMatchObject({ Status: 'failing-over', IsDataLossAllowed: true });
    await expect(sdk(primary.url, 'us-east-1').send(new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN }))).rejects.toMatchObject({
      name: 'InvalidGlobalClusterStateFault',
      message: 'Global cluster prod-global is in failing-over state.',
    });
  });

  it('switchover with the primary healthy: asked in the primary region, the DR cluster becomes the writer, no data loss', async () => {
    const step = stepReaching(primary.url);
    const p = params(step, { method: 'switchover' });
    expect(await step.plan(planContext(), p)).toEqual([
      {
        action: 'change',
        resource: 'global cluster prod-global',
        detail: "switch global cluster prod-global over to prod-aurora-dr in us-west-2, asked in the primary's region us-east-1: no data lost, the old primary becomes a secondary",
      },
    ]);
    const out = await step.run(stepContext(), p);

    // Nothing lost: the report's data loss is 0, measured by the mechanism.
    expect(out).toMatchObject({ clusterArn: DR_ARN, method: 'switchover', dataLossAllowed: false, measuredRpoSeconds: 0 });
    expect(out).not.toHaveProperty('lastLagSeconds');
    expect(primary.callsTo('SwitchoverGlobalCluster').map((c) => c.params)).toEqual([expect.objectContaining({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN })]);
    expect(changing(dr)).toEqual([]);
    expect(primary.globalClusters.get('prod-global')).toEqual(['prod-aurora-dr', 'prod-aurora']);
  });

  it('auto-switch with the primary healthy: a switchover, not a failover', async () => {
    const step = stepReaching(primary.url);
    const p = params(step, { method: 'auto-switch', lastLagSeconds: 12 });
    const lines = await step.plan(planContext(), p);
    expect(lines).toEqual([
      {
        action: 'change',
        resource: 'global cluster prod-global',
        detail:
          'if the primary answers: switchover (no data lost); else: failover, data loss up to the last measured lag (12 s). ' +
          "Decided when the step runs, asking us-east-1 for 5 s whether prod-global is healthy; then: switch global cluster prod-global over to prod-aurora-dr in us-west-2, asked in the primary's region us-east-1: no data lost, the old primary becomes a secondary",
      },
      {
        action: 'change',
        resource: 'global cluster prod-global',
        irreversible: true,
        detail:
          'fail global cluster prod-global over to prod-aurora-dr in us-west-2, allowing the loss of writes not yet replicated (up to the last measured lag: 12 s), ' +
          'only if us-east-1 does not answer or prod-global is not healthy, and only once an approver accepts the data loss when the step asks, telling the lag; nothing more is sent to us-east-1 then',
      },
    ]);
    // The plan reads the DR region only: the primary is asked when the step runs.
    expect(primary.calls).toEqual([]);

    const ctx = stepContext();
    const out = await step.run(ctx, p);
    expect(out).toMatchObject({ method: 'switchover', dataLossAllowed: false, reason: 'the primary region us-east-1 answered and global cluster prod-global is healthy' });
    expect(out).not.toHaveProperty('lastLagSeconds');
    expect(changing(primary)).toEqual(['SwitchoverGlobalCluster']);
    expect(changing(dr)).toEqual([]);
    expect(primary.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });

  it('auto-switch with a secondary not connected: the primary answers but the database is not healthy, so a failover', async () => {
    primary.globalSync.set('prod-aurora-dr', 'pending-resync');
    const step = stepReaching(primary.url);
    const gate = answeringGate({ state: 'accepted', by: ['Bob', 'Carol'] });
    const out = await step.run(stepContext({ gate }), params(step, { method: 'auto-switch', dataLossApprovals: 2 }));
    expect(out).toMatchObject({ method: 'failover', dataLossAllowed: true, dataLossAcceptedBy: 'Bob, Carol', reason: expect.stringContaining('answered, but not connected: ' + DR_ARN + ' (pending-resync)') as unknown });
    // No lag given and no readiness record at hand: the question says it is unknown, and needs both approvers.
    expect(gate.asked).toHaveLength(1);
    expect(gate.asked[0]).toMatchObject({ required: 2, onTimeout: 'fail', choices: { accept: 'Fail over, accept data loss', refuse: 'Do not fail over' } });
    expect(gate.asked[0]?.facts[1]).toBe('Data that may be lost: unknown: no readiness check measured the replication lag to prod-aurora-dr in the last 7 days');
    expect(changing(primary)).toEqual([]);
    expect(dr.callsTo('FailoverGlobalCluster').map((c) => c.params)).toEqual([expect.objectContaining({ TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: 'true' })]);
  });

  it('auto-switch with the primary black-holed: a failover with data loss and the last lag, and nothing reaches the primary after the probe', async () => {
    const step = stepReaching(hole.url);
    const p = params(step, { method: 'auto-switch', probeSeconds: 1, lastLagSeconds: 12 });
    const before = hole.connections;
    await step.plan(planContext(), p);
    expect(hole.connections).toBe(before);

    const gate = answeringGate({ state: 'accepted', by: ['Bob'] });
    const ctx = stepContext({ gate });
    let atProbeEnd: number | undefined;
    ctx.progress = (message) => {
      if (message.includes('did not answer')) atProbeEnd = hole.connections;
      ctx.progressMessages.push(message);
    };
    const out = await step.run(ctx, p);

    expect(out).toMatchObject({ method: 'failover', dataLossAllowed: true, lastLagSeconds: 12, dataLossAcceptedBy: 'Bob', reason: 'the primary region us-east-1 did not answer within 1 s', clusterArn: DR_ARN });
    expect(gate.asked.map((g) => [g.question, ...g.facts])).toEqual([
      [
        'Fail global cluster prod-global over to prod-aurora-dr in us-west-2, accepting the loss of the writes not yet replicated?',
        'the primary region us-east-1 did not answer within 1 s',
        'Data that may be lost: up to 12s of writes (the replication lag given to the run)',
        'A switchover (nothing lost) needs the primary region us-east-1 answering with a healthy global database: it is not, so the choice is a failover or waiting.',
        'The failover cannot be undone by the bot; refusing changes nothing and fails the step (run failover-region again, or with method=switchover once the primary is back).',
      ],
    ]);
    expect(dr.callsTo('FailoverGlobalCluster').map((c) => c.params)).toEqual([expect.objectContaining({ GlobalClusterIdentifier: 'prod-global', TargetDbClusterIdentifier: DR_ARN, AllowDataLoss: 'true' })]);
    // The probe reached it (its two reads), then nothing more: the failover and the wait went to the DR region only.
    expect(atProbeEnd).toBeGreaterThan(before);
    expect(hole.connections).toBe(atProbeEnd);
    expect(hole.connections - before).toBeLessThanOrEqual(2);
    expect(primary.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
    // A failover's loss is not measured: the report says it is not known (the lag told is an estimate).
    expect(out).not.toHaveProperty('measuredRpoSeconds');
  });

  it('auto-switch with the primary black-holed and the data loss refused: nothing changed, the step fails saying so', async () => {
    const step = stepReaching(hole.url);
    const before = hole.connections;
    const gate = answeringGate({ state: 'refused', by: 'Bob', reason: 'the primary is coming back' });
    const failure = await failureOf(step.run(stepContext({ gate }), params(step, { method: 'auto-switch', probeSeconds: 1 })));
    expect(failure).toEqual({ permanent: true, message: 'the failover was refused by Bob (the primary is coming back): nothing was changed; prod-global keeps its writer' });
    expect(changing(dr)).toEqual([]);
    expect(hole.connections - before).toBeLessThanOrEqual(2);
    expect(primary.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora');
  });

  it('auto-switch whose question nobody answers in time: nothing changed', async () => {
    primary.globalSync.set('prod-aurora-dr', 'pending-resync');
    const step = stepReaching(primary.url);
    const failure = await failureOf(step.run(stepContext({ gate: answeringGate({ state: 'expired' }) }), params(step, { method: 'auto-switch', dataLossQuestionMinutes: 5 })));
    expect(failure).toEqual({ permanent: true, message: "nobody accepted the data loss of a failover within 5 min (or the step's timeout): nothing was changed; run failover-region again to be asked again" });
    expect([...changing(primary), ...changing(dr)]).toEqual([]);
  });

  it('switchover (explicit) with the primary black-holed: refused, nothing changed and nothing more sent there', async () => {
    const step = stepReaching(hole.url);
    const before = hole.connections;
    const failure = await failureOf(step.run(stepContext(), params(step, { method: 'switchover', probeSeconds: 1 })));
    expect(failure).toEqual({
      permanent: true,
      message:
        'cannot switch prod-global over to prod-aurora-dr: the primary region us-east-1 did not answer within 1 s; a switchover needs the primary region and every cluster healthy: use method global-failover (data loss allowed) or auto-switch',
    });
    expect(hole.connections - before).toBeLessThanOrEqual(2);
    expect(changing(dr)).toEqual([]);
    expect(primary.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora');
  });

  it('a switchover while a failover to another cluster is under way: refused in the plan and at run time, nothing sent', async () => {
    primary.globalClusters.set('prod-global', ['prod-aurora', 'prod-aurora-dr', 'prod-aurora-eu']);
    primary.globalFailovers.set('prod-global', { from: 'prod-aurora', to: 'prod-aurora-eu', until: Date.now() + 60_000 });
    const step = stepReaching(primary.url);
    const p = params(step, { method: 'auto-switch' });
    const planned = await failureOf(step.plan(planContext(), p));
    expect(planned.message).toMatch(/^cannot fail over to prod-aurora-dr: global cluster prod-global is already failing-over to another cluster, arn:aws:rds:[a-z0-9-]+:123456789012:cluster:prod-aurora-eu$/);
    const ran = await failureOf(step.run(stepContext(), p));
    expect(ran).toEqual(planned);
    expect([...changing(primary), ...changing(dr)]).toEqual([]);
  });

  it('re-entered after a switchover whose answer was lost: adopts it, SwitchoverGlobalCluster called once', async () => {
    primary.globalFailoverMs = 800;
    primary.failNext('SwitchoverGlobalCluster', { code: 'RequestExpired', message: 'the answer was lost', afterApply: true });
    const step = stepReaching(primary.url);
    const p = params(step, { method: 'auto-switch' });

    const first = await failureOf(step.run(stepContext(), p));
    expect(first.permanent).toBe(false);
    const probes = primary.callsTo('DescribeGlobalClusters').length;
    const ctx = stepContext({ attempt: 2 });
    const out = await step.run(ctx, p);

    expect(out).toMatchObject({ method: 'switchover', dataLossAllowed: false });
    expect(ctx.progressMessages[0]).toBe("global cluster prod-global switching-over to prod-aurora-dr already (an earlier attempt's): waiting for it");
    expect(primary.callsTo('SwitchoverGlobalCluster')).toHaveLength(1);
    // Adopted from the DR region's view: the primary was not asked again.
    expect(primary.callsTo('DescribeGlobalClusters')).toHaveLength(probes);
    expect(changing(dr)).toEqual([]);
    expect(primary.globalClusters.get('prod-global')?.[0]).toBe('prod-aurora-dr');
  });
});
