import { type DBClusterSnapshot, DescribeDBClusterSnapshotsCommand, type RDSClient, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { awsCode, classifyAwsError, describeCluster, mustDescribeCluster, networkOf, ownedByRun, RUN_TAG, restoredClusterName, CLUSTER_ID } from './aws.ts';

const SNAPSHOT_TAG = 'dr-chatops:snapshot';

/** A cluster's available snapshots (automated and manual), newest first. */
export async function listSnapshots(rds: RDSClient, clusterId: string): Promise<DBClusterSnapshot[]> {
  const all: DBClusterSnapshot[] = [];
  let marker: string | undefined;
  do {
    let res;
    try {
      res = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: clusterId, MaxRecords: 100, ...(marker ? { Marker: marker } : {}) }));
    } catch (err) {
      throw classifyAwsError(err, `listing snapshots of ${clusterId}`);
    }
    all.push(...(res.DBClusterSnapshots ?? []));
    marker = res.Marker;
  } while (marker);
  return all
    .filter((s) => s.Status === 'available')
    .sort((a, b) => (b.SnapshotCreateTime?.getTime() ?? 0) - (a.SnapshotCreateTime?.getTime() ?? 0));
}

function describe(s: DBClusterSnapshot, now: number): string {
  const at = s.SnapshotCreateTime;
  return `${s.DBClusterSnapshotIdentifier ?? '?'} (${s.SnapshotType ?? 'snapshot'}, taken ${at?.toISOString() ?? '?'}, ${at ? formatDuration(now - at.getTime()) : '?'} old)`;
}

function choose(snapshots: DBClusterSnapshot[], wanted: string, source: string, now: number): DBClusterSnapshot {
  if (snapshots.length === 0) throw new PermanentStepError(`there are no available snapshots of ${source}`);
  const chosen = wanted === 'latest' ? snapshots[0] : snapshots.find((s) => s.DBClusterSnapshotIdentifier === wanted);
  if (!chosen) {
    throw new PermanentStepError(
      `there is no available snapshot "${wanted}" of ${source}; the newest are: ${snapshots.slice(0, 5).map((s) => describe(s, now)).join('; ')}`,
    );
  }
  return chosen;
}

/**
 * `rds.restore-snapshot`: restores a cluster snapshot (a named one, or the
 * newest) as a NEW cluster `<source>-dr-<run>`.
 * Reads: DescribeDBClusters, DescribeDBClusterSnapshots. Changes: RestoreDBClusterFromSnapshot.
 * Idempotency: fixed name per run, tagged with the run and the snapshot used; adopted on re-entry.
 */
export function restoreSnapshotStep(rds: () => RDSClient) {
  return defineStep({
    id: 'rds.restore-snapshot',
    summary: 'Restore an Aurora cluster snapshot as a new cluster',
    params: z.object({
      source: CLUSTER_ID,
      /** A snapshot identifier, or `latest` for the newest available one. */
      snapshot: z.string().min(1).default('latest'),
      target: CLUSTER_ID.optional(),
    }),
    outputs: ['clusterId', 'snapshotId', 'restorePoint'],
    async plan(ctx, p) {
      const source = await mustDescribeCluster(rds(), p.source);
      const now = Date.now();
      const snapshot = choose(await listSnapshots(rds(), p.source), p.snapshot, p.source, now);
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const net = networkOf(source);
      return [
        {
          action: 'create',
          resource: `rds cluster ${target}`,
          detail: `restore snapshot ${describe(snapshot, now)} as new cluster ${target} (subnet group ${net.DBSubnetGroupName ?? 'default'}); ${p.source} is not changed`,
        },
      ];
    },
    async run(ctx, p) {
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const existing = await describeCluster(rds(), target);
      if (!existing) {
        const source = await mustDescribeCluster(rds(), p.source);
        const snapshot = choose(await listSnapshots(rds(), p.source), p.snapshot, p.source, Date.now());
        const snapshotId = snapshot.DBClusterSnapshotIdentifier ?? '';
        ctx.progress(`restoring snapshot ${snapshotId} as ${target}`);
        try {
          await rds().send(
            new RestoreDBClusterFromSnapshotCommand({
              DBClusterIdentifier: target,
              SnapshotIdentifier: snapshotId,
              Engine: snapshot.Engine ?? source.Engine,
              ...(snapshot.EngineVersion ? { EngineVersion: snapshot.EngineVersion } : {}),
              ...networkOf(source),
              Tags: [
                { Key: RUN_TAG, Value: ctx.runId },
                { Key: SNAPSHOT_TAG, Value: `${snapshotId}@${snapshot.SnapshotCreateTime?.toISOString() ?? ''}` },
              ],
            }),
          );
        } catch (err) {
          if (awsCode(err) !== 'DBClusterAlreadyExistsFault') throw classifyAwsError(err, `restoring snapshot ${snapshotId}`);
        }
      }
      const cluster = existing ?? (await describeCluster(rds(), target));
      if (!cluster) throw new Error(`cluster ${target} is not visible yet after the restore call`);
      if (!ownedByRun(cluster, ctx.runId)) {
        throw new PermanentStepError(`a DB cluster named ${target} already exists and was not created by this run; choose another target name or delete it`);
      }
      const [snapshotId = '', restorePoint = ''] = (cluster.TagList?.find((t) => t.Key === SNAPSHOT_TAG)?.Value ?? '').split('@');
      return { clusterId: target, snapshotId, restorePoint };
    },
  });
}
