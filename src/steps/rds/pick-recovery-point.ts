import { randomInt } from 'node:crypto';
import type { DBCluster, DBClusterSnapshot } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { defineStep, PermanentStepError, type PlanContext } from '../types.ts';
import { CLUSTER_ID, mustDescribeCluster } from './aws.ts';
import { listSnapshots } from './restore-snapshot.ts';

const HOUR = 3_600_000;
/** RDS restores to a time inside the window; a minute's margin keeps a pick near the edge restorable by the time it runs. */
const EDGE_MS = 60_000;

type Kind = 'pitr' | 'automated-snapshot' | 'manual-snapshot';

/**
 * `rds.pick-recovery-point`: chooses what a restore test restores: the
 * latest point, or a random one inside the last `withinHours`, of one kind
 * (a point-in-time, an automated snapshot, a manual snapshot). The plan makes
 * the choice and pins it, so the run restores exactly what its plan showed.
 * Reads only; the source is never changed.
 */
export function pickRecoveryPointStep() {
  return defineStep({
    id: 'rds.pick-recovery-point',
    summary: 'Choose the recovery point a restore test restores (read-only)',
    params: z.object({
      cluster: CLUSTER_ID,
      kind: z.enum(['pitr', 'automated-snapshot', 'manual-snapshot']).default('pitr'),
      pick: z.enum(['latest', 'random']).default('latest'),
      withinHours: z.number().positive().max(35 * 24).default(7 * 24),
      /** Pinned by the plan: the chosen time (pitr) or snapshot. */
      chosen: z.string().optional(),
    }),
    outputs: ['to', 'snapshot', 'restorePoint', 'kind'],
    async plan(ctx, p) {
      const point = p.chosen ? parseChosen(p.kind, p.chosen) : await choose(ctx, p);
      ctx.pin('chosen', point.pinned);
      return [{ action: 'check' as const, resource: `rds cluster ${p.cluster}`, detail: `restore test of ${p.cluster}: ${point.text} (${p.pick === 'random' ? `picked at random within the last ${String(p.withinHours)}h` : 'the latest'}; pinned: the run restores this one)` }];
    },
    async run(ctx, p) {
      const point = p.chosen ? parseChosen(p.kind, p.chosen) : await choose(ctx, p);
      ctx.progress(point.text);
      return { to: point.to, snapshot: point.snapshot, restorePoint: point.restorePoint, kind: p.kind };
    },
  });
}

interface Point {
  /** For rds.restore-pitr's `to`: an ISO time ('' for a snapshot). */
  to: string;
  /** For rds.restore-snapshot's `snapshot` ('' for a point in time). */
  snapshot: string;
  /** The data's time: what the measured RPO is counted from. */
  restorePoint: string;
  pinned: string;
  text: string;
}

async function choose(ctx: Pick<PlanContext, 'aws'>, p: { cluster: string; kind: Kind; pick: 'latest' | 'random'; withinHours: number }): Promise<Point> {
  const rds = ctx.aws.rds();
  const now = Date.now();
  if (p.kind === 'pitr') {
    const cluster = await mustDescribeCluster(rds, p.cluster);
    const [from, to] = window(cluster, now - p.withinHours * HOUR);
    const at = p.pick === 'latest' ? to : from + randomInt(Math.max(1, to - from));
    return pitrPoint(new Date(at).toISOString());
  }
  const type = p.kind === 'automated-snapshot' ? 'automated' : 'manual';
  const candidates = (await listSnapshots(rds, p.cluster)).filter((s) => s.SnapshotType === type && s.SnapshotCreateTime && s.SnapshotCreateTime.getTime() >= now - p.withinHours * HOUR);
  if (candidates.length === 0) throw new PermanentStepError(`${p.cluster} has no available ${type} snapshot from the last ${String(p.withinHours)}h to test`);
  const snapshot = p.pick === 'latest' ? candidates[0] : candidates[randomInt(candidates.length)];
  return snapshotPoint(snapshot as DBClusterSnapshot);
}

/** The part of the restorable window inside the last hours, with a margin at each end. */
function window(cluster: DBCluster, since: number): [number, number] {
  const earliest = cluster.EarliestRestorableTime?.getTime();
  const latest = cluster.LatestRestorableTime?.getTime();
  if (earliest === undefined || latest === undefined) throw new PermanentStepError(`${cluster.DBClusterIdentifier ?? ''} has no restorable window (automated backups off?)`);
  const from = Math.max(earliest + EDGE_MS, since);
  const to = latest - EDGE_MS;
  if (to < from) throw new PermanentStepError(`${cluster.DBClusterIdentifier ?? ''}'s restorable window (${new Date(earliest).toISOString()} to ${new Date(latest).toISOString()}) is too short to pick a point in`);
  return [from, to];
}

function pitrPoint(at: string): Point {
  return { to: at, snapshot: '', restorePoint: at, pinned: at, text: `point in time ${at}` };
}

function snapshotPoint(s: DBClusterSnapshot): Point {
  const id = s.DBClusterSnapshotIdentifier ?? '';
  const at = s.SnapshotCreateTime?.toISOString() ?? '';
  return { to: '', snapshot: id, restorePoint: at, pinned: `${id}@${at}`, text: `snapshot ${id} (taken ${at})` };
}

function parseChosen(kind: Kind, chosen: string): Point {
  if (kind === 'pitr') {
    if (Number.isNaN(Date.parse(chosen))) throw new PermanentStepError(`the pinned point in time ${chosen} is not a time`);
    return pitrPoint(chosen);
  }
  const at = chosen.lastIndexOf('@');
  const id = at > 0 ? chosen.slice(0, at) : chosen;
  const taken = at > 0 ? chosen.slice(at + 1) : '';
  return { to: '', snapshot: id, restorePoint: taken, pinned: chosen, text: `snapshot ${id}${taken ? ` (taken ${taken})` : ''}` };
}
