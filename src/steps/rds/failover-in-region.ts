import { type DBCluster, type DBInstance, DescribeDBInstancesCommand, FailoverDBClusterCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { AWS_REGION } from '../../targets/config.ts';
import { ZONE_NAME } from '../kube/zone.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { CLUSTER_ID, classifyAwsError, isAwsError, mustDescribeCluster, sameRdsId } from './aws.ts';
import { lookAtState } from './states.ts';

/** The cluster, its writer and its other instances, each with its AZ and status. */
interface Members {
  cluster: DBCluster;
  writer: DBInstance | undefined;
  readers: DBInstance[];
}

async function members(rds: RDSClient, clusterId: string): Promise<Members> {
  const cluster = await mustDescribeCluster(rds, clusterId);
  let instances: DBInstance[] = [];
  try {
    let marker: string | undefined;
    do {
      const res = await rds.send(new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-cluster-id', Values: [clusterId] }], ...(marker ? { Marker: marker } : {}) }));
      instances = [...instances, ...(res.DBInstances ?? [])];
      marker = res.Marker;
    } while (marker);
  } catch (err) {
    throw classifyAwsError(err, `describing the instances of ${clusterId}`);
  }
  const writerId = (cluster.DBClusterMembers ?? []).find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
  const writer = instances.find((i) => sameRdsId(i.DBInstanceIdentifier, writerId));
  return { cluster, writer, readers: instances.filter((i) => i !== writer) };
}

const describe = (i: DBInstance) => `${i.DBInstanceIdentifier ?? '?'} (${i.AvailabilityZone ?? 'AZ unknown'}, ${i.DBInstanceStatus ?? 'status unknown'})`;

/**
 * The reader to promote: available, in another AZ than `zone`, the best
 * promotion tier first (the order Aurora itself fails over in), then by name;
 * a named target must be one of those.
 */
function chooseTarget(m: Members, zone: string, named: string | undefined): { target?: DBInstance; problem?: string } {
  const healthy = m.readers
    .filter((i) => i.DBInstanceStatus === 'available' && i.AvailabilityZone && i.AvailabilityZone !== zone)
    .sort((a, b) => (a.PromotionTier ?? 1) - (b.PromotionTier ?? 1) || (a.DBInstanceIdentifier ?? '').localeCompare(b.DBInstanceIdentifier ?? ''));
  const id = m.cluster.DBClusterIdentifier ?? '';
  const readers = m.readers.length ? `readers: ${m.readers.map(describe).join(', ')}` : 'it has no reader';
  if (named) {
    const target = healthy.find((i) => sameRdsId(i.DBInstanceIdentifier, named));
    return target ? { target } : { problem: `${named} is not an available reader of ${id} outside ${zone} (${readers})` };
  }
  const target = healthy[0];
  return target ? { target } : { problem: `${id} has no available reader outside ${zone} to fail over to (${readers}); add a reader in another AZ, or wait for one to be available` };
}

/** What the step decided: a failover to `target`, or none because the writer is outside the zone (`writer`). */
type Decision = { failover: true; target: string; from: string } | { failover: false; writer: string; writerZone: string; note: string };

/**
 * `rds.failover-in-region`: for a single AZ failure, moves an Aurora
 * cluster's writer out of that AZ with FailoverDBCluster, to a reader in a
 * healthy AZ (the first available one by promotion tier, or `target`), then
 * waits until that reader is the writer (IsClusterWriter) and the cluster is
 * available. A writer outside the AZ needs nothing, and the step says so.
 * Reads: DescribeDBClusters, DescribeDBInstances (AvailabilityZone). Changes: FailoverDBCluster.
 * Idempotency: deciding and calling are one checkpoint (`failover`); before
 * it, the state is read: a failover already done (the writer elsewhere) or
 * under way (`failing-over`) is adopted, not asked again.
 */
export function failoverInRegionStep() {
  return defineStep({
    id: 'rds.failover-in-region',
    resumable: true,
    summary: 'Move an Aurora cluster’s writer out of an availability zone (FailoverDBCluster to a reader in a healthy AZ)',
    params: z.object({
      cluster: CLUSTER_ID,
      /** The failing AZ, by name (`us-east-1a`), as DescribeDBInstances and the Kubernetes zone label name it. */
      zone: ZONE_NAME,
      /** A reader to promote; the first available reader outside the zone by promotion tier when left out. */
      target: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be a DB instance identifier').optional(),
      /** The cluster's region; the step's target's when left out. */
      region: z.string().regex(AWS_REGION, 'must be an AWS region like us-east-1').optional(),
    }),
    outputs: ['failedOver', 'writer', 'writerZone', 'measuredRpoSeconds'],
    async plan(ctx, p) {
      const m = await members(ctx.aws.rds(p.region), p.cluster);
      const resource = `rds cluster ${p.cluster}`;
      if (m.cluster.Status === 'failing-over') return [{ action: 'check', resource, detail: `${p.cluster} is failing over already: the step waits until its writer is outside ${p.zone}` }];
      if (!m.writer) throw new PermanentStepError(`${p.cluster} has no writer instance to move (members: ${m.readers.map(describe).join(', ') || 'none'})`);
      if (m.writer.AvailabilityZone !== p.zone) return [{ action: 'check', resource, detail: `the writer ${describe(m.writer)} is not in ${p.zone}: nothing to fail over` }];
      const { target, problem } = chooseTarget(m, p.zone, p.target);
      if (!target) throw new PermanentStepError(`cannot move the writer of ${p.cluster} out of ${p.zone}: ${problem ?? ''}`);
      const chosen = p.target ? '' : ` (chosen again when it runs: the first available reader outside ${p.zone} by promotion tier)`;
      return [
        {
          action: 'change',
          resource,
          detail: `fail ${p.cluster} over from ${describe(m.writer)} to ${describe(target)}${chosen}, then wait until it is the writer; connections drop for about 30 s, the cluster endpoint follows`,
        },
      ];
    },
    async run(ctx, p) {
      const rds = ctx.aws.rds(p.region);
      const decision = await ctx.once('failover', async (): Promise<Decision> => {
        const m = await members(rds, p.cluster);
        if (m.cluster.Status !== 'failing-over' && m.writer && m.writer.AvailabilityZone !== p.zone) {
          const writer = m.writer.DBInstanceIdentifier ?? '';
          return { failover: false, writer, writerZone: m.writer.AvailabilityZone ?? '', note: `the writer ${describe(m.writer)} is not in ${p.zone}: nothing to fail over` };
        }
        if (m.cluster.Status === 'failing-over') {
          ctx.progress(`${p.cluster} is failing over already (an earlier attempt's): waiting for it`);
          return { failover: true, target: p.target ?? '', from: m.writer?.DBInstanceIdentifier ?? '' };
        }
        const { target, problem } = chooseTarget(m, p.zone, p.target);
        if (!target) throw new PermanentStepError(`cannot move the writer of ${p.cluster} out of ${p.zone}: ${problem ?? ''}`);
        const targetId = target.DBInstanceIdentifier ?? '';
        ctx.progress(`failing ${p.cluster} over to ${describe(target)}`);
        try {
          await rds.send(new FailoverDBClusterCommand({ DBClusterIdentifier: p.cluster, TargetDBInstanceIdentifier: targetId }));
        } catch (err) {
          // Refused because it is failing over already (a lost answer of ours, the SDK's retry): that is progress.
          const again = await mustDescribeCluster(rds, p.cluster);
          if (!(isAwsError(err, 'InvalidDBClusterStateFault') && again.Status === 'failing-over')) throw classifyAwsError(err, `failing ${p.cluster} over to ${targetId}`);
        }
        return { failover: true, target: targetId, from: m.writer?.DBInstanceIdentifier ?? '' };
      });
      if (!decision.failover) {
        ctx.progress(decision.note);
        return { failedOver: false, writer: decision.writer, writerZone: decision.writerZone, measuredRpoSeconds: 0 };
      }

      let writer: DBInstance | undefined;
      const waitingFor = 'to be available with its writer outside the zone';
      await pollUntil(ctx, {
        what: `${p.cluster} ${waitingFor}`,
        name: 'writer',
        check: async ({ marks }) => {
          const m = await members(rds, p.cluster);
          const status = m.cluster.Status ?? 'unknown';
          const look = lookAtState('DB cluster', p.cluster, status, waitingFor);
          if ('failed' in look) return look;
          const seen = marks.failingOver ?? (status === 'failing-over' ? Date.now() : undefined);
          writer = m.writer;
          const moved = writer !== undefined && writer.AvailabilityZone !== p.zone && (!decision.target || sameRdsId(writer.DBInstanceIdentifier, decision.target));
          if (look.done && moved) return { done: true };
          // Available again with the old writer after it was seen failing over: the failover did not take.
          if (look.done && seen !== undefined && writer && sameRdsId(writer.DBInstanceIdentifier, decision.from)) {
            return { done: false, failed: `the failover of ${p.cluster} to ${decision.target} ended with ${describe(writer)} still the writer; check the cluster's events, then run the step again` };
          }
          return { done: false, state: `${status}, writer ${writer ? describe(writer) : 'unknown'}`, ...(seen !== undefined ? { marks: { failingOver: seen } } : {}) };
        },
      });
      // The cluster volume is shared by every instance across three AZs: a failover inside the region loses no committed write.
      return { failedOver: true, writer: writer?.DBInstanceIdentifier ?? '', writerZone: writer?.AvailabilityZone ?? '', measuredRpoSeconds: 0 };
    },
  });
}
