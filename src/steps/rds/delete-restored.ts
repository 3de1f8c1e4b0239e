import { DeleteDBClusterCommand, DeleteDBInstanceCommand, type DBCluster } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { awsCode, CLUSTER_ID, classifyAwsError, describeCluster, ownedByRun, RUN_TAG } from './aws.ts';

/**
 * `rds.delete-restored`: deletes a cluster THIS run restored (a restore
 * test's throw-away copy) and its instances, without a final snapshot, and
 * waits until it is gone. Anything not tagged with this run's id is refused
 * before any call that changes something: the step can only remove what its
 * own run made. Gone already (or never made) is done. Meant as a cleanup
 * (`always:`) step, so a failed or cancelled test leaves nothing behind.
 */
export function deleteRestoredStep() {
  return defineStep({
    id: 'rds.delete-restored',
    resumable: true,
    summary: 'Delete a cluster this run restored, and its instances (a restore test\'s copy)',
    params: z.object({ cluster: CLUSTER_ID }),
    outputs: ['deleted'],
    plan: (ctx, p) =>
      Promise.resolve([
        {
          action: 'delete' as const,
          resource: `rds cluster ${p.cluster}`,
          detail: `delete ${p.cluster} and its instances, no final snapshot, only if this run created it (tag ${RUN_TAG}=${ctx.runId}); nothing else is touched`,
        },
      ]),
    async run(ctx, p) {
      const rds = ctx.aws.rds();
      const cluster = await describeCluster(rds, p.cluster);
      if (!cluster) {
        ctx.progress(`${p.cluster} does not exist (never restored, or deleted already)`);
        return { deleted: false };
      }
      refuseForeign(cluster, ctx.runId);
      const members = (cluster.DBClusterMembers ?? []).map((m) => m.DBInstanceIdentifier ?? '').filter(Boolean);
      await ctx.once('delete-instances', async () => {
        for (const instance of members) {
          try {
            await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: instance }));
          } catch (err) {
            // Gone, or being deleted already: what this call would have done.
            if (!['DBInstanceNotFound', 'DBInstanceNotFoundFault', 'InvalidDBInstanceState', 'InvalidDBInstanceStateFault'].includes(awsCode(err))) throw classifyAwsError(err, `deleting instance ${instance}`);
          }
        }
        return members;
      });
      await ctx.once('delete-cluster', async () => {
        try {
          await rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: p.cluster, SkipFinalSnapshot: true }));
        } catch (err) {
          // Gone, or being deleted already (a call whose answer was lost): done. Anything else is tried again by the engine.
          const gone = awsCode(err) === 'DBClusterNotFoundFault' || (awsCode(err) === 'InvalidDBClusterStateFault' && (await describeCluster(rds, p.cluster))?.Status === 'deleting');
          if (!gone) throw classifyAwsError(err, `deleting cluster ${p.cluster}`);
        }
        return true;
      });
      await pollUntil(ctx, {
        what: `cluster ${p.cluster} to be gone`,
        check: async () => {
          const now = await describeCluster(rds, p.cluster);
          return now ? { done: false, state: now.Status ?? 'deleting' } : { done: true };
        },
      });
      return { deleted: true };
    },
  });
}

function refuseForeign(cluster: DBCluster, runId: string): void {
  if (ownedByRun(cluster, runId)) return;
  throw new PermanentStepError(
    `cluster ${cluster.DBClusterIdentifier ?? ''} was not created by this run (no tag ${RUN_TAG}=${runId}), so it is not deleted: a restore test deletes only its own copy`,
  );
}
