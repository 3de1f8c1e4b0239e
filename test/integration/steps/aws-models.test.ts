/**
 * The fake RDS, EKS and STS check every request against AWS's published
 * service models (test/support/aws-models/) before answering, as AWS would;
 * test/setup.ts fails any test whose own requests they refused.
 */
import { DescribeDBClusterSnapshotsCommand, RDSClient, RestoreDBClusterToPointInTimeCommand } from '@aws-sdk/client-rds';
import { DescribeNodegroupCommand, EKSClient, UpdateNodegroupConfigCommand } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eksToken } from '../../../src/targets/eks-token.ts';
import { takeModelRefusals } from '../../support/aws-models/refusals.ts';
import { FakeEks } from '../../support/fake-eks.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { fakeAwsCredentials } from '../../support/step-context.ts';

/** The codes of the refusals since the last take: what this test sent on purpose. */
const refusedCodes = () => takeModelRefusals().map((r) => `${r.service}:${r.code}`);

const HOUR = 3_600_000;

/** A raw, unsigned query-protocol request (the fake does not check signatures). */
async function raw(rds: FakeRds, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(rds.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ Version: '2014-10-31', ...params }).toString(),
  });
  return { status: res.status, body: await res.text() };
}

describe('fake RDS validates requests against the service model', () => {
  let rds: FakeRds;
  let client: RDSClient;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    rds.addCluster('prod-db', { earliest: new Date(Date.now() - 24 * HOUR), latest: new Date(Date.now() - 60_000) });
    client = new RDSClient({ endpoint: rds.url, region: 'us-east-1', maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await rds.stop();
  });

  it('refuses RestoreToTime together with UseLatestRestorableTime (InvalidParameterCombination)', async () => {
    const err = await client
      .send(
        new RestoreDBClusterToPointInTimeCommand({
          DBClusterIdentifier: 'dr-both',
          SourceDBClusterIdentifier: 'prod-db',
          RestoreToTime: new Date(Date.now() - HOUR),
          UseLatestRestorableTime: true,
        }),
      )
      .then(() => undefined, (e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } });
    expect(err?.name).toBe('InvalidParameterCombination');
    expect(err?.$metadata?.httpStatusCode).toBe(400);
    expect(rds.clusters.has('dr-both')).toBe(false);
    expect(refusedCodes()).toEqual(['rds:InvalidParameterCombination']);
  });

  it('refuses a request missing a required member (MissingParameter)', async () => {
    const { status, body } = await raw(rds, { Action: 'RestoreDBClusterToPointInTime', SourceDBClusterIdentifier: 'prod-db', UseLatestRestorableTime: 'true' });
    expect(status).toBe(400);
    expect(body).toContain('<Code>MissingParameter</Code>');
    expect(body).toContain('The request must contain the parameter DBClusterIdentifier');
    expect(refusedCodes()).toEqual(['rds:MissingParameter']);
  });

  it('refuses a value outside the valid values (InvalidParameterValue)', async () => {
    const { status, body } = await raw(rds, {
      Action: 'RestoreDBClusterToPointInTime',
      DBClusterIdentifier: 'dr-half',
      SourceDBClusterIdentifier: 'prod-db',
      UseLatestRestorableTime: 'true',
      RestoreType: 'half-copy',
    });
    expect(status).toBe(400);
    expect(body).toContain('<Code>InvalidParameterValue</Code>');
    expect(rds.clusters.has('dr-half')).toBe(false);
    expect(refusedCodes()).toEqual(['rds:InvalidParameterValue']);
  });

  it('refuses unknown parameters and wrongly typed values (InvalidParameterValue)', async () => {
    const base = { Action: 'RestoreDBClusterToPointInTime', DBClusterIdentifier: 'dr-x', SourceDBClusterIdentifier: 'prod-db', UseLatestRestorableTime: 'true' };
    const extras: Record<string, string>[] = [{ NoSuchMember: 'x' }, { Port: 'five' }, { DeletionProtection: 'yes' }, { 'Tags.member.1.Key': 'k' }];
    for (const extra of extras) {
      const { status, body } = await raw(rds, { ...base, ...extra });
      expect(status).toBe(400);
      expect(body).toContain('<Code>InvalidParameterValue</Code>');
    }
    expect(rds.clusters.has('dr-x')).toBe(false);
    expect(refusedCodes()).toEqual(Array(4).fill('rds:InvalidParameterValue'));
  });

  it("refuses values outside the model's ranges, enums and patterns (botocore's constraints)", async () => {
    // MaxRecords: "Constraints: Minimum 20, maximum 100" (RDS API reference).
    const small = await client.send(new DescribeDBClusterSnapshotsCommand({ MaxRecords: 5 })).then(() => undefined, (e: unknown) => e as { name?: string; message?: string });
    expect(small?.name).toBe('InvalidParameterValue');
    expect(small?.message).toContain('Must be between 20 and 100');
    const global = await raw(rds, { Action: 'FailoverGlobalCluster', GlobalClusterIdentifier: '9-starts-with-a-digit', TargetDbClusterIdentifier: 'arn:aws:rds:us-east-1:123456789012:cluster:dr' });
    expect(global.status).toBe(400);
    expect(global.body).toContain('regular expression pattern');
    expect(refusedCodes()).toEqual(['rds:InvalidParameterValue', 'rds:InvalidParameterValue']);
  });

  it('accepts a valid SDK request with lists and nested structures', async () => {
    const out = await client.send(
      new RestoreDBClusterToPointInTimeCommand({
        DBClusterIdentifier: 'dr-ok',
        SourceDBClusterIdentifier: 'prod-db',
        UseLatestRestorableTime: true,
        VpcSecurityGroupIds: ['sg-1', 'sg-2'],
        Tags: [{ Key: 'dr', Value: 'yes' }],
        EnableCloudwatchLogsExports: ['postgresql'],
        ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
        Port: 6432,
      }),
    );
    expect(out.DBCluster?.DBClusterIdentifier).toBe('dr-ok');
    expect(refusedCodes()).toEqual([]);
  });
});

