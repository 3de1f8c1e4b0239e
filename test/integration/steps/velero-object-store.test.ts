import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findStoredBackup, storedBackupNames } from '../../../src/steps/velero/object-store.ts';
import { Targets } from '../../../src/targets/targets.ts';
import { takeModelRefusals } from '../../support/aws-models/refusals.ts';
import { FakeS3 } from '../../support/fake-s3.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);
const STORAGE = { bucket: 'prod-velero-backups', prefix: 'eks-prod', region: 'us-east-1' };
const credentials = () => Promise.resolve({ accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 'x'.repeat(40) });

/** Velero's backups read from its bucket, as a plan reads them while the cluster is not there. */
describe('Velero backup storage, read from S3', () => {
  let s3: FakeS3;
  let targets: Targets;

  beforeAll(async () => {
    s3 = await new FakeS3().start();
    targets = new Targets(new Map([['dr', { region: 'us-east-1', endpoints: { s3: s3.url }, rdsEndpoints: {}, veleroNamespace: 'velero', veleroBackupStorage: STORAGE }]]), 'dr', { credentials });
  });
  afterAll(async () => {
    await s3.stop();
  });
  beforeEach(() => {
    s3.buckets.clear();
    s3.calls.length = 0;
    s3.maxKeys = 1_000;
    s3.addBucket('prod-velero-backups', 'us-east-1');
  });

  const client = () => targets.access('dr', 'rtest001').aws.s3();

  it('finds the newest completed backup of the schedule, every page, in the bucket’s region, reading only backup metadata', async () => {
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261129020000', { schedule: 'daily-full-backup', completedAt: ago(51) });
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261130020000', { schedule: 'daily-full-backup', completedAt: ago(27) });
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-20261201020000', { schedule: 'daily-full-backup', completedAt: ago(3), phase: 'PartiallyFailed' });
    // Another schedule whose names start alike, a manual backup, and another cluster's prefix in the same bucket.
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'daily-full-backup-weekly-20261201030000', { schedule: 'daily-full-backup-weekly', completedAt: ago(2) });
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'before-upgrade', { completedAt: ago(1) });
    s3.putVeleroBackup(STORAGE.bucket, 'eks-staging', 'daily-full-backup-20261201040000', { schedule: 'daily-full-backup', completedAt: ago(1) });
    s3.maxKeys = 2;

    const found = await findStoredBackup(client(), STORAGE, 'latest', 'daily-full-backup');
    expect(found.metadata.name).toBe('daily-full-backup-20261130020000');
    expect(found.status.phase).toBe('Completed');
    expect(await storedBackupNames(client(), STORAGE)).toEqual([
      'before-upgrade',
      'daily-full-backup-20261129020000',
      'daily-full-backup-20261130020000',
      'daily-full-backup-20261201020000',
      'daily-full-backup-weekly-20261201030000',
    ]);
    expect(new Set(s3.calls.map((c) => c.region))).toEqual(new Set(['us-east-1']));
    expect(s3.calls.filter((c) => c.operation === 'ListObjectsV2').length).toBeGreaterThan(2);
    expect(new Set(s3.calls.filter((c) => c.operation === 'GetObject').map((c) => c.key?.replace(/^eks-prod\/backups\/[^/]+\//, '')))).toEqual(new Set(['velero-backup.json']));
    expect(takeModelRefusals()).toEqual([]);
  });

  it('a named backup is read by its metadata key; a missing one, a missing bucket and the wrong region are refused as S3 refuses them', async () => {
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'before-upgrade', { completedAt: ago(1) });
    expect((await findStoredBackup(client(), STORAGE, 'before-upgrade', undefined)).metadata.name).toBe('before-upgrade');
    expect(s3.calls.at(-1)?.key).toBe('eks-prod/backups/before-upgrade/velero-backup.json');
    await expect(findStoredBackup(client(), STORAGE, 'nope', undefined)).rejects.toThrow('there is no Velero backup "nope" in s3://prod-velero-backups/eks-prod/backups/');
    await expect(findStoredBackup(client(), { ...STORAGE, bucket: 'gone-bucket' }, 'latest', 'daily-full-backup')).rejects.toThrow('the bucket does not exist');
    const wrongRegion = new Targets(new Map([['dr', { region: 'us-west-2', endpoints: { s3: s3.url }, rdsEndpoints: {}, veleroNamespace: 'velero' }]]), 'dr', { credentials });
    await expect(findStoredBackup(wrongRegion.access('dr', 'rtest002').aws.s3(), { bucket: STORAGE.bucket, prefix: STORAGE.prefix }, 'before-upgrade', undefined)).rejects.toThrow(/AuthorizationHeaderMalformed.*expecting 'us-east-1'/);
  });

  it('the fake refuses what S3 refuses: unsigned requests, parameters S3’s model does not have', async () => {
    s3.putVeleroBackup(STORAGE.bucket, STORAGE.prefix, 'before-upgrade', { completedAt: ago(1) });
    expect((await fetch(`${s3.url}/${STORAGE.bucket}/eks-prod/backups/before-upgrade/velero-backup.json`)).status).toBe(403);
    const signed = { authorization: 'AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE0001/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const bad = await fetch(`${s3.url}/${STORAGE.bucket}?list-type=2&max-items=5`, { headers: signed });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('<Code>InvalidArgument</Code>');
    expect(takeModelRefusals()).toEqual([expect.objectContaining({ service: 's3', operation: 'ListObjectsV2', code: 'InvalidArgument' })]);
  });
});
