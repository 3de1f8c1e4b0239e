/**
 * The loopback CloudWatch, ECR and Secrets Manager the readiness checklist is
 * tested against, driven with the real v3 SDK clients: they answer what the
 * services answer, and refuse what the services refuse, in the services' own
 * error shapes (test/support/aws-models/ for the models).
 */
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { DescribeImageReplicationStatusCommand, DescribeImagesCommand, DescribeRegistryCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeModelRefusals } from '../../support/aws-models/refusals.ts';
import { FakeCloudWatch } from '../../support/fake-cloudwatch.ts';
import { FakeEcr } from '../../support/fake-ecr.ts';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.ts';
import { FakeSts } from '../../support/fake-sts.ts';
import { assumeRole, BOT, clientConfig, errorOf } from '../../support/aws-test-clients.ts';

/** The codes of the model refusals since the last take: what a test sent on purpose. */
const refusedCodes = () => takeModelRefusals().map((r) => `${r.service}:${r.code}`);

const MINUTE = 60_000;
const LAG = { namespace: 'AWS/RDS', metricName: 'AuroraGlobalDBRPOLag', dimensions: { DBClusterIdentifier: 'prod-db-dr', SourceRegion: 'us-east-1' } };

function lagQuery(id: string, start: Date, end: Date, overrides: Partial<GetMetricDataCommandInput> = {}): GetMetricDataCommandInput {
  return {
    StartTime: start,
    EndTime: end,
    MetricDataQueries: [{ Id: id, MetricStat: { Metric: { Namespace: LAG.namespace, MetricName: LAG.metricName, Dimensions: Object.entries(LAG.dimensions).map(([Name, Value]) => ({ Name, Value })) }, Period: 60, Stat: 'Maximum' } }],
    ...overrides,
  };
}

describe('fake CloudWatch: GetMetricData over awsJson1_0', () => {
  let cw: FakeCloudWatch;
  let client: CloudWatchClient;
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;

  beforeAll(async () => {
    cw = await new FakeCloudWatch().start();
    cw.knownSecrets.set(BOT.accessKeyId, BOT.secretAccessKey);
    cw.putDatapoints('us-west-2', LAG, [
      { at: now - 3 * MINUTE + 1_000, value: 900 },
      { at: now - 2 * MINUTE + 1_000, value: 1_200 },
      { at: now - 2 * MINUTE + 20_000, value: 1_500 },
    ]);
    client = new CloudWatchClient(clientConfig(cw.url, 'us-west-2'));
  });

  afterAll(async () => {
    client.destroy();
    await cw.stop();
  });

  it('answers the datapoints of the exact metric, per period, newest first; no data is empty, not zero', async () => {
    const out = await client.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - 10 * MINUTE), new Date(now))));
    const [lag] = out.MetricDataResults ?? [];
    expect(lag?.Id).toBe('lag');
    expect(lag?.StatusCode).toBe('Complete');
    expect(lag?.Values).toEqual([1_500, 900]);
    expect(lag?.Timestamps?.map((t) => t.getTime())).toEqual([now - 2 * MINUTE, now - 3 * MINUTE]);

    // Another dimension set is another metric; another region has its own metrics.
    const other = lagQuery('other', new Date(now - 10 * MINUTE), new Date(now));
    const stat = other.MetricDataQueries?.[0]?.MetricStat;
    if (stat?.Metric) stat.Metric.Dimensions = [{ Name: 'DBClusterIdentifier', Value: 'prod-db-dr' }];
    expect((await client.send(new GetMetricDataCommand(other))).MetricDataResults?.[0]?.Values).toEqual([]);
    const east = new CloudWatchClient(clientConfig(cw.url, 'us-east-1'));
    expect((await east.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - 10 * MINUTE), new Date(now))))).MetricDataResults?.[0]?.Values).toEqual([]);
    east.destroy();
    expect(cw.callsTo('GetMetricData').map((c) => c.region)).toEqual(['us-west-2', 'us-west-2', 'us-east-1']);
  });

  it('refuses an Id that does not start lowercase, a bad Period and an empty window (ValidationError)', async () => {
    const upper = await errorOf(client.send(new GetMetricDataCommand(lagQuery('Lag', new Date(now - MINUTE), new Date(now)))));
    // The SDK names CloudWatch's query code ValidationError by its modelled exception.
    expect(upper?.name).toBe('ValidationException');
    expect(upper?.Code).toBe('ValidationError');
    expect(upper?.$metadata?.httpStatusCode).toBe(400);
    expect(upper?.message).toContain('MetricDataQueries.member.1.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$');
    const period = lagQuery('lag', new Date(now - MINUTE), new Date(now));
    if (period.MetricDataQueries?.[0]?.MetricStat) period.MetricDataQueries[0].MetricStat.Period = 90;
    expect((await errorOf(client.send(new GetMetricDataCommand(period))))?.Code).toBe('ValidationError');
    expect((await errorOf(client.send(new GetMetricDataCommand(lagQuery('lag', new Date(now), new Date(now))))))?.message).toContain('StartTime must be less than');
    expect(refusedCodes()).toEqual(['cloudwatch:ValidationError', 'cloudwatch:ValidationError', 'cloudwatch:ValidationError']);
  });

  it('refuses a request missing a required member with its query code (MissingParameter)', async () => {
    const missing: Partial<GetMetricDataCommandInput> = lagQuery('lag', new Date(now - MINUTE), new Date(now));
    delete missing.StartTime;
    const err = await errorOf(client.send(new GetMetricDataCommand(missing as GetMetricDataCommandInput)));
    expect(err?.name).toBe('MissingRequiredParameterException');
    expect(err?.message).toBe('The parameter StartTime is required.');
    expect(refusedCodes()).toEqual(['cloudwatch:MissingParameter']);
  });

  it('fails or delays the next calls on demand, throttles above 50 calls a second, and refuses unsigned calls', async () => {
    cw.failNext('GetMetricData', { status: 500, code: 'InternalServiceError', message: 'try again' });
    expect((await errorOf(client.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - MINUTE), new Date(now))))))?.name).toBe('InternalServiceFault');
    cw.failNext('GetMetricData', { delayMs: 1_000 });
    const impatient = new CloudWatchClient({ ...clientConfig(cw.url, 'us-west-2'), requestHandler: { requestTimeout: 100, throwOnRequestTimeout: true } });
    expect((await errorOf(impatient.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - MINUTE), new Date(now))))))?.name).toBe('TimeoutError');
    impatient.destroy();
    cw.rateLimit = { burst: 1, perSecond: 0.001 };
    await client.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - MINUTE), new Date(now))));
    expect((await errorOf(client.send(new GetMetricDataCommand(lagQuery('lag', new Date(now - MINUTE), new Date(now))))))?.name).toBe('Throttling');
    cw.rateLimit = undefined;
    const unsigned = await fetch(cw.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'GraniteServiceVersion20100801.GetMetricData' }, body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-query-error')).toBe('MissingAuthenticationToken;Sender');
  });
});

