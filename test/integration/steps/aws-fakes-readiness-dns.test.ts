/**
 * The loopback Route 53, the S3 versioning and replication reads, and STS
 * GetCallerIdentity the readiness checklist is tested against, driven with
 * the real v3 SDK clients: answers and refusals as the services give them.
 */
import {
  GetHealthCheckCommand,
  GetHealthCheckStatusCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type ListResourceRecordSetsCommandOutput,
  Route53Client,
  TestDNSAnswerCommand,
} from '@aws-sdk/client-route-53';
import { GetBucketReplicationCommand, GetBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeModelRefusals } from '../../support/aws-models/refusals.ts';
import { assumeRole, BOT, clientConfig, errorOf } from '../../support/aws-test-clients.ts';
import { FakeRoute53 } from '../../support/fake-route53.ts';
import { FakeS3 } from '../../support/fake-s3.ts';
import { FakeSts } from '../../support/fake-sts.ts';

const refusedCodes = () => takeModelRefusals().map((r) => `${r.service}:${r.code}`);

describe('fake Route 53: failover records, health checks, what DNS answers', () => {
  let r53: FakeRoute53;
  let client: Route53Client;
  let zone: string;
  let primaryCheck: string;

  beforeAll(async () => {
    r53 = await new FakeRoute53().start();
    r53.knownSecrets.set(BOT.accessKeyId, BOT.secretAccessKey);
    zone = r53.addHostedZone('dr-test.localhost');
    r53.addHostedZone('example.org');
    r53.addHostedZone('internal.dr-test.localhost', { privateZone: true });
    primaryCheck = r53.addHealthCheck({ Type: 'HTTPS', FullyQualifiedDomainName: 'api-east.dr-test.localhost', ResourcePath: '/healthz' });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'primary', Failover: 'PRIMARY', TTL: 60, ResourceRecords: ['192.0.2.10'], HealthCheckId: primaryCheck });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'secondary', Failover: 'SECONDARY', AliasTarget: { HostedZoneId: 'Z35SXDOTRQ7X7K', DNSName: 'dr-alb-123.us-west-2.elb.amazonaws.com', EvaluateTargetHealth: true } });
    r53.setAliasTarget('dr-alb-123.us-west-2.elb.amazonaws.com', { values: ['198.51.100.7'] });
    r53.addRecord(zone, { Name: 'www.dr-test.localhost', Type: 'CNAME', TTL: 300, ResourceRecords: ['api.dr-test.localhost'] });
    client = new Route53Client(clientConfig(r53.url, 'us-east-1'));
  });

  afterAll(async () => {
    client.destroy();
    await r53.stop();
  });

  it('finds a zone by name and lists its records in Route 53 order, page by page', async () => {
    const zones = await client.send(new ListHostedZonesByNameCommand({ DNSName: 'dr-test.localhost', MaxItems: 1 }));
    expect(zones.HostedZones?.map((z) => [z.Id, z.Name])).toEqual([[`/hostedzone/${zone}`, 'dr-test.localhost.']]);
    expect(zones.IsTruncated).toBe(true);
    expect(zones.NextDNSName).toBe('internal.dr-test.localhost.');

    const pages: ListResourceRecordSetsCommandOutput[] = [];
    let next: { StartRecordName?: string; StartRecordType?: 'A'; StartRecordIdentifier?: string } = {};
    for (;;) {
      const page = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone, MaxItems: 2, ...next }));
      pages.push(page);
      if (!page.IsTruncated) break;
      next = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType as 'A', StartRecordIdentifier: page.NextRecordIdentifier };
    }
    const records = pages.flatMap((p) => p.ResourceRecordSets ?? []);
    expect(records.map((r) => `${r.Name} ${r.Type} ${r.SetIdentifier ?? ''}`)).toEqual([
      'dr-test.localhost. NS ',
      'dr-test.localhost. SOA ',
      'api.dr-test.localhost. A primary',
      'api.dr-test.localhost. A secondary',
      'www.dr-test.localhost. CNAME ',
    ]);
    expect(pages[1]?.NextRecordIdentifier).toBe(undefined);
    expect(pages[0]?.NextRecordName).toBe('api.dr-test.localhost.');
    expect(pages[0]?.NextRecordIdentifier).toBe('primary');
    expect(records[2]).toMatchObject({ Failover: 'PRIMARY', HealthCheckId: primaryCheck, ResourceRecords: [{ Value: '192.0.2.10' }] });
    expect(records[3]?.AliasTarget).toEqual({ HostedZoneId: 'Z35SXDOTRQ7X7K', DNSName: 'dr-alb-123.us-west-2.elb.amazonaws.com.', EvaluateTargetHealth: true });
  });

  it('reports the health check and its checkers, and answers DNS with the record failover picks', async () => {
    const check = await client.send(new GetHealthCheckCommand({ HealthCheckId: primaryCheck }));
    expect(check.HealthCheck?.HealthCheckConfig).toMatchObject({ Type: 'HTTPS', FullyQualifiedDomainName: 'api-east.dr-test.localhost', Port: 443, ResourcePath: '/healthz' });
    const dns = () => client.send(new TestDNSAnswerCommand({ HostedZoneId: zone, RecordName: 'api.dr-test.localhost', RecordType: 'A' }));
    expect((await dns()).RecordData).toEqual(['192.0.2.10']);

    r53.setHealth(primaryCheck, false);
    const status = await client.send(new GetHealthCheckStatusCommand({ HealthCheckId: primaryCheck }));
    expect(status.HealthCheckObservations).toHaveLength(8);
    expect(status.HealthCheckObservations?.every((o) => o.StatusReport?.Status?.startsWith('Failure'))).toBe(true);
    expect((await dns()).RecordData).toEqual(['198.51.100.7']);
    // Healthy in two checker regions of eight (25% > 18%): Route 53 takes it as healthy.
    r53.setHealth(primaryCheck, { 'us-east-1': true, 'eu-west-1': true });
    expect((await dns()).RecordData).toEqual(['192.0.2.10']);
    // Both unhealthy: Route 53 answers with the primary.
    r53.setHealth(primaryCheck, false);
    r53.setAliasTarget('dr-alb-123.us-west-2.elb.amazonaws.com', { healthy: false, values: ['198.51.100.7'] });
    expect((await dns()).RecordData).toEqual(['192.0.2.10']);
    const nx = await client.send(new TestDNSAnswerCommand({ HostedZoneId: zone, RecordName: 'nope.dr-test.localhost', RecordType: 'A' }));
    expect([nx.ResponseCode, nx.RecordData]).toEqual(['NXDOMAIN', []]);
    r53.setHealth(primaryCheck, true);
  });

  it('answers NoSuchHostedZone, NoSuchHealthCheck and InvalidInput in its XML error shape', async () => {
    const zoneErr = await errorOf(client.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'ZNOSUCHZONE' })));
    expect([zoneErr?.name, zoneErr?.$metadata?.httpStatusCode, zoneErr?.message]).toEqual(['NoSuchHostedZone', 404, 'No hosted zone found with ID: ZNOSUCHZONE']);
    expect((await errorOf(client.send(new GetHealthCheckStatusCommand({ HealthCheckId: 'no-such-check' }))))?.name).toBe('NoSuchHealthCheck');
    expect((await errorOf(client.send(new TestDNSAnswerCommand({ HostedZoneId: zone, RecordName: 'api.dr-test.localhost', RecordType: 'B' as 'A' }))))?.name).toBe('InvalidInput');
    expect((await errorOf(client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone, StartRecordType: 'A' }))))?.name).toBe('InvalidInput');
    expect(refusedCodes()).toEqual(['route53:InvalidInput', 'route53:InvalidInput']);
  });

  it('throttles above its rate, fails on demand, and wants requests signed for us-east-1 with a good signature', async () => {
    r53.rateLimit = { account: { burst: 2, perSecond: 0.001 }, perOperation: { burst: 50, perSecond: 10 } };
    await client.send(new GetHealthCheckCommand({ HealthCheckId: primaryCheck }));
    await client.send(new GetHealthCheckCommand({ HealthCheckId: primaryCheck }));
    const throttled = await errorOf(client.send(new GetHealthCheckCommand({ HealthCheckId: primaryCheck })));
    expect([throttled?.name, throttled?.$metadata?.httpStatusCode]).toEqual(['Throttling', 400]);
    r53.rateLimit = undefined;
    r53.failNext('GetHealthCheckStatus', { status: 503, code: 'ServiceUnavailable', message: 'try later' });
    expect((await errorOf(client.send(new GetHealthCheckStatusCommand({ HealthCheckId: primaryCheck }))))?.name).toBe('ServiceUnavailable');
    const west = new Route53Client({ ...clientConfig(r53.url, 'us-east-1'), region: 'us-west-2' });
    expect((await errorOf(west.send(new GetHealthCheckCommand({ HealthCheckId: primaryCheck }))))?.name).toBe('SignatureDoesNotMatch');
    west.destroy();
    const forged = new Route53Client({ ...clientConfig(r53.url, 'us-east-1'), credentials: { ...BOT, secretAccessKey: 'wrong' } });
    expect((await errorOf(forged.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone, StartRecordName: 'api.dr-test.localhost' }))))?.name).toBe('SignatureDoesNotMatch');
    forged.destroy();
    expect(r53.callsTo('GetHealthCheck').map((c) => c.error)).toEqual([undefined, undefined, undefined, 'Throttling', 'SignatureDoesNotMatch']);
  });
});

