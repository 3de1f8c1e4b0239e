import { type DBCluster, RestoreDBClusterToPointInTimeCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import { formatDuration } from '../../util/duration.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { awsCode, classifyAwsError, describeCluster, mustDescribeCluster, networkOf, ownedByRun, RUN_TAG, restoredClusterName, CLUSTER_ID } from './aws.ts';
import { chooseSettings, type SettingsOverrides, settingsOfCluster, settingsParams } from './settings.ts';
import { buildTags } from './tags.ts';

const RESTORE_POINT_TAG = 'dr-chatops:restore-point';

/** Settings the new cluster takes: the step's overrides, else the source's (a restore inherits none of them). */
function settingsFor(source: DBCluster, sourceId: string, p: SettingsOverrides) {
  return chooseSettings(p, [{ label: sourceId, settings: settingsOfCluster(source) }]);
}


/**
 * `rds.restore-pitr`: restores an Aurora cluster to a point in time, as a NEW
 * cluster `<source>-dr-<run>` (the source is not touched).
 * Copies from the source (unless a parameter overrides it): subnet group,
 * security groups, cluster parameter group, port, IAM authentication,
 * deletion protection, CloudWatch log exports, copy-tags-to-snapshot and the
 * Serverless v2 scaling configuration.
 * Reads: DescribeDBClusters. Changes: RestoreDBClusterToPointInTime.
 * Idempotency: the restore call is a checkpoint (`restore-cluster`): entered
 * again, the step does not send it again; behind it, the new cluster's name is
 * fixed per run and tagged with the run, and a re-entered step adopts it. The
 * restored cluster has no instances yet (`rds.create-writer` adds the writer
 * and waits, parked, while the restore runs).
 */
export function restorePitrStep() {
  return defineStep({
    id: 'rds.restore-pitr',
    // Its one change is a checkpoint; everything else is a read.
    resumable: true,
    summary: 'Restore an Aurora cluster to a point in time, as a new cluster',
    params: z.object({
      source: CLUSTER_ID,
      /** An ISO-8601 time, or `latest` for the latest restorable time. */
      to: z.string().min(1),
      target: CLUSTER_ID.optional(),
      /** `copy-on-write` clones fast but only to the latest restorable time. */
      restoreType: z.enum(['full-copy', 'copy-on-write']).default('full-copy'),
      ...settingsParams,
    }),
    outputs: ['clusterId', 'restorePoint', 'source'],
    async plan(ctx, p) {
      const source = await mustDescribeCluster(ctx.aws.rds(), p.source);
      // A time an earlier step chooses (a restore test's pick) is checked against the window when the step runs.
      const restorePoint = isPlaceholder(p.to) ? 'the point an earlier step chooses (checked against the restorable window when it runs)' : checkRestoreTime(source, p.to, p.restoreType, Date.now());
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const net = networkOf(source);
      const settings = settingsFor(source, p.source, p);
      return [
        {
          action: 'create',
          resource: `rds cluster ${target}`,
          detail: `restore ${p.source} to ${isPlaceholder(p.to) ? restorePoint : p.to === 'latest' ? `the latest restorable time (resolved at run time; now ${restorePoint})` : restorePoint} as new cluster ${target} (${p.restoreType}, subnet group ${net.DBSubnetGroupName ?? 'default'}, security groups ${net.VpcSecurityGroupIds?.join(', ') ?? 'default'}); ${p.source} is not changed; ${settings.summary}`,
        },
      ];
    },
    async run(ctx, p) {
      const rds = ctx.aws.rds();
      const target = p.target ?? restoredClusterName(p.source, ctx.runId);
      const existing = await describeCluster(rds, target);
      if (existing) return adopt(existing, ctx.runId, p.source, p.to);

      const source = await mustDescribeCluster(rds, p.source);
      checkRestoreTime(source, p.to, p.restoreType, Date.now());
      const latest = p.to === 'latest';
      const tags = buildTags({ [RUN_TAG]: ctx.runId, [RESTORE_POINT_TAG]: latest ? (source.LatestRestorableTime?.toISOString() ?? 'latest') : p.to });
      for (const note of tags.notes) ctx.progress(note);
      ctx.progress(`restoring ${p.source} to ${latest ? 'the latest restorable time' : p.to} as ${target}`);
      await ctx.once('restore-cluster', async () => {
        try {
          await rds.send(
            new RestoreDBClusterToPointInTimeCommand({
              SourceDBClusterIdentifier: p.source,
              DBClusterIdentifier: target,
              RestoreType: p.restoreType,
              // Exactly one of the two, never both (the API refuses both).
              ...(latest ? { UseLatestRestorableTime: true } : { RestoreToTime: new Date(p.to) }),
              // Without these the new cluster lands in the default VPC security group, unreachable by the apps.
              ...networkOf(source),
              // A restore inherits none of these: without them the new cluster differs from the one the apps used.
              ...settingsFor(source, p.source, p).request,
              Tags: tags.tags,
            }),
          );
        } catch (err) {
          if (awsCode(err) !== 'DBClusterAlreadyExistsFault') throw classifyAwsError(err, `restoring ${p.source}`);
        }
      });
      const created = await describeCluster(rds, target);
      if (!created) throw new Error(`cluster ${target} is not visible yet after the restore call`);
      return adopt(created, ctx.runId, p.source, p.to);
    },
  });
}

function adopt(cluster: DBCluster, runId: string, source: string, to: string) {
  if (!ownedByRun(cluster, runId)) {
    throw new PermanentStepError(
      `a DB cluster named ${cluster.DBClusterIdentifier ?? ''} already exists and was not created by this run; choose another target name or delete it`,
    );
  }
  const tagged = cluster.TagList?.find((t) => t.Key === RESTORE_POINT_TAG)?.Value;
  return { clusterId: cluster.DBClusterIdentifier ?? '', restorePoint: tagged ?? to, source };
}

/**
 * The restore time must be a real time inside the source's restorable window,
 * not in the future; copy-on-write restores only to the latest time.
 * Returns the restore point as shown in the plan.
 */
export function checkRestoreTime(source: DBCluster, to: string, restoreType: string, now: number): string {
  const earliest = source.EarliestRestorableTime;
  const latest = source.LatestRestorableTime;
  const window = `${earliest?.toISOString() ?? '?'} to ${latest?.toISOString() ?? '?'}`;
  if (to === 'latest') return `the latest restorable time (now ${latest?.toISOString() ?? 'unknown'})`;
  if (restoreType === 'copy-on-write') {
    throw new PermanentStepError('a copy-on-write clone restores only to the latest restorable time: use to=latest, or restoreType full-copy for a specific time');
  }
  const t = Date.parse(to);
  if (Number.isNaN(t)) throw new PermanentStepError(`"${to}" is not a time: use ISO-8601 with a zone (2026-11-15T10:00:00Z) or latest`);
  if (t > now) throw new PermanentStepError(`${to} is in the future; the restorable window of ${source.DBClusterIdentifier ?? ''} is ${window}`);
  if (!earliest || !latest || t < earliest.getTime() || t > latest.getTime()) {
    const hint = latest && t > latest.getTime() ? ` (the latest restorable time is ${formatDuration(now - latest.getTime())} ago)` : '';
    throw new PermanentStepError(`${to} is outside the restorable window of ${source.DBClusterIdentifier ?? ''}: ${window}${hint}`);
  }
  return new Date(t).toISOString();
}
