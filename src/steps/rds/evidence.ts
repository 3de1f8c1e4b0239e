import { CreateDBClusterSnapshotCommand, type DBClusterSnapshot, DescribeDBClusterSnapshotsCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { AWS_REGION } from '../../targets/config.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { CLUSTER_ID, classifyAwsError, isAwsError, mustDescribeCluster, rdsId, RUN_TAG } from './aws.ts';
import { buildTags } from './tags.ts';

/** The incident the evidence belongs to (the run's id when no incident is linked). */
export const INCIDENT_TAG = 'dr-chatops:incident';
/** Why the bot kept the snapshot: `evidence`, never deleted by the bot. */
export const PURPOSE_TAG = 'dr-chatops:purpose';

/** Snapshot states that never become `available` by themselves (DBClusterSnapshot.Status). */
const SNAPSHOT_FAILURES: Readonly<Record<string, string>> = {
  failed: 'RDS could not take it; check the cluster’s events (aws rds describe-events), then run the step again',
  deleting: 'somebody is deleting it; evidence must be kept: take it again under another name',
  deleted: 'it was deleted; take it again under another name',
};

/**
 * `<cluster>-evidence-<run id>`: a DB cluster snapshot identifier as RDS
 * wants it (1-63 letters, digits or hyphens, a letter first, no trailing or
 * double hyphen), lowercase as RDS stores it. The run id keeps it unique and
 * lets a re-entered step find its own.
 */
export function evidenceSnapshotName(cluster: string, runId: string): string {
  const suffix = `-evidence-${runId}`;
  return rdsId(`${cluster.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`.replace(/--+/g, '-'));
}

const tagOf = (s: DBClusterSnapshot, key: string) => s.TagList?.find((t) => t.Key === key)?.Value;

/** The snapshot named `id`, or undefined when there is none (DescribeDBClusterSnapshots faults on an unknown name). */
async function findSnapshot(rds: RDSClient, id: string): Promise<DBClusterSnapshot | undefined> {
  try {
    const res = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }));
    return res.DBClusterSnapshots?.[0];
  } catch (err) {
    if (isAwsError(err, 'DBClusterSnapshotNotFoundFault')) return undefined;
    throw classifyAwsError(err, `describing snapshot ${id}`);
  }
}

/** A snapshot of ours (this run's tag) is adopted; one of that name without it is somebody else's. */
function adopt(snapshot: DBClusterSnapshot, runId: string): void {
  if (tagOf(snapshot, RUN_TAG) !== runId) {
    throw new PermanentStepError(`a snapshot named ${snapshot.DBClusterSnapshotIdentifier ?? '?'} exists and was not taken by run ${runId} (no ${RUN_TAG}=${runId} tag); it was left alone`);
  }
}

/**
 * `rds.snapshot-evidence`: for a security breach, keeps the database as it
 * is now for the investigation: a manual DB cluster snapshot named after the
 * run, tagged `dr-chatops:incident` (the incident, `${{ run.incidentId }}`;
 * the run's id when the run has no incident), `dr-chatops:run` and
 * `dr-chatops:purpose=evidence`, and waits until it is `available`.
 * Reads: DescribeDBClusters, DescribeDBClusterSnapshots.
 * Changes: CreateDBClusterSnapshot (its Tags need rds:AddTagsToResource too).
 * Undo: delete the snapshot when the investigation ends; the bot never does.
 * Idempotency: the name comes from the run; a re-entered step adopts the
 * snapshot of that name carrying this run's tag, and refuses one without it.
 */
