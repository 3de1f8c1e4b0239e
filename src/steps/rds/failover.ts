import {
  type DBCluster,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  type GlobalCluster,
  PromoteReadReplicaDBClusterCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { z } from 'zod';
import { pollUntil, type PollLook } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanContext, type StepContext } from '../types.ts';
import { classifyAwsError, isAwsError, mustDescribeCluster, CLUSTER_ID } from './aws.ts';
import { lookAtState } from './states.ts';
import { AWS_REGION } from '../../targets/config.ts';

const region = z.string().regex(AWS_REGION, 'must be an AWS region like us-west-2');

type Method = 'promote-replica' | 'global-failover';

/**
 * Engines with cross-Region read replica promotion (PromoteReadReplicaDBCluster):
 * Aurora MySQL binlog replicas only (`aurora` is Aurora MySQL 5.6's engine name).
 * Aurora PostgreSQL's cross-Region DR is Global Database (API-FACTS 7.1).
 */
function hasReplicaPromotion(engine: string | undefined): boolean {
  return engine === 'aurora' || engine === 'aurora-mysql';
}

/** The global cluster `cluster` is a member of (the named one, else any in the region), or undefined. */
async function globalClusterOf(rds: RDSClient, cluster: DBCluster, named: string | undefined): Promise<GlobalCluster | undefined> {
  const isMember = (g: GlobalCluster) => (g.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === cluster.DBClusterArn);
  try {
    if (named) {
      const res = await rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: named }));
      const global = res.GlobalClusters?.[0];
      return global && isMember(global) ? global : undefined;
    }
    let marker: string | undefined;
    do {
      const res = await rds.send(new DescribeGlobalClustersCommand(marker ? { Marker: marker } : {}));
      const found = (res.GlobalClusters ?? []).find(isMember);
      if (found) return found;
      marker = res.Marker;
    } while (marker);
    return undefined;
  } catch (err) {
    if (isAwsError(err, 'GlobalClusterNotFoundFault')) return undefined;
    throw classifyAwsError(err, `describing global cluster ${named ?? '(all)'}`);
  }
}

interface Resolved {
  method: Method;
  cluster: DBCluster;
  global?: GlobalCluster;
}

/**
 * Chooses how the DR cluster becomes the writer, from what it is: a member of a
 * global cluster fails the global database over; an Aurora MySQL cross-Region
 * replica is promoted. An explicit method that does not fit the cluster is refused.
 */
async function resolve(rds: RDSClient, p: { method: 'auto' | Method; cluster: string; region: string; globalCluster?: string | undefined }): Promise<Resolved> {
  const cluster = await mustDescribeCluster(rds, p.cluster);
  const engine = cluster.Engine ?? 'unknown';
  const where = `${p.cluster} (${p.region}, ${engine})`;
  if (p.method === 'promote-replica') {
    if (!hasReplicaPromotion(cluster.Engine)) {
      throw new PermanentStepError(
        `method promote-replica is refused for ${where}: cross-Region read replica promotion exists for Aurora MySQL only; ` +
          `${engine}'s cross-Region DR is a Global Database: use method global-failover (or auto)`,
      );
    }
    return { method: 'promote-replica', cluster };
  }
  const global = await globalClusterOf(rds, cluster, p.globalCluster);
  if (global) return { method: 'global-failover', cluster, global };
  if (p.method === 'global-failover') {
    throw new PermanentStepError(`method global-failover is refused: ${where} is not a member of ${p.globalCluster ? `global cluster ${p.globalCluster}` : 'any global cluster'}`);
  }
  if (hasReplicaPromotion(cluster.Engine)) return { method: 'promote-replica', cluster };
  throw new PermanentStepError(
    `cannot choose a failover method for ${where}: it is not a member of ${p.globalCluster ? `global cluster ${p.globalCluster}` : 'any global cluster'}, ` +
      `and cross-Region read replica promotion exists for Aurora MySQL only`,
  );
}