describe('fake S3: versioning and replication of the Terraform state bucket', () => {
  let s3: FakeS3;
  let client: S3Client;

  beforeAll(async () => {
    s3 = await new FakeS3().start();
    s3.addBucket('tf-state', 'us-east-1').addBucket('tf-state-plain', 'us-east-1');
    client = new S3Client({ ...clientConfig(s3.url, 'us-east-1'), forcePathStyle: true });
  });

  afterAll(async () => {
    client.destroy();
    await s3.stop();
  });

  it('answers no Status for a bucket never versioned, then Enabled or Suspended as set', async () => {
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'tf-state-plain' }))).Status).toBe(undefined);
    s3.setVersioning('tf-state', 'Enabled');
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'tf-state' }))).Status).toBe('Enabled');
    s3.setVersioning('tf-state', 'Suspended');
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'tf-state' }))).Status).toBe('Suspended');
  });

  it('answers 404 ReplicationConfigurationNotFoundError without replication, the rules with it', async () => {
    const none = await errorOf(client.send(new GetBucketReplicationCommand({ Bucket: 'tf-state' })));
    expect([none?.name, none?.$metadata?.httpStatusCode]).toEqual(['ReplicationConfigurationNotFoundError', 404]);
    s3.setReplication('tf-state', { role: 'arn:aws:iam::123456789012:role/s3-replication', rules: [{ id: 'to-dr', status: 'Enabled', destinationBucket: 'arn:aws:s3:::tf-state-dr' }] });
    const out = await client.send(new GetBucketReplicationCommand({ Bucket: 'tf-state' }));
    expect(out.ReplicationConfiguration?.Role).toBe('arn:aws:iam::123456789012:role/s3-replication');
    expect(out.ReplicationConfiguration?.Rules?.[0]).toMatchObject({ ID: 'to-dr', Status: 'Enabled', Priority: 1, Destination: { Bucket: 'arn:aws:s3:::tf-state-dr' } });
  });

  it('fails or delays an operation on demand', async () => {
    s3.failNext('GetBucketVersioning', { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' });
    expect((await errorOf(client.send(new GetBucketVersioningCommand({ Bucket: 'tf-state' }))))?.name).toBe('SlowDown');
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'tf-state' }))).Status).toBe('Suspended');
  });
});

