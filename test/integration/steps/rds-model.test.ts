/**
 * The fake RDS checks every request against AWS's published service model
 * (aws-sdk v2, test/support/aws-model.ts) before answering, as RDS would.
 */
import { RDSClient, RestoreDBClusterToPointInTimeCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRds } from '../../support/fake-rds.ts';
import { fakeAwsCredentials } from '../../support/step-context.ts';

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
  });

  it('refuses a request missing a required member (MissingParameter)', async () => {
    const { status, body } = await raw(rds, { Action: 'RestoreDBClusterToPointInTime', SourceDBClusterIdentifier: 'prod-db', UseLatestRestorableTime: 'true' });
    expect(status).toBe(400);
    expect(body).toContain('<Code>MissingParameter</Code>');
    expect(body).toContain('The request must contain the parameter DBClusterIdentifier');
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
    expect(rds.modelRefusals.map((r) => r.code)).toHaveLength(7);
  });
});