/** Where a global failover to `cluster` stands, from one DescribeGlobalClusters answer. */
type GlobalView =
  | { kind: 'writer' } // the failover is done (or was never needed)
  | { kind: 'in-progress'; state: string } // failing over to this cluster
  | { kind: 'cancelled'; detail: string } // a failover that is being cancelled
  | { kind: 'elsewhere'; detail: string } // a failover or switchover to another cluster
  | { kind: 'idle'; status: string; writerArn?: string }; // not failing over, this cluster not the writer

function globalView(global: GlobalCluster, cluster: DBCluster): GlobalView {
  const me = (global.GlobalClusterMembers ?? []).find((m) => m.DBClusterArn === cluster.DBClusterArn);
  const status = global.Status ?? 'unknown';
  const fs = global.FailoverState;
  const id = global.GlobalClusterIdentifier ?? '';
  if (fs?.Status === 'cancelling') {
    return { kind: 'cancelled', detail: `the failover of global cluster ${id} to ${fs.ToDbClusterArn ?? '?'} is being cancelled (FailoverState cancelling): the old primary stays the writer` };
  }
  if (fs?.Status && fs.ToDbClusterArn && fs.ToDbClusterArn !== cluster.DBClusterArn) {
    return { kind: 'elsewhere', detail: `global cluster ${id} is already ${fs.Status} to another cluster, ${fs.ToDbClusterArn}` };
  }
  if (fs?.Status || status === 'failing-over' || status === 'switching-over') {
    return { kind: 'in-progress', state: `global cluster ${id} ${fs?.Status ?? status}` };
  }
  if (me?.IsWriter === true) return { kind: 'writer' };
  const writer = (global.GlobalClusterMembers ?? []).find((m) => m.IsWriter === true)?.DBClusterArn;
  return { kind: 'idle', status, ...(writer ? { writerArn: writer } : {}) };
}

async function describeGlobal(rds: RDSClient, id: string): Promise<GlobalCluster> {
  try {
    const res = await rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: id }));
    const global = res.GlobalClusters?.[0];
    if (!global) throw new PermanentStepError(`global cluster ${id} is gone`);
    return global;
  } catch (err) {
    if (err instanceof PermanentStepError) throw err;
    throw classifyAwsError(err, `describing global cluster ${id}`);
  }
}

/** A replica is promoted once it has no replication source and is not `promoting`. */
function promoteView(cluster: DBCluster): 'writer' | 'in-progress' | 'replica' {
  if (cluster.Status === 'promoting') return 'in-progress';
  return cluster.ReplicationSourceIdentifier ? 'replica' : 'writer';
}

/** The parameters with the region settled: given, or the target's (every call then goes to that region only). */
function inRegion<P extends { region?: string | undefined }>(ctx: Pick<PlanContext, 'target'>, p: P): P & { region: string } {
  const chosen = p.region ?? ctx.target.region;
  if (!chosen) throw new PermanentStepError(`no region: give the step a region, or run it on a target with one (target ${ctx.target.name} has none)`);
  return { ...p, region: chosen };
}

/** What the step decided and did: how the cluster becomes the writer, and whether a failover to it was started or seen under way. */
interface FailoverDecision {
  method: Method;
  globalId: string;
  /** True: a global cluster back to idle without this cluster as the writer means the failover was cancelled (or undone). */
  seenFailover: boolean;
}

/**
 * Reads where the cluster stands, chooses the method and starts the
 * promotion or failover unless it is already done or under way: the step's
 * one checkpoint, so a step entered again never decides afresh.
 */