describe('fake STS: GetCallerIdentity', () => {
  let sts: FakeSts;

  beforeAll(async () => {
    sts = await new FakeSts().start();
    sts.addRole('arn:aws:iam::222222222222:role/dr-bot');
  });

  afterAll(async () => {
    await sts.stop();
  });

  it('answers for the calling credentials: the bot user for its key, the assumed role session for a session key', async () => {
    const bot = new STSClient(clientConfig(sts.url, 'us-east-1'));
    const me = await bot.send(new GetCallerIdentityCommand({}));
    expect([me.Account, me.Arn]).toEqual(['111111111111', 'arn:aws:iam::111111111111:user/dr-chatops']);
    const session = await assumeRole(sts, 'arn:aws:iam::222222222222:role/dr-bot');
    const assumed = new STSClient({ ...clientConfig(sts.url, 'us-east-1'), credentials: session });
    const who = await assumed.send(new GetCallerIdentityCommand({}));
    expect([who.Account, who.Arn]).toEqual(['222222222222', 'arn:aws:sts::222222222222:assumed-role/dr-bot/readiness-test']);
    expect(who.UserId).toMatch(/^AROA[0-9A-F]{17}:readiness-test$/);
    sts.now = () => Date.now() + 2 * 3_600_000;
    expect((await errorOf(assumed.send(new GetCallerIdentityCommand({}))))?.name).toBe('ExpiredToken');
    sts.now = Date.now;
    bot.destroy();
    assumed.destroy();
  });
});
