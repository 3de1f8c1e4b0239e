import { type DBCluster, type DBClusterSnapshot, DescribeDBClusterSnapshotsCommand, type RDSClient, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import { FROM_SOURCE, SECURITY_GROUP_HINT, SECURITY_GROUP_ID, splitSecurityGroups } from '../../targets/aws-ids.ts';
import { formatDuration } from '../../util/duration.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { awsCode, classifyAwsError, describeCluster, isAwsError, mustDescribeCluster, networkOf, ownedByRun, RUN_TAG, restoredClusterName, CLUSTER_ID } from './aws.ts';

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
function settingsFor(source: DBCluster | undefined, sourceId: string, snapshot: DBClusterSnapshot, p: SettingsOverrides) {
  return chooseSettings(p, [
    ...(source ? [{ label: sourceId, settings: settingsOfCluster(source) }] : []),
    { label: `snapshot ${snapshot.DBClusterSnapshotIdentifier ?? ''}`, settings: settingsOfSnapshot(snapshot) },
  ]);
}

/** A VPC security group id, as the runbook parameter type `security-groups` checks it too. */
const SECURITY_GROUP = z.string().regex(SECURITY_GROUP_ID, `must be a VPC security group id: ${SECURITY_GROUP_HINT}`);

/** Step parameters for the new cluster's network (default: the source cluster's). */
const networkParams = {
  /** DB subnet group of the new cluster; needed when the source cluster was deleted (a snapshot does not record it). */
  subnetGroup: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9 ._-]{0,254}$/, 'must be a DB subnet group name')
    .optional()
    .transform((v) => (v === FROM_SOURCE ? undefined : v)),
  /** VPC security groups of the new cluster: a list, or ids separated by commas or spaces. */
  securityGroups: z
    .preprocess((v) => (typeof v === 'string' ? (v.trim() === FROM_SOURCE ? undefined : splitSecurityGroups(v)) : v), z.array(SECURITY_GROUP).min(1).optional()),
};

type Network = { DBSubnetGroupName?: string; VpcSecurityGroupIds?: string[] };

/** What the restore is made from: the source cluster if it still exists, the chosen snapshot, and the new cluster's network. */
interface Resolved {
  source: DBCluster | undefined;
  snapshot: DBClusterSnapshot;
  engine: string;
  network: Network;
  /** Members taken from the snapshot when the source is gone (the encryption key). */
  fromSnapshot: { KmsKeyId?: string };
  /** For the plan: what was used and where each part came from. */
  detail: string;
}