describe('fake ECR: registries per region, replication on push', () => {
  let ecr: FakeEcr;
  let east: ECRClient;
  let west: ECRClient;
  let oldDigest: string;
  let newDigest: string;

  beforeAll(async () => {
    ecr = await new FakeEcr().start();
    ecr.knownSecrets.set(BOT.accessKeyId, BOT.secretAccessKey);
    ecr.addRepository('us-east-1', 'prod/web').addRepository('us-east-1', 'tools/ci');
    // Pushed before replication was set up: never replicated (API-FACTS 8.5).
    oldDigest = ecr.pushImage('us-east-1', 'prod/web', { tag: 'v1' });
    ecr.setReplicationConfiguration('us-east-1', [{ destinations: [{ region: 'us-west-2' }], repositoryFilters: [{ filter: 'prod/' }] }]);
    newDigest = ecr.pushImage('us-east-1', 'prod/web', { tag: 'v2' });
    ecr.pushImage('us-east-1', 'tools/ci', { tag: 'latest' });
    east = new ECRClient(clientConfig(ecr.url, 'us-east-1'));
    west = new ECRClient(clientConfig(ecr.url, 'us-west-2'));
  });

  afterAll(async () => {
    east.destroy();
    west.destroy();
    await ecr.stop();
  });

  it("answers each region's registry: replication rules, repositories, images", async () => {
    const registry = await east.send(new DescribeRegistryCommand({}));
    expect(registry.registryId).toBe('123456789012');
    expect(registry.replicationConfiguration?.rules).toEqual([{ destinations: [{ region: 'us-west-2', registryId: '123456789012' }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }] }]);
    expect((await west.send(new DescribeRegistryCommand({}))).replicationConfiguration?.rules).toEqual([]);
    // Replication created the repository in the DR region, for the matching repository only.
    expect((await west.send(new DescribeRepositoriesCommand({}))).repositories?.map((r) => r.repositoryUri)).toEqual(['123456789012.dkr.ecr.us-west-2.amazonaws.com/prod/web']);
    const images = await west.send(new DescribeImagesCommand({ repositoryName: 'prod/web', imageIds: [{ imageTag: 'v2' }] }));
    expect(images.imageDetails?.[0]?.imageDigest).toBe(newDigest);
    expect(images.imageDetails?.[0]?.imagePushedAt).toBeInstanceOf(Date);
    const status = await east.send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/web', imageId: { imageDigest: newDigest } }));
    expect(status.replicationStatuses).toEqual([{ region: 'us-west-2', registryId: '123456789012', status: 'COMPLETE' }]);
    ecr.setReplicationStatus('us-east-1', 'prod/web', newDigest, 'us-west-2', 'FAILED', 'CLIENT_ERROR');
    const failed = await east.send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/web', imageId: { imageTag: 'v2' } }));
    expect(failed.replicationStatuses?.[0]).toMatchObject({ status: 'FAILED', failureCode: 'CLIENT_ERROR' });
    expect(ecr.callsTo('DescribeImages').map((c) => c.region)).toEqual(['us-west-2']);
  });

  it('throws ImageNotFoundException for an image the region lacks and RepositoryNotFoundException for a repository', async () => {
    const missing = await errorOf(west.send(new DescribeImagesCommand({ repositoryName: 'prod/web', imageIds: [{ imageDigest: oldDigest }] })));
    expect(missing?.name).toBe('ImageNotFoundException');
    expect(missing?.message).toContain(`imageDigest:'${oldDigest}'`);
    expect((await errorOf(west.send(new DescribeImagesCommand({ repositoryName: 'tools/ci' }))))?.name).toBe('RepositoryNotFoundException');
    expect((await errorOf(east.send(new DescribeRepositoriesCommand({ repositoryNames: ['prod/api'] }))))?.message).toBe("The repository with name 'prod/api' does not exist in the registry with id '123456789012'");
    expect(refusedCodes()).toEqual([]);
  });

  it('refuses what the model refuses: a repository name out of pattern, an empty imageIds (InvalidParameterException)', async () => {
    const upper = await errorOf(east.send(new DescribeImagesCommand({ repositoryName: 'Prod/Web' })));
    expect(upper?.name).toBe('InvalidParameterException');
    expect(upper?.message).toContain("Invalid parameter at 'repositoryName' failed to satisfy constraint");
    expect((await errorOf(east.send(new DescribeImagesCommand({ repositoryName: 'prod/web', imageIds: [] }))))?.message).toContain('greater than or equal to 1');
    const both = await errorOf(east.send(new DescribeImagesCommand({ repositoryName: 'prod/web', imageIds: [{ imageTag: 'v2' }], maxResults: 10 })));
    expect(both?.name).toBe('InvalidParameterException');
    expect(refusedCodes()).toEqual(['ecr:InvalidParameterException', 'ecr:InvalidParameterException', 'ecr:InvalidParameterException']);
  });

  it('checks the signature of a key it knows (InvalidSignatureException)', async () => {
    const forged = new ECRClient({ ...clientConfig(ecr.url, 'us-east-1'), credentials: { accessKeyId: BOT.accessKeyId, secretAccessKey: 'not-the-secret' } });
    const err = await errorOf(forged.send(new DescribeRegistryCommand({})));
    expect(err?.name).toBe('InvalidSignatureException');
    forged.destroy();
  });
});