async function decideAndAct(
  ctx: Pick<StepContext, 'progress'>,
  client: RDSClient,
  p: { method: 'auto' | Method; cluster: string; region: string; globalCluster?: string | undefined },
): Promise<FailoverDecision> {
  const { method, cluster, global } = await resolve(client, p);
  const globalId = global?.GlobalClusterIdentifier ?? '';
  let seenFailover = false;

  if (method === 'promote-replica') {
    const view = promoteView(cluster);
    if (view === 'in-progress') ctx.progress(`${p.cluster} is already promoting: waiting for it`);
    if (view === 'replica') {
      ctx.progress(`promoting ${p.cluster}`);
      try {
        await client.send(new PromoteReadReplicaDBClusterCommand({ DBClusterIdentifier: p.cluster }));
      } catch (err) {
        // Refused because a promotion is already under way (an earlier call whose answer was lost): adopt it.
        const again = await mustDescribeCluster(client, p.cluster);
        if (!(isAwsError(err, 'InvalidDBClusterStateFault') && promoteView(again) !== 'replica')) throw classifyAwsError(err, `promoting ${p.cluster}`);
      }
    }
  } else {
    const view = globalView(global ?? {}, cluster);
    if (view.kind === 'cancelled' || view.kind === 'elsewhere') throw new PermanentStepError(`cannot fail over to ${p.cluster}: ${view.detail}`);
    if (view.kind === 'in-progress') {
      seenFailover = true;
      ctx.progress(`${view.state} to ${p.cluster} already (an earlier attempt's): waiting for it`);
    }
    if (view.kind === 'idle') {
      ctx.progress(`failing ${globalId} over to ${p.cluster}`);
      try {
        await client.send(new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: globalId, TargetDbClusterIdentifier: cluster.DBClusterArn, AllowDataLoss: true }));
        seenFailover = true;
      } catch (err) {
        // RDS refuses a repeat while failing over: if the failover under way is ours (a lost answer), it is progress.
        if (!isAwsError(err, 'InvalidGlobalClusterStateFault')) throw classifyAwsError(err, `failing ${globalId} over to ${p.cluster}`);
        const again = globalView(await describeGlobal(client, globalId), cluster);
        if (again.kind === 'cancelled' || again.kind === 'elsewhere') throw new PermanentStepError(`cannot fail over to ${p.cluster}: ${again.detail}`);
        if (again.kind === 'idle') throw classifyAwsError(err, `failing ${globalId} over to ${p.cluster}`);
        seenFailover = true;
      }
    }
  }
  return { method, globalId, seenFailover };
}

/**
 * `rds.failover`: makes the DR region's Aurora cluster the writer, for a
 * region outage. `method: auto` (the default) chooses from the cluster: a member
 * of a global cluster (Aurora PostgreSQL's cross-Region DR) fails the Global
 * Database over to it (`global-failover`, allowing data loss as an unplanned
 * failover must); an Aurora MySQL cross-Region read replica is promoted
 * (`promote-replica`: it leaves replication for good). An explicit method that
 * does not fit the cluster's engine or membership is refused in the plan.
 * Waits until it is the writer and available.
 * Reads: DescribeDBClusters, DescribeGlobalClusters. Changes: PromoteReadReplicaDBCluster | FailoverGlobalCluster.
 * Idempotency: choosing the method and starting the change is a checkpoint
 * (`fail-over`): the step entered again (after a park) waits on and never acts
 * twice. Behind it, the state is read before any change: a cluster that is already
 * the writer, or a failover/promotion already under way to it (a lost answer,
 * a re-entered step), is adopted and not started again; a repeated call that
 * RDS refuses while failing over (InvalidGlobalClusterStateFault) counts as progress.
 * A failover that is cancelled, or ends with another writer, fails the step.
 */