async function resolve(
  rds: RDSClient,
  p: { source: string; snapshot: string; target?: string | undefined; subnetGroup?: string | undefined; securityGroups?: string[] | undefined } & SettingsOverrides,
  target: string,
  runId: string,
  now: number,
): Promise<Resolved> {
  const source = await describeCluster(rds, p.source);
  const snapshots = await listSnapshots(rds, p.source);
  if (!source && snapshots.length === 0) {
    throw new PermanentStepError(`there is no DB cluster "${p.source}" in this account and region, and no available snapshot of a cluster by that name`);
  }
  const snapshot = choose(snapshots, p.snapshot, p.source, now);
  const settings = settingsFor(source, p.source, snapshot, p);
  const notes = tagsFor(runId, snapshot).notes.map((n) => `; ${n}`).join('');
  if (source) {
    const net = networkOf(source);
    const network: Network = { ...net, ...(p.subnetGroup ? { DBSubnetGroupName: p.subnetGroup } : {}), ...(p.securityGroups ? { VpcSecurityGroupIds: p.securityGroups } : {}) };
    const given = [p.subnetGroup ? 'subnet group' : '', p.securityGroups ? 'security groups' : ''].filter(Boolean).join(' and ');
    return {
      source,
      snapshot,
      engine: snapshot.Engine ?? source.Engine ?? '',
      network,
      fromSnapshot: {},
      detail:
        `restore snapshot ${describe(snapshot, now)} as new cluster ${target} (subnet group ${network.DBSubnetGroupName ?? 'default'}` +
        `${given ? `; ${given} given: ${[p.subnetGroup, ...(p.securityGroups ?? [])].filter(Boolean).join(', ')}` : ''}); ${p.source} is not changed; ${settings.summary}${notes}`,
    };
  }
  // The source was deleted: only its manual snapshots (the final one among them) remain, and a snapshot records no network.
  const vpc = snapshot.VpcId ? ` (it was in ${snapshot.VpcId})` : '';
  const missing = [p.subnetGroup ? '' : 'subnetGroup=…', p.securityGroups ? '' : 'securityGroups=…'].filter(Boolean);
  if (missing.length) {
    const what = p.subnetGroup ? 'which security groups' : 'which subnet group';
    throw new PermanentStepError(`the source cluster ${p.source} no longer exists and its snapshot does not say ${what} to use${vpc}: pass ${missing.join(' ')}`);
  }
  if (!snapshot.Engine) throw new PermanentStepError(`the source cluster ${p.source} no longer exists and snapshot ${snapshot.DBClusterSnapshotIdentifier ?? ''} does not name its engine`);
  const kms = snapshot.StorageEncrypted && snapshot.KmsKeyId ? snapshot.KmsKeyId : undefined;
  const recorded = [
    `engine ${snapshot.Engine}${snapshot.EngineVersion ? ` ${snapshot.EngineVersion}` : ''}`,
    kms ? `KMS key ${kms}` : 'not encrypted',
    ...(snapshot.VpcId ? [`VPC ${snapshot.VpcId}`] : []),
    ...(snapshot.AvailabilityZones?.length ? [`availability zones ${snapshot.AvailabilityZones.join(', ')}`] : []),
  ];
  const kind = snapshot.SnapshotType === 'manual' ? 'manual snapshot (a final snapshot taken at deletion is one too)' : `${snapshot.SnapshotType ?? ''} snapshot`;
  return {
    source,
    snapshot,
    engine: snapshot.Engine,
    network: { DBSubnetGroupName: p.subnetGroup ?? '', VpcSecurityGroupIds: p.securityGroups ?? [] },
    fromSnapshot: kms ? { KmsKeyId: kms } : {},
    detail:
      `the source cluster ${p.source} no longer exists (deleted); restore its ${kind} ${describe(snapshot, now)} as new cluster ${target}; ` +
      `from the snapshot: ${recorded.join(', ')}; given: subnet group ${p.subnetGroup ?? ''}, security groups ${(p.securityGroups ?? []).join(', ')}; ${settings.summary}${notes}`,
  };
}