export function snapshotEvidenceStep() {
  return defineStep({
    id: 'rds.snapshot-evidence',
    resumable: true,
    summary: 'Keep the database as evidence: a tagged manual cluster snapshot named after the run',
    params: z.object({
      cluster: CLUSTER_ID,
      /** The incident the evidence belongs to: `${{ run.incidentId }}`; empty when the run has none. */
      incident: z
        .string()
        .max(128)
        .regex(/^[A-Za-z0-9._:-]*$/, 'must be an incident id (letters, digits, . _ : -), or empty')
        .default(''),
      /** The cluster's region; the step's target's when left out. */
      region: z.string().regex(AWS_REGION, 'must be an AWS region like us-east-1').optional(),
      /**
       * false: only start the snapshot (its point in time is the request) so that
       * containment need not wait for it; the same step later in the run, with
       * true, adopts it and waits until it is available.
       */
      waitUntilAvailable: z.boolean({ error: 'must be true or false' }).default(true),
    }),
    outputs: ['snapshot', 'incident', 'takenAt'],
    async plan(ctx, p) {
      const cluster = await mustDescribeCluster(ctx.aws.rds(p.region), p.cluster);
      const name = evidenceSnapshotName(p.cluster, ctx.runId);
      const { tags, notes } = tagsFor(ctx.runId, p.incident);
      const incident = p.incident ? `incident ${p.incident}` : `no incident is linked to this run: ${INCIDENT_TAG} names the run ${ctx.runId}`;
      const state = cluster.Status && cluster.Status !== 'available' ? `; the cluster is ${cluster.Status} now: the snapshot is taken once it is available` : '';
      return [
        {
          action: 'create',
          resource: `rds cluster snapshot ${name}`,
          detail:
            `snapshot ${p.cluster} as ${name} for the investigation (${incident}), tagged ${tags.map((t) => `${t.Key ?? ''}=${t.Value ?? ''}`).join(', ')}, ` +
            `${p.waitUntilAvailable ? 'and wait until it is available' : 'without waiting: its point in time is the request; a later step waits until it is available'}${state}${notes.length ? `; ${notes.join('; ')}` : ''}; it is kept until someone deletes it: delete the snapshot when the investigation ends`,
        },
      ];
    },
    async run(ctx, p) {
      const rds = ctx.aws.rds(p.region);
      const name = evidenceSnapshotName(p.cluster, ctx.runId);
      const taken = await ctx.once('create-snapshot', async () => {
        const existing = await findSnapshot(rds, name);
        if (existing) {
          adopt(existing, ctx.runId);
          ctx.progress(`snapshot ${name} exists already (this run's): adopting it`);
          return { takenAt: existing.SnapshotCreateTime?.toISOString() ?? '' };
        }
        ctx.progress(`taking snapshot ${name} of ${p.cluster}`);
        try {
          const res = await rds.send(new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: p.cluster, DBClusterSnapshotIdentifier: name, Tags: tagsFor(ctx.runId, p.incident).tags }));
          return { takenAt: res.DBClusterSnapshot?.SnapshotCreateTime?.toISOString() ?? new Date().toISOString() };
        } catch (err) {
          // Our own request whose answer was lost (the SDK retried): the snapshot is there, with our tag.
          if (!isAwsError(err, 'DBClusterSnapshotAlreadyExistsFault')) throw classifyAwsError(err, `snapshotting ${p.cluster} as ${name}`);
          const again = await findSnapshot(rds, name);
          if (!again) throw classifyAwsError(err, `snapshotting ${p.cluster} as ${name}`);
          adopt(again, ctx.runId);
          return { takenAt: again.SnapshotCreateTime?.toISOString() ?? '' };
        }
      });
      if (!p.waitUntilAvailable) return { snapshot: name, incident: p.incident || ctx.runId, takenAt: taken.takenAt };
      await pollUntil(ctx, {
        what: `snapshot ${name} to be available`,
        name: 'snapshot',
        check: async () => {
          const snapshot = await findSnapshot(rds, name);
          const status = snapshot?.Status;
          if (status === undefined) return { done: false, state: 'not visible yet' };
          if (status === 'available') return { done: true };
          const failure = SNAPSHOT_FAILURES[status];
          if (failure) return { done: false, failed: `snapshot ${name} is ${status}: ${failure}` };
          return { done: false, state: status, ...(snapshot?.PercentProgress !== undefined ? { percent: snapshot.PercentProgress } : {}) };
        },
      });
      return { snapshot: name, incident: p.incident || ctx.runId, takenAt: taken.takenAt };
    },
  });
}

function tagsFor(runId: string, incident: string) {
  return buildTags({ [INCIDENT_TAG]: incident || runId, [RUN_TAG]: runId, [PURPOSE_TAG]: 'evidence' });
}