export function failoverStep() {
  return defineStep({
    id: 'rds.failover',
    // Its decision and change are one checkpoint; its wait only reads.
    resumable: true,
    summary: 'Make the DR region database the writer (replica promotion or global failover, chosen from the engine)',
    params: z.object({
      method: z.enum(['auto', 'promote-replica', 'global-failover']).default('auto'),
      cluster: CLUSTER_ID,
      /** The DR region; the step's target's region when left out (failover-region runs on the DR target). */
      region: region.optional(),
      globalCluster: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/).optional(),
    }),
    outputs: ['writerEndpoint', 'clusterArn'],
    async plan(ctx, given) {
      const p = inRegion(ctx, given);
      const client = ctx.aws.rds(p.region);
      const { method, cluster, global } = await resolve(client, p);
      const chosen = p.method === 'auto' ? ` (auto: ${method} for ${cluster.Engine ?? 'unknown'})` : '';
      if (method === 'promote-replica') {
        const view = promoteView(cluster);
        if (view === 'writer') return [{ action: 'check', resource: `rds cluster ${p.cluster}`, detail: `${p.cluster} (${p.region}) is already the writer: nothing to promote` }];
        if (view === 'in-progress') return [{ action: 'check', resource: `rds cluster ${p.cluster}`, detail: `${p.cluster} (${p.region}) is already promoting: the step waits for it` }];
        return [
          { action: 'change', resource: `rds cluster ${p.cluster}`, detail: `promote read replica ${p.cluster} in ${p.region} to a standalone writer; replication from the primary stops for good${chosen}`, irreversible: true },
        ];
      }
      const id = global?.GlobalClusterIdentifier ?? p.globalCluster ?? '';
      const view = globalView(global ?? {}, cluster);
      switch (view.kind) {
        case 'writer':
          return [{ action: 'check', resource: `rds cluster ${p.cluster}`, detail: `${p.cluster} (${p.region}) is already the writer: nothing to promote` }];
        case 'in-progress':
          return [{ action: 'check', resource: `global cluster ${id}`, detail: `${view.state} to ${p.cluster} already: the step waits for it` }];
        case 'cancelled':
        case 'elsewhere':
          throw new PermanentStepError(`cannot fail over to ${p.cluster}: ${view.detail}`);
        default:
          return [
            { action: 'change', resource: `global cluster ${id}`, detail: `fail global cluster ${id} over to ${p.cluster} in ${p.region}, allowing the loss of writes not yet replicated${chosen}`, irreversible: true },
          ];
      }
    },
    async run(ctx, given) {
      const p = inRegion(ctx, given);
      const client = ctx.aws.rds(p.region);
      // Deciding and acting are one checkpoint: entered again (after a park, a
      // crash), the step does not read the writer afresh and decide otherwise;
      // a failover re-entered after the writer moved (a cancel, a switchover
      // back) must not fail over again, but fail below, saying so.
      const { method, globalId, ...decided } = await ctx.once('fail-over', () => decideAndAct(ctx, client, p));
      /** Whether the failover was seen under way (so a global cluster back to idle without us as writer means it was cancelled). */
      let seenFailover = decided.seenFailover;

      const waitingFor = 'to be a writable, available cluster';
      await pollUntil(ctx, {
        what: `${p.cluster} ${waitingFor}`,
        name: 'writer',
        check: async (): Promise<PollLook> => {
          const now = await mustDescribeCluster(client, p.cluster);
          const status = now.Status ?? 'unknown';
          const look = lookAtState('DB cluster', p.cluster, status, waitingFor);
          if ('failed' in look) return look;
          let writer: boolean;
          let state = status;
          if (method === 'promote-replica') {
            writer = promoteView(now) === 'writer';
          } else {
            const g = await describeGlobal(client, globalId);
            const globalLook = lookAtState('global cluster', globalId, g.Status, `to fail over to ${p.cluster}`);
            if ('failed' in globalLook) return globalLook;
            const view = globalView(g, now);
            if (view.kind === 'cancelled' || view.kind === 'elsewhere') return { done: false, failed: `the failover to ${p.cluster} did not happen: ${view.detail}; check the global cluster's events, then run the failover again` };
            if (view.kind === 'idle' && seenFailover) {
              return {
                done: false,
                failed: `the failover of global cluster ${globalId} to ${p.cluster} ended without it as the writer (cancelled; the writer is ${view.writerArn ?? 'unknown'}); check the global cluster's events, then run the failover again`,
              };
            }
            if (view.kind === 'in-progress') {
              seenFailover = true;
              state = `${status}, ${view.state}`;
            }
            writer = view.kind === 'writer';
          }
          if (writer && look.done) return { done: true };
          return { done: false, state: `${state}${writer ? '' : ', not yet the writer'}` };
        },
      });
      const ready = await mustDescribeCluster(client, p.cluster);
      return { writerEndpoint: ready.Endpoint ?? '', clusterArn: ready.DBClusterArn ?? '' };
    },
  });
}
