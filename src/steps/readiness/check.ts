import { z } from 'zod';
import { formatDuration } from '../../util/duration.ts';
import { K8S_NAMESPACE } from '../kube/api.ts';
import { mustDescribeCluster } from '../rds/aws.ts';
import { listSnapshots } from '../rds/restore-snapshot.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { completedAt, listBackups, newestCompleted } from '../velero/objects.ts';
import { plural } from '../../util/text.ts';

const HOUR = 3_600_000;

interface Item {
  ok: boolean;
  text: string;
}

/**
 * `readiness.check`: the DR plan's "Before Disaster" items that an API can
 * answer, each reported pass/fail: Velero backups per schedule recent enough,
 * RDS backup retention, a recent snapshot per cluster. Fails (after checking
 * everything) when any item fails, listing each. Reads only.
 */
export function readinessCheckStep() {
  return defineStep({
    id: 'readiness.check',
    summary: 'Check backups and retention against the DR plan (read-only)',
    params: z.object({
      /** Where Velero's backups are; the target's Velero namespace unless given. */
      veleroNamespace: z.string().regex(K8S_NAMESPACE).optional(),
      /** Velero schedule → the largest acceptable age of its newest completed backup, in hours. */
      schedules: z.record(z.string().min(1), z.number().positive()).default({}),
      /** Aurora clusters to check; an empty entry (a parameter left out) checks nothing. */
      clusters: z
        .array(z.union([z.literal(''), z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/)]))
        .default([])
        .transform((ids) => ids.filter(Boolean)),
      minRetentionDays: z.number().int().min(1).max(35).default(35),
      maxSnapshotAgeHours: z.number().positive().default(26),
    }),
    outputs: ['passed', 'failed', 'report'],
    plan: (_ctx, p) =>
      Promise.resolve([
        ...Object.entries(p.schedules).map(([s, h]) => ({ action: 'check' as const, resource: `velero schedule ${s}`, detail: `newest completed backup of ${s} is at most ${h}h old` })),
        ...p.clusters.map((c) => ({
          action: 'check' as const,
          resource: `rds cluster ${c}`,
          detail: `${c} keeps backups ≥ ${p.minRetentionDays} days and has a snapshot at most ${p.maxSnapshotAgeHours}h old`,
        })),
      ]),
    async run(ctx, p) {
      const now = Date.now();
      const items: Item[] = [];
      const add = (item: Item) => {
        items.push(item);
        ctx.progress(`${item.ok ? 'pass' : 'FAIL'}: ${item.text}`, Math.round((items.length / (Object.keys(p.schedules).length + 2 * p.clusters.length)) * 100));
      };
      for (const [schedule, maxHours] of Object.entries(p.schedules)) {
        const newest = newestCompleted(await listBackups(await ctx.kube(), p.veleroNamespace ?? ctx.target.veleroNamespace, schedule));
        if (!newest) add({ ok: false, text: `${schedule}: no completed backup` });
        else {
          const age = now - completedAt(newest);
          add({ ok: age <= maxHours * HOUR, text: `${schedule}: newest completed backup ${newest.metadata.name} is ${formatDuration(age)} old (limit ${maxHours}h)` });
        }
      }
      for (const cluster of p.clusters) {
        const retention = (await mustDescribeCluster(ctx.aws.rds(), cluster)).BackupRetentionPeriod ?? 0;
        add({ ok: retention >= p.minRetentionDays, text: `${cluster}: automated backups kept ${plural(retention, 'day')} (need ${p.minRetentionDays})` });
        const newest = (await listSnapshots(ctx.aws.rds(), cluster))[0];
        const age = newest?.SnapshotCreateTime ? now - newest.SnapshotCreateTime.getTime() : undefined;
        add({
          ok: age !== undefined && age <= p.maxSnapshotAgeHours * HOUR,
          text: age === undefined ? `${cluster}: no available snapshot` : `${cluster}: newest snapshot ${newest?.DBClusterSnapshotIdentifier ?? ''} is ${formatDuration(age)} old (limit ${p.maxSnapshotAgeHours}h)`,
        });
      }
      const report = items.map((i) => `${i.ok ? '✔' : '✖'} ${i.text}`).join('\n');
      const failed = items.filter((i) => !i.ok).length;
      if (failed > 0) throw new PermanentStepError(`${failed} of ${items.length} readiness checks failed:\n${report}`);
      return { passed: items.length, failed, report };
    },
  });
}