describe('fake EKS validates requests against the service model', () => {
  let eks: FakeEks;
  let client: EKSClient;

  beforeAll(async () => {
    fakeAwsCredentials();
    eks = await new FakeEks().start();
    eks.addCluster('prod-eks', 'https://127.0.0.1:1');
    eks.addNodegroup('prod-eks', 'workers', { min: 1, max: 6, desired: 2 });
    client = new EKSClient({ endpoint: eks.url, region: 'us-east-1', maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await eks.stop();
  });

  it('accepts what the SDK sends for the calls the steps make', async () => {
    const ng = await client.send(new DescribeNodegroupCommand({ clusterName: 'prod-eks', nodegroupName: 'workers' }));
    expect(ng.nodegroup?.scalingConfig?.desiredSize).toBe(2);
    const update = await client.send(new UpdateNodegroupConfigCommand({ clusterName: 'prod-eks', nodegroupName: 'workers', scalingConfig: { desiredSize: 3 }, clientRequestToken: 'run-1-scale' }));
    expect(update.update?.status).toBe('InProgress');
    expect(refusedCodes()).toEqual([]);
  });

  it('refuses a negative size (ZeroCapacity, minimum 0) and changes nothing', async () => {
    const err = await client
      .send(new UpdateNodegroupConfigCommand({ clusterName: 'prod-eks', nodegroupName: 'workers', scalingConfig: { desiredSize: -1 } }))
      .then(() => undefined, (e: unknown) => e as { name?: string; message?: string });
    expect(err?.name).toBe('InvalidParameterException');
    expect(err?.message).toContain('greater than or equal to 0');
    expect(eks.nodegroups.get('prod-eks/workers')?.desiredSize).toBe(3);
    expect(refusedCodes()).toEqual(['eks:InvalidParameterException']);
  });

  it('refuses unknown fields, wrong JSON types and unknown routes', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${eks.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const unknown = await post('/clusters/prod-eks/node-groups/workers/update-config', { scaling: { desiredSize: 2 } });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('Unrecognized field');
    const typed = await post('/clusters/prod-eks/node-groups/workers/update-config', { scalingConfig: { desiredSize: '2' } });
    expect(typed.status).toBe(400);
    const route = await post('/clusters/prod-eks/nodegroups/workers', {});
    expect(route.status).toBe(404);
    expect(refusedCodes()).toEqual(['eks:InvalidParameterException', 'eks:InvalidParameterException', 'eks:UnknownOperationException']);
    expect(eks.nodegroups.get('prod-eks/workers')?.desiredSize).toBe(3);
  });
});

describe('fake Kubernetes checks the STS request inside an EKS token', () => {
  let kube: FakeKube;

  beforeAll(async () => {
    fakeAwsCredentials();
    kube = await new FakeKube().start();
    kube.requireEksToken = true;
  });

  afterAll(async () => {
    await kube.stop();
  });

  /** Calls the API server with a token, returning the status. */
  async function call(token: string): Promise<number> {
    const res = await fetch(`${kube.url}/api/v1/namespaces/default/pods`, { headers: { authorization: `Bearer ${token}` } });
    await res.text();
    return res.status;
  }

  it('accepts the token the bot makes, and refuses a presigned request STS would refuse', async () => {
    const { token } = await eksToken({ cluster: 'prod-eks', region: 'us-east-1', credentials: { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 'fake' } });
    expect(await call(token)).not.toBe(401);
    const url = new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
    url.searchParams.set('DurationSeconds', '900');
    const tampered = `k8s-aws-v1.${Buffer.from(url.toString()).toString('base64url')}`;
    expect(await call(tampered)).toBe(401);
    expect(refusedCodes()).toEqual(['sts:InvalidParameterValue']);
  });
});