/** A cluster's available snapshots (automated and manual), newest first. */
export async function listSnapshots(rds: RDSClient, clusterId: string): Promise<DBClusterSnapshot[]> {
  const all: DBClusterSnapshot[] = [];
  let marker: string | undefined;
  do {
    let res;
    const page = { MaxRecords: 100, ...(marker ? { Marker: marker } : {}) };
    try {
      res = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: clusterId, ...page }));
    } catch (err) {
      // RDS lists a deleted cluster's snapshots by its id; should it ever refuse the id, the filter asks the same.
      if (!isAwsError(err, 'DBClusterNotFoundFault')) throw classifyAwsError(err, `listing snapshots of ${clusterId}`);
      try {
        res = await rds.send(new DescribeDBClusterSnapshotsCommand({ Filters: [{ Name: 'db-cluster-id', Values: [clusterId] }], ...page }));
      } catch (err2) {
        throw classifyAwsError(err2, `listing snapshots of ${clusterId}`);
      }
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
 * CloudWatch log exports, copy-tags-to-snapshot, Serverless v2 scaling;
 * `subnetGroup` and `securityGroups` override the network.
 * A deleted source (DescribeDBClusters: DBClusterNotFoundFault) is restored
 * from its remaining snapshots (listed by its id: its manual ones, the final
 * snapshot among them): engine, version, port, IAM authentication and KMS key
 * come from the snapshot, and since a snapshot records no subnet group or
 * security groups, `subnetGroup` and `securityGroups` must then be given
 * (a runbook may set them as its parameters' defaults); the plan refuses otherwise.
 * Nor does it record the cluster parameter group (RDS's default unless
 * `parameterGroup` is given), deletion protection or copy-tags-to-snapshot
 * (both on unless given: settings.ts SAFE_DEFAULTS); the plan says where each
 * setting came from.
 * Reads: DescribeDBClusters, DescribeDBClusterSnapshots. Changes: RestoreDBClusterFromSnapshot.
 * Idempotency: the restore call is a checkpoint (`restore-cluster`): entered again, the step
 * does not send it again; behind it, the name is fixed per run and tagged with the run and the
 * snapshot used, and adopted on re-entry.
 */
export function restoreSnapshotStep() {
  return defineStep({
    id: 'rds.restore-snapshot',
    // Its one change is a checkpoint; everything else is a read.
    resumable: true,
    summary: 'Restore an Aurora cluster snapshot as a new cluster',
    params: z.object({
      source: CLUSTER_ID,
      /** A snapshot identifier, or `latest` for the newest available one. */
      snapshot: z.string().min(1).default('latest'),
      target: CLUSTER_ID.optional(),
      ...networkParams,
      ...settingsParams,
    }),
    outputs: ['clusterId', 'snapshotId', 'restorePoint'],
    async plan(ctx, p) {
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      if (isPlaceholder(p.snapshot)) {
        // A snapshot an earlier step chooses (a restore test's pick, itself pinned by its plan): checked when this step runs.
        await mustDescribeCluster(ctx.aws.rds(), p.source);
        return [{ action: 'create', resource: `rds cluster ${target}`, detail: `restore the snapshot of ${p.source} an earlier step chooses as new cluster ${target}, in ${p.source}'s network with its settings; ${p.source} is not changed` }];
      }
      const { detail, snapshot } = await resolve(ctx.aws.rds(), p, target, ctx.runId, Date.now());
      // The newest snapshot now is what was approved: a snapshot taken later is not restored instead.
      const pinned = p.snapshot === 'latest' && snapshot.DBClusterSnapshotIdentifier;
      if (pinned) ctx.pin('snapshot', pinned);
      return [{ action: 'create', resource: `rds cluster ${target}`, detail: pinned ? `${detail}; pinned: the run restores exactly ${pinned}` : detail }];
    },
    async run(ctx, p) {
      const rds = ctx.aws.rds();
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const existing = await describeCluster(rds, target);
      if (!existing) {
        const { source, snapshot, engine, network, fromSnapshot } = await resolve(rds, p, target, ctx.runId, Date.now());
        const snapshotId = snapshot.DBClusterSnapshotIdentifier ?? '';
        const tags = tagsFor(ctx.runId, snapshot);
        for (const note of tags.notes) ctx.progress(note);
        ctx.progress(`restoring snapshot ${snapshotId} as ${target}${source ? '' : ` (the source cluster ${p.source} no longer exists)`}`);
        await ctx.once('restore-cluster', async () => {
          try {
            await rds.send(
              new RestoreDBClusterFromSnapshotCommand({
                DBClusterIdentifier: target,
                SnapshotIdentifier: snapshotId,
                Engine: engine,
                ...(snapshot.EngineVersion ? { EngineVersion: snapshot.EngineVersion } : {}),
                ...network,
                ...fromSnapshot,
                // A restore inherits none of these: without them the new cluster differs from the one the apps used.
                ...settingsFor(source, p.source, snapshot, p).request,
                Tags: tags.tags,
              }),
            );
          } catch (err) {
            if (awsCode(err) !== 'DBClusterAlreadyExistsFault') throw classifyAwsError(err, `restoring snapshot ${snapshotId}`);
          }
        });
      }
      const cluster = existing ?? (await describeCluster(rds, target));
      if (!cluster) throw new Error(`cluster ${target} is not visible yet after the restore call`);
      if (!ownedByRun(cluster, ctx.runId)) {
        throw new PermanentStepError(`a DB cluster named ${target} already exists and was not created by this run; choose another target name or delete it`);
      }
      return { clusterId: target, ...taggedSnapshot(cluster) };
    },
  });
}
