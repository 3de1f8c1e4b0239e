import { type DBCluster, type DBClusterSnapshot, DescribeDBClusterSnapshotsCommand, type RDSClient, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { awsCode, classifyAwsError, describeCluster, mustDescribeCluster, networkOf, ownedByRun, RUN_TAG, restoredClusterName, CLUSTER_ID } from './aws.ts';

import { chooseSettings, type SettingsOverrides, settingsOfCluster, settingsOfSnapshot, settingsParams } from './settings.ts';
import { buildTags } from './tags.ts';

/** `<snapshot id>@<snapshot time>`, the id without a leading `rds:` (tag values may not begin with it). */
const SNAPSHOT_TAG = 'dr-chatops:snapshot';
/** The snapshot's type (`automated`, `manual`, ...): an automated snapshot's id is `rds:` + the tagged id. */
const SNAPSHOT_TYPE_TAG = 'dr-chatops:snapshot-type';

function tagsFor(runId: string, snapshot: DBClusterSnapshot) {
  return buildTags({
    [RUN_TAG]: runId,
    [SNAPSHOT_TAG]: [snapshot.DBClusterSnapshotIdentifier ?? '', `@${snapshot.SnapshotCreateTime?.toISOString() ?? ''}`],
    ...(snapshot.SnapshotType ? { [SNAPSHOT_TYPE_TAG]: snapshot.SnapshotType } : {}),
  });
}

/** The snapshot id and time a restored cluster's tags name (the inverse of {@link tagsFor}, but for a cut id). */
function taggedSnapshot(cluster: DBCluster): { snapshotId: string; restorePoint: string } {
  const value = cluster.TagList?.find((t) => t.Key === SNAPSHOT_TAG)?.Value ?? '';
  const type = cluster.TagList?.find((t) => t.Key === SNAPSHOT_TYPE_TAG)?.Value;
  const at = value.lastIndexOf('@');
  const id = at < 0 ? value : value.slice(0, at);
  return { snapshotId: type === 'automated' && id && !id.startsWith('rds:') ? `rds:${id}` : id, restorePoint: at < 0 ? '' : value.slice(at + 1) };
}

/** The source's settings if it has them, else what the snapshot records; the step's parameters override both. */
function settingsFor(source: DBCluster, sourceId: string, snapshot: DBClusterSnapshot, p: SettingsOverrides) {
  return chooseSettings(p, [
    { label: sourceId, settings: settingsOfCluster(source) },
    { label: `snapshot ${snapshot.DBClusterSnapshotIdentifier ?? ''}`, settings: settingsOfSnapshot(snapshot) },
  ]);
}

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
 * Copies from the source cluster (unless a parameter overrides it, and from
 * the snapshot where the source has no value): subnet group, security groups,
 * cluster parameter group, port, IAM authentication, deletion protection,
 * CloudWatch log exports, copy-tags-to-snapshot, Serverless v2 scaling.
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
      ...settingsParams,
    }),
    outputs: ['clusterId', 'snapshotId', 'restorePoint'],
    async plan(ctx, p) {
      const source = await mustDescribeCluster(rds(), p.source);
      const now = Date.now();
      const snapshot = choose(await listSnapshots(rds(), p.source), p.snapshot, p.source, now);
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const net = networkOf(source);
      const settings = settingsFor(source, p.source, snapshot, p);
      const notes = tagsFor(ctx.runId, snapshot).notes.map((n) => `; ${n}`).join('');
      return [
        {
          action: 'create',
          resource: `rds cluster ${target}`,
          detail: `restore snapshot ${describe(snapshot, now)} as new cluster ${target} (subnet group ${net.DBSubnetGroupName ?? 'default'}); ${p.source} is not changed; ${settings.summary}${notes}`,
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
        const tags = tagsFor(ctx.runId, snapshot);
        for (const note of tags.notes) ctx.progress(note);
        ctx.progress(`restoring snapshot ${snapshotId} as ${target}`);
        try {
          await rds().send(
            new RestoreDBClusterFromSnapshotCommand({
              DBClusterIdentifier: target,
              SnapshotIdentifier: snapshotId,
              Engine: snapshot.Engine ?? source.Engine,
              ...(snapshot.EngineVersion ? { EngineVersion: snapshot.EngineVersion } : {}),
              ...networkOf(source),
              // A restore inherits none of these: without them the new cluster differs from the one the apps used.
              ...settingsFor(source, p.source, snapshot, p).request,
              Tags: tags.tags,
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
      return { clusterId: target, ...taggedSnapshot(cluster) };
    },
  });
}
