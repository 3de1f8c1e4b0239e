import { GetBucketReplicationCommand, GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { TargetAccess } from '../../targets/targets.ts';
import { awsCode } from '../rds/aws.ts';
import { fail, type ItemSpec, measured, pass, warn } from './items.ts';
import type { ItemResult } from './report.ts';

export const StateBucketChecksSchema = z.object({
  /** The S3 bucket holding Terraform's state; left out, the item says it was not checked. */
  bucket: z.union([z.literal(''), z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)]).default(''),
  /** Its region; the target's when left out. */
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/).optional(),
  /** Whether it must also be replicated (cross-region replication) to be ready. */
  requireReplication: z.boolean().default(false),
});
export type StateBucketChecks = z.infer<typeof StateBucketChecksSchema>;

/** DR-PLAN.md, "Before Disaster": Terraform state backed up to S3 with versioning (and replicated, when asked). */
export async function stateBucketItems(aws: TargetAccess['aws'], checks: StateBucketChecks, timeoutMs: number): Promise<ItemResult[]> {
  const versioning: ItemSpec = { id: 'terraform.versioning', area: 'terraform', title: 'Terraform state bucket versioned', objective: 'versioning Enabled' };
  const replication: ItemSpec = { id: 'terraform.replication', area: 'terraform', title: 'Terraform state bucket replicated', objective: 'an enabled replication rule' };
  if (!checks.bucket) {
    return [warn(versioning, 'not checked', 'No Terraform state bucket is named, so its versioning was not checked.', 'Name it in the readiness-check runbook (terraformState.bucket).')];
  }
  const s3 = aws.s3(checks.region);
  const items = await measured([versioning], timeoutMs, async (signal) => {
    const status = (await s3.send(new GetBucketVersioningCommand({ Bucket: checks.bucket }), { abortSignal: signal })).Status;
    if (status === 'Enabled') return [pass(versioning, 'Enabled', `${checks.bucket} keeps every version of the state.`)];
    return [fail(versioning, status ?? 'never enabled', `${checks.bucket} does not keep old versions: a corrupted or deleted state cannot be recovered.`, `aws s3api put-bucket-versioning --bucket ${checks.bucket} --versioning-configuration Status=Enabled`)];
  });
  if (!checks.requireReplication) return items;
  const replicated = await measured([replication], timeoutMs, async (signal) => {
    try {
      const rules = (await s3.send(new GetBucketReplicationCommand({ Bucket: checks.bucket }), { abortSignal: signal })).ReplicationConfiguration?.Rules ?? [];
      const enabled = rules.filter((r) => r.Status === 'Enabled');
      if (enabled.length) return [pass(replication, `${enabled.length} enabled rule(s)`, `${checks.bucket} is replicated.`)];
      return [fail(replication, 'rules disabled', `${checks.bucket} has replication rules, none enabled.`, 'Enable the replication rule (aws s3api put-bucket-replication).')];
    } catch (err) {
      if (awsCode(err) === 'ReplicationConfigurationNotFoundError') {
        return [fail(replication, 'none', `${checks.bucket} is not replicated to another region.`, 'Add a replication rule to the DR region (aws s3api put-bucket-replication); versioning must be on first.')];
      }
      throw err;
    }
  });
  return [...items, ...replicated];
}
