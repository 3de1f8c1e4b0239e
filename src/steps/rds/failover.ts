import { type DBCluster, DescribeGlobalClustersCommand, FailoverGlobalClusterCommand, PromoteReadReplicaDBClusterCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { classifyAwsError, mustDescribeCluster, CLUSTER_ID } from './aws.ts';
import { lookAtState } from './states.ts';

const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like us-west-2');

/** Whether `cluster` is the writer, and for a global failover the global cluster's own status. */
async function writerState(rds: RDSClient, method: string, cluster: DBCluster, globalCluster: string | undefined): Promise<{ writer: boolean; globalStatus?: string }> {
  if (method === 'promote-replica') return { writer: !cluster.ReplicationSourceIdentifier };
  try {
    const res = await rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: globalCluster }));
    const global = res.GlobalClusters?.[0];
    const me = (global?.GlobalClusterMembers ?? []).find((m) => m.DBClusterArn === cluster.DBClusterArn);
    if (!me) throw new PermanentStepError(`${cluster.DBClusterIdentifier ?? ''} is not a member of global cluster ${globalCluster ?? ''}`);
    return { writer: me.IsWriter === true, ...(global?.Status ? { globalStatus: global.Status } : {}) };
  } catch (err) {
    if (err instanceof PermanentStepError) throw err;
    throw classifyAwsError(err, `describing global cluster ${globalCluster ?? ''}`);
  }
}

async function isWriter(rds: RDSClient, method: string, cluster: DBCluster, globalCluster: string | undefined): Promise<boolean> {
  return (await writerState(rds, method, cluster, globalCluster)).writer;
}

/**
 * `rds.failover`: makes the DR region's Aurora cluster the writer, for a
 * region outage. Either promotes a cross-region read replica
 * (`promote-replica`: it leaves replication for good) or fails an Aurora Global
 * Database over to it (`global-failover`, allowing data loss as an unplanned
 * failover must). Waits until it is writable and available.
 * Reads: DescribeDBClusters, DescribeGlobalClusters. Changes: PromoteReadReplicaDBCluster | FailoverGlobalCluster.
 * Idempotency: a cluster that is already the writer is not promoted again.
 */
export function failoverStep(rds: (region?: string) => RDSClient) {
  return defineStep({
    id: 'rds.failover',
    summary: 'Make the DR region database the writer (replica promotion or global failover)',
    params: z
      .object({
        method: z.enum(['promote-replica', 'global-failover']),
        cluster: CLUSTER_ID,
        region,
        globalCluster: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/).optional(),
      })
      .refine((p) => p.method !== 'global-failover' || Boolean(p.globalCluster), 'global-failover needs globalCluster'),
    outputs: ['writerEndpoint', 'clusterArn'],
    async plan(_ctx, p) {
      const client = rds(p.region);
      const cluster = await mustDescribeCluster(client, p.cluster);
      if (await isWriter(client, p.method, cluster, p.globalCluster)) {
        return [{ action: 'check', resource: `rds cluster ${p.cluster}`, detail: `${p.cluster} (${p.region}) is already the writer: nothing to promote` }];
      }
      return [
        p.method === 'promote-replica'
          ? { action: 'change', resource: `rds cluster ${p.cluster}`, detail: `promote read replica ${p.cluster} in ${p.region} to a standalone writer; replication from the primary stops for good`, irreversible: true }
          : { action: 'change', resource: `global cluster ${p.globalCluster ?? ''}`, detail: `fail global cluster ${p.globalCluster ?? ''} over to ${p.cluster} in ${p.region}, allowing the loss of writes not yet replicated`, irreversible: true },
      ];
    },
    async run(ctx, p) {
      const client = rds(p.region);
      const cluster = await mustDescribeCluster(client, p.cluster);
      if (!(await isWriter(client, p.method, cluster, p.globalCluster))) {
        ctx.progress(p.method === 'promote-replica' ? `promoting ${p.cluster}` : `failing ${p.globalCluster ?? ''} over to ${p.cluster}`);
        try {
          if (p.method === 'promote-replica') await client.send(new PromoteReadReplicaDBClusterCommand({ DBClusterIdentifier: p.cluster }));
          else {
            await client.send(
              new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: p.globalCluster, TargetDbClusterIdentifier: cluster.DBClusterArn, AllowDataLoss: true }),
            );
          }
        } catch (err) {
          throw classifyAwsError(err, `failing over to ${p.cluster}`);
        }
      }
      const waitingFor = 'to be a writable, available cluster';
      await pollUntil(ctx, {
        what: `${p.cluster} ${waitingFor}`,
        check: async () => {
          const now = await mustDescribeCluster(client, p.cluster);
          const status = now.Status ?? 'unknown';
          const look = lookAtState('DB cluster', p.cluster, status, waitingFor);
          if ('failed' in look) return look;
          const { writer, globalStatus } = await writerState(client, p.method, now, p.globalCluster);
          if (globalStatus !== undefined) {
            const global = lookAtState('global cluster', p.globalCluster ?? '', globalStatus, `to fail over to ${p.cluster}`);
            if ('failed' in global) return global;
          }
          if (writer && look.done) return { done: true };
          return { done: false, state: `${status}${writer ? '' : ', not yet the writer'}` };
        },
      });
      const ready = await mustDescribeCluster(client, p.cluster);
      return { writerEndpoint: ready.Endpoint ?? '', clusterArn: ready.DBClusterArn ?? '' };
    },
  });
}