describe('fake Secrets Manager: replication status, values, sessions', () => {
  let sm: FakeSecretsManager;
  let sts: FakeSts;
  let east: SecretsManagerClient;
  let west: SecretsManagerClient;
  let arn: string;

  beforeAll(async () => {
    sts = await new FakeSts().start();
    sm = await new FakeSecretsManager().start();
    sm.trustSessionsFrom(sts);
    sm.knownSecrets.set(BOT.accessKeyId, BOT.secretAccessKey);
    arn = sm.addSecret('us-east-1', 'prod/db/master', { value: '{"password":"first"}', replicas: [{ region: 'us-west-2' }] });
    sm.addSecret('us-east-1', 'prod/api-key', { value: 'k1', replicas: [{ region: 'us-west-2', status: 'Failed', statusMessage: 'Replication failed: a secret with this name already exists in this region.' }] });
    east = new SecretsManagerClient(clientConfig(sm.url, 'us-east-1'));
    west = new SecretsManagerClient(clientConfig(sm.url, 'us-west-2'));
  });

  afterAll(async () => {
    east.destroy();
    west.destroy();
    await sm.stop();
    await sts.stop();
  });

  it('describes replication in the primary region, omitting what is empty; the replica names its primary', async () => {
    const primary = await east.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }));
    expect(primary.ARN).toBe(arn);
    expect(primary.ReplicationStatus).toEqual([{ Region: 'us-west-2', KmsKeyId: 'alias/aws/secretsmanager', Status: 'InSync', StatusMessage: 'Replication succeeded' }]);
    expect(primary).not.toHaveProperty('Description');
    expect(primary).not.toHaveProperty('LastAccessedDate');
    const replica = await west.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }));
    expect(replica.PrimaryRegion).toBe('us-east-1');
    expect(replica.ARN).toBe(arn.replace('us-east-1', 'us-west-2'));
    expect(replica).not.toHaveProperty('ReplicationStatus');
    const failed = await east.send(new DescribeSecretCommand({ SecretId: 'prod/api-key' }));
    expect(failed.ReplicationStatus?.[0]).toMatchObject({ Region: 'us-west-2', Status: 'Failed' });
  });

  it('finds a secret by name, full ARN or partial ARN; anything else is ResourceNotFoundException', async () => {
    expect((await east.send(new DescribeSecretCommand({ SecretId: arn }))).Name).toBe('prod/db/master');
    expect((await east.send(new DescribeSecretCommand({ SecretId: arn.replace(/-\w{6}$/, '') }))).Name).toBe('prod/db/master');
    const missing = await errorOf(east.send(new DescribeSecretCommand({ SecretId: 'prod/db/other' })));
    expect(missing?.name).toBe('ResourceNotFoundException');
    expect(missing?.message).toBe("Secrets Manager can't find the specified secret.");
    // The replica that failed does not exist in its region; an ARN of another region is not found here.
    expect((await errorOf(west.send(new DescribeSecretCommand({ SecretId: 'prod/api-key' }))))?.name).toBe('ResourceNotFoundException');
    expect((await errorOf(west.send(new DescribeSecretCommand({ SecretId: arn }))))?.name).toBe('ResourceNotFoundException');
    expect(refusedCodes()).toEqual([]);
  });

  it('refuses a request missing SecretId (ValidationException)', async () => {
    const err = await errorOf(east.send(new DescribeSecretCommand({} as { SecretId: string })));
    expect(err?.name).toBe('ValidationException');
    expect(err?.message).toBe("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null");
    expect(refusedCodes()).toEqual(['secretsmanager:ValidationException']);
  });

  it('puts a new current value (the old one becomes AWSPREVIOUS), never logs it, and refuses writes to a replica', async () => {
    const put = await east.send(new PutSecretValueCommand({ SecretId: 'prod/db/master', SecretString: '{"password":"second"}' }));
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect((await west.send(new GetSecretValueCommand({ SecretId: 'prod/db/master' }))).SecretString).toBe('{"password":"second"}');
    expect((await east.send(new GetSecretValueCommand({ SecretId: 'prod/db/master', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('{"password":"first"}');
    expect(JSON.stringify(sm.calls)).not.toContain('second');
    expect((await errorOf(west.send(new PutSecretValueCommand({ SecretId: 'prod/db/master', SecretString: 'x' }))))?.name).toBe('InvalidRequestException');
    expect(sm.currentValue('us-east-1', 'prod/db/master')).toBe('{"password":"second"}');
    // Read in us-west-2 today: the primary's description says so, to the day.
    const described = await east.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }));
    expect(described.ReplicationStatus?.[0]?.LastAccessedDate?.getUTCHours()).toBe(0);
  });

  it('takes session credentials while the fake STS says they are live (ExpiredTokenException after)', async () => {
    const role = 'arn:aws:iam::123456789012:role/dr-readiness';
    sts.addRole(role);
    const session = await assumeRole(sts, role);
    const client = new SecretsManagerClient({ ...clientConfig(sm.url, 'us-east-1'), credentials: session });
    expect((await client.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }))).Name).toBe('prod/db/master');
    const forged = new SecretsManagerClient({ ...clientConfig(sm.url, 'us-east-1'), credentials: { ...session, secretAccessKey: 'wrong' } });
    expect((await errorOf(forged.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }))))?.name).toBe('InvalidSignatureException');
    sts.now = () => Date.now() + 2 * 3_600_000;
    expect((await errorOf(client.send(new DescribeSecretCommand({ SecretId: 'prod/db/master' }))))?.name).toBe('ExpiredTokenException');
    sts.now = Date.now;
    client.destroy();
    forged.destroy();
  });
});
