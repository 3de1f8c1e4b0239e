import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { DescribeDBClustersCommand, RDSClient } from '@aws-sdk/client-rds';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyAwsError } from '../../src/steps/rds/aws.ts';
import { isPermanent } from '../../src/steps/types.ts';
import { UserError } from '../../src/errors.ts';
import { TargetSpecSchema } from '../../src/targets/config.ts';
import { Targets } from '../../src/targets/targets.ts';
import { takeModelRefusals } from '../support/aws-models/refusals.ts';
import { waitClusterStep } from '../../src/steps/eks/wait-cluster.ts';
import { FakeEks } from '../support/fake-eks.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { stepContext, withClients } from '../support/step-context.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeSts } from '../support/fake-sts.ts';

const MINUTE = 60_000;
const DR_ROLE = 'arn:aws:iam::222222222222:role/dr-chatops-target';
const EXTERNAL_ID = 'dr-chatops-7f3a9c';
/** The bot's own identity: static keys, as from its environment or instance profile. */
const BOT_KEY = 'AKIAFAKEFAKEFAKE0001';
const botCredentials = () => Promise.resolve({ accessKeyId: BOT_KEY, secretAccessKey: 'x'.repeat(40) });

/** The error `promise` rejects with (an AWS SDK error carries its code as `name` and its HTTP status). */
/** Resolves once `ready()` holds, polled; fails saying `what` never happened. */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !ready(); ) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-error: ${String(err)}`, { cause: err });
  }
  throw new Error('expected the call to fail');
}

describe('targets: a role assumed per run, reaching the target account only', () => {
  let rdsPrimary: FakeRds;
  let rdsDr: FakeRds;
  let eks: FakeEks;
  let sts: FakeSts;
  let clock: number;
  const now = () => clock;

  beforeAll(async () => {
    [rdsPrimary, rdsDr, eks, sts] = await Promise.all([new FakeRds().start(), new FakeRds().start(), new FakeEks().start(), new FakeSts().start()]);
    rdsDr.trustSessionsFrom(sts);
    rdsPrimary.trustSessionsFrom(sts);
    eks.trustSessionsFrom(sts);
  });
  afterAll(async () => {
    await Promise.all([rdsPrimary.stop(), rdsDr.stop(), eks.stop(), sts.stop()]);
  });
  beforeEach(() => {
    clock = Date.parse('2026-12-01T06:00:00Z');
    sts.now = now;
    sts.roles.clear();
    sts.sessions.clear();
    sts.calls.length = 0;
    sts.addRole(DR_ROLE, { trustedAccessKeys: [BOT_KEY], externalId: EXTERNAL_ID });
    for (const rds of [rdsPrimary, rdsDr]) {
      rds.clusters.clear();
      rds.instances.clear();
      rds.calls.length = 0;
      rds.callers.length = 0;
    }
    const window = { earliest: new Date(clock - 24 * 60 * MINUTE), latest: new Date(clock - 5 * MINUTE) };
    rdsPrimary.addCluster('prod-aurora', window);
    rdsDr.addCluster('prod-aurora-dr', window);
    eks.clusters.clear();
    eks.calls.length = 0;
    eks.callers.length = 0;
    eks.addCluster('eks-dr', 'https://127.0.0.1:1');
  });

  function targets(drExternalId = EXTERNAL_ID): Targets {
    const specs = new Map([
      ['default', TargetSpecSchema.parse({ region: 'us-east-1', endpoints: { rds: rdsPrimary.url } })],
      [
        'dr',
        TargetSpecSchema.parse({
          region: 'us-west-2',
          roleArn: DR_ROLE,
          externalId: drExternalId,
          endpoints: { rds: rdsDr.url, eks: eks.url, sts: sts.url },
          kubernetes: { eksCluster: 'eks-dr' },
        }),
      ],
    ]);
    return new Targets(specs, 'default', { now, credentials: botCredentials });
  }

  const clusterIds = async (rds: RDSClient) => ((await rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? []).map((c) => c.DBClusterIdentifier);

  it('reaches the DR account with the assumed role, named after the run, and the primary with the bot’s own keys', async () => {
    const all = targets();
    const dr = all.access('dr', 'r7k2m9x4');
    expect(dr.target).toMatchObject({ name: 'dr', region: 'us-west-2', account: '222222222222', cluster: 'EKS eks-dr' });

    expect(await clusterIds(dr.aws.rds())).toEqual(['prod-aurora-dr']);
    const { cluster } = await dr.aws.eks().send(new DescribeClusterCommand({ name: 'eks-dr' }));
    expect(cluster?.status).toBe('ACTIVE');

    expect(sts.callsTo('AssumeRole')).toEqual([
      { action: 'AssumeRole', roleArn: DR_ROLE, sessionName: 'dr-chatops-r7k2m9x4', externalId: EXTERNAL_ID, durationSeconds: 3_600, callerAccessKey: BOT_KEY },
    ]);
    const [assumedKey] = [...sts.sessions.keys()];
    expect(assumedKey).toMatch(/^ASIA/);
    expect(sts.sessions.get(assumedKey ?? '')).toMatchObject({ roleArn: DR_ROLE, sessionName: 'dr-chatops-r7k2m9x4', expiresAt: clock + 3_600_000 });
    expect(rdsDr.callers).toEqual([{ action: 'DescribeDBClusters', accessKeyId: assumedKey }]);
    expect(eks.callers).toEqual([{ operation: 'DescribeCluster', accessKeyId: assumedKey }]);
    expect(rdsPrimary.calls).toEqual([]);

    // The same run's next step reuses the session: no second AssumeRole.
    expect(await clusterIds(all.access('dr', 'r7k2m9x4').aws.rds())).toEqual(['prod-aurora-dr']);
    expect(sts.callsTo('AssumeRole')).toHaveLength(1);
    expect(rdsDr.callers.map((c) => c.accessKeyId)).toEqual([assumedKey, assumedKey]);

    // The default target acts as the bot itself: no role, no STS.
    expect(await clusterIds(all.access('default', 'r7k2m9x4').aws.rds())).toEqual(['prod-aurora']);
    expect(rdsPrimary.callers).toEqual([{ action: 'DescribeDBClusters', accessKeyId: BOT_KEY }]);
    expect(sts.callsTo('AssumeRole')).toHaveLength(1);
    expect(rdsDr.calls).toHaveLength(2);

    // Another run gets its own session, named after it (CloudTrail in the DR account tells the runs apart).
    await all.access('dr', 'r8q3n5w1').aws.rds().send(new DescribeDBClustersCommand({}));
    expect(sts.callsTo('AssumeRole').map((c) => c.sessionName)).toEqual(['dr-chatops-r7k2m9x4', 'dr-chatops-r8q3n5w1']);
    expect(rdsDr.callers[2]?.accessKeyId).not.toBe(assumedKey);
  });

  it('assumes the role again 5 minutes before the session expires, so no call carries an expired key', async () => {
    const rds = targets().access('dr', 'r7k2m9x4').aws.rds();
    await rds.send(new DescribeDBClustersCommand({}));
    const first = rdsDr.callers[0]?.accessKeyId ?? '';

    clock += 54 * MINUTE; // 6 minutes left: still good
    await rds.send(new DescribeDBClustersCommand({}));
    expect(sts.callsTo('AssumeRole')).toHaveLength(1);
    expect(rdsDr.callers[1]?.accessKeyId).toBe(first);

    clock += MINUTE + 1_000; // under 5 minutes left: renewed before the call
    await rds.send(new DescribeDBClustersCommand({}));
    expect(sts.callsTo('AssumeRole')).toHaveLength(2);
    const second = rdsDr.callers[2]?.accessKeyId ?? '';
    expect(second).toMatch(/^ASIA/);
    expect(second).not.toBe(first);

    // Past the first session's expiry: the step's calls go on with the renewed key, accepted.
    clock += 5 * MINUTE;
    expect(sts.standing({ accessKeyId: first, sessionToken: sts.sessions.get(first)?.sessionToken })).toBe('expired');
    expect(await clusterIds(rds)).toEqual(['prod-aurora-dr']);
    expect(rdsDr.callers[3]?.accessKeyId).toBe(second);
    expect(sts.callsTo('AssumeRole')).toHaveLength(2);

    // The old key would have been refused, as RDS refuses an expired session.
    const old = sts.sessions.get(first);
    const stale = new RDSClient({ region: 'us-west-2', endpoint: rdsDr.url, credentials: { accessKeyId: first, secretAccessKey: old?.secretAccessKey ?? '', sessionToken: old?.sessionToken ?? '' } });
    const refused = await rejection(stale.send(new DescribeDBClustersCommand({})));
    expect(refused.name).toBe('ExpiredToken');
    expect(refused.message).toBe('The security token included in the request is expired');
    expect(refused.$metadata?.httpStatusCode).toBe(403);
  });

  it('a step waiting past its session\'s expiry (a cluster still being created) goes on with a renewed session', async () => {
    const kube = await new FakeKube().start();
    try {
      kube.requireEksToken = true;
      kube.now = now;
      kube.trustSessionsFrom(sts);
      const step = withClients(waitClusterStep(), targets().access('dr', 'r7k2m9x4', 'eks-prod-2'));
      const ctx = stepContext({ timeoutMs: 20_000 });
      const waiting = step.run(ctx, step.params.parse({ intervalSeconds: 1 }));
      // Awaited below; if a wait fails first, its rejection is not left unhandled.
      waiting.catch(() => undefined);
      await until(() => eks.callers.length >= 2, 'the step looked for the cluster twice');
      const before = eks.callers.at(-1)?.accessKeyId ?? '';
      // An hour and ten minutes pass while the cluster is being created: the first session has expired.
      clock += 70 * MINUTE;
      await until(() => eks.callers.some((c) => c.accessKeyId !== before), 'a call with a renewed session');
      eks.addCluster('eks-prod-2', kube.url);
      expect(await waiting).toEqual({ cluster: 'eks-prod-2', endpoint: kube.url });

      const keys = [...new Set(eks.callers.map((c) => c.accessKeyId))];
      expect(keys).toHaveLength(2);
      expect(sts.callsTo('AssumeRole').map((c) => c.sessionName)).toEqual(['dr-chatops-r7k2m9x4', 'dr-chatops-r7k2m9x4']);
      // Every call after the jump, and the cluster's token, carry the new session: the fakes refused none.
      expect(sts.standing({ accessKeyId: keys[0] ?? '', sessionToken: sts.sessions.get(keys[0] ?? '')?.sessionToken })).toBe('expired');
      expect(kube.eksCallers.every((k) => k === keys[1])).toBe(true);
      expect(ctx.progressMessages.some((m) => m.includes('not created yet'))).toBe(true);
    } finally {
      await kube.stop();
    }
  });

  it('fails the call, naming AccessDenied and the role, when STS refuses the role; nothing reaches the DR account', async () => {
    const err = await rejection(targets('wrong-external-id').access('dr', 'r7k2m9x4').aws.rds().send(new DescribeDBClustersCommand({})));
    expect(err.message).toContain('AccessDenied');
    expect(err.message).toContain(DR_ROLE);
    // The engine fails the step at once instead of retrying a refusal, also when a step wraps the error.
    expect(isPermanent(err)).toBe(true);
    expect(isPermanent(classifyAwsError(err, 'describing clusters'))).toBe(true);
    expect(rdsDr.calls).toEqual([]);
    // Refused once: a trust policy does not change between retries.
    expect(sts.callsTo('AssumeRole')).toMatchObject([{ roleArn: DR_ROLE, externalId: 'wrong-external-id' }]);
  });

  it('refuses an unknown target name, listing the configured ones', () => {
    const all = targets();
    expect(() => all.spec('nope')).toThrow(UserError);
    expect(() => all.access('nope', 'r7k2m9x4')).toThrow('There is no target `nope`. Targets: `default`, `dr`.');
  });

  describe('the fakes refuse what AWS refuses', () => {
    const stsAs = (accessKeyId: string) => new STSClient({ region: 'us-west-2', endpoint: sts.url, credentials: { accessKeyId, secretAccessKey: 'x'.repeat(40) } });
    const assume = (input: Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]>, caller = BOT_KEY) =>
      rejection(stsAs(caller).send(new AssumeRoleCommand({ RoleArn: DR_ROLE, RoleSessionName: 'dr-chatops-r7k2m9x4', ExternalId: EXTERNAL_ID, ...input })));

    it('STS: an unknown role, an untrusted caller and a missing external id are AccessDenied (403)', async () => {
      for (const err of [
        await assume({ RoleArn: 'arn:aws:iam::222222222222:role/nope' }),
        await assume({}, 'AKIAFAKEFAKEFAKE0002'),
        await assume({ ExternalId: undefined }),
      ]) {
        expect(err.name).toBe('AccessDenied');
        expect(err.$metadata?.httpStatusCode).toBe(403);
        expect(err.message).toMatch(/^User: arn:aws:iam::111111111111:user\/dr-chatops is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role\//);
      }
      expect(sts.sessions.size).toBe(0);
    });

    it('STS: a bad session name or duration is a ValidationError', async () => {
      expect((await assume({ RoleSessionName: 'dr chatops' })).name).toBe('ValidationError');
      expect((await assume({ DurationSeconds: 600 })).name).toBe('ValidationError');
      expect(takeModelRefusals().map((r) => [r.service, r.operation, r.code])).toEqual([
        ['sts', 'AssumeRole', 'ValidationError'],
        ['sts', 'AssumeRole', 'ValidationError'],
      ]);
      // Within the API's limits but above the role's MaxSessionDuration (one hour by default).
      const long = await assume({ DurationSeconds: 7_200 });
      expect([long.name, long.message]).toEqual(['ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.']);
      expect(sts.sessions.size).toBe(0);
    });

    it('RDS and EKS: a session key STS never issued is refused, and so is an expired one', async () => {
      const unknown = { accessKeyId: 'ASIAFAKEFAKEFAKE9999', secretAccessKey: 'x'.repeat(40), sessionToken: 'not-issued' };
      const rds = await rejection(new RDSClient({ region: 'us-west-2', endpoint: rdsDr.url, credentials: unknown }).send(new DescribeDBClustersCommand({})));
      expect([rds.name, rds.$metadata?.httpStatusCode]).toEqual(['InvalidClientTokenId', 403]);
      const eksUnknown = await rejection(new EKSClient({ region: 'us-west-2', endpoint: eks.url, credentials: unknown }).send(new DescribeClusterCommand({ name: 'eks-dr' })));
      expect([eksUnknown.name, eksUnknown.message, eksUnknown.$metadata?.httpStatusCode]).toEqual([
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
        403,
      ]);

      const { Credentials: issued } = await stsAs(BOT_KEY).send(new AssumeRoleCommand({ RoleArn: DR_ROLE, RoleSessionName: 'dr-chatops-r7k2m9x4', ExternalId: EXTERNAL_ID, DurationSeconds: 900 }));
      const session = { accessKeyId: issued?.AccessKeyId ?? '', secretAccessKey: issued?.SecretAccessKey ?? '', sessionToken: issued?.SessionToken ?? '' };
      const live = new EKSClient({ region: 'us-west-2', endpoint: eks.url, credentials: session });
      expect((await live.send(new DescribeClusterCommand({ name: 'eks-dr' }))).cluster?.name).toBe('eks-dr');
      clock += 15 * MINUTE;
      const expired = await rejection(live.send(new DescribeClusterCommand({ name: 'eks-dr' })));
      expect([expired.name, expired.message, expired.$metadata?.httpStatusCode]).toEqual(['ExpiredTokenException', 'The security token included in the request is expired', 403]);
      expect(eks.callers.map((c) => c.accessKeyId)).toEqual([unknown.accessKeyId, session.accessKeyId, session.accessKeyId]);
    });
  });
});
