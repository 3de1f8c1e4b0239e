import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { TargetAccess } from '../../targets/targets.ts';
import { mapLimited } from '../../util/limited.ts';
import { awsCode } from '../rds/aws.ts';
import { fail, type ItemSpec, measured, pass, warn } from './items.ts';
import type { ItemResult } from './report.ts';

export const SecretChecksSchema = z.object({
  /** Secrets Manager secrets (names or ARNs) that must be replicated; DR-PLAN.md, "Secrets Replication". */
  ids: z.array(z.string().regex(/^[\w/+=.@:-]{1,2048}$/)).default(['prod/database/credentials']),
});
export type SecretChecks = z.infer<typeof SecretChecksSchema>;

/** Each listed secret replicated to the DR region and InSync (DescribeSecret's ReplicationStatus: API-FACTS 8.6). */
export async function secretItems(aws: TargetAccess['aws'], checks: SecretChecks, drRegion: string, timeoutMs: number): Promise<ItemResult[]> {
  // Secrets Manager's DescribeSecret is rate-limited per account and region: a few at a time.
  const all = await mapLimited(checks.ids, 5, (id) => {
      const spec: ItemSpec = { id: `secrets.replica.${id}`, area: 'secrets', title: `Secret ${id} replicated to ${drRegion}`, objective: `replica in ${drRegion}, InSync` };
      return measured([spec], timeoutMs, async (signal) => {
        let replicas;
        try {
          replicas = (await aws.secretsManager().send(new DescribeSecretCommand({ SecretId: id }), { abortSignal: signal })).ReplicationStatus ?? [];
        } catch (err) {
          if (awsCode(err) === 'ResourceNotFoundException') return [fail(spec, 'no such secret', `Secrets Manager has no secret ${id} in production's region.`, 'Name the secrets the applications read (secrets.ids).')];
          throw err;
        }
        const replica = replicas.find((r) => r.Region === drRegion);
        if (!replica) {
          const elsewhere = replicas.map((r) => r.Region).join(', ');
          return [fail(spec, elsewhere ? `replicas in ${elsewhere}` : 'no replica', `Secret ${id} has no replica in ${drRegion}: the DR region's applications could not read it.`, `aws secretsmanager replicate-secret-to-regions --secret-id ${id} --add-replica-regions Region=${drRegion}`)];
        }
        const status = replica.Status ?? 'unknown';
        if (status === 'InSync') return [pass(spec, status, `Replicated to ${drRegion}.`)];
        if (status === 'InProgress') return [warn(spec, status, `The replica in ${drRegion} is still being written.`, 'Check again in a few minutes.')];
        return [fail(spec, status, `The replica in ${drRegion} is ${status}: ${replica.StatusMessage ?? 'no message'}.`, `Remove and add the replica again (aws secretsmanager remove-regions-from-replication, then replicate-secret-to-regions); a KMS key the DR region cannot use is the usual cause.`)];
      });
  });
  return all.flat();
}
