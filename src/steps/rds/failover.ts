import { type DBCluster, FailoverGlobalClusterCommand, type GlobalCluster, PromoteReadReplicaDBClusterCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { pollUntil, type PollLook } from '../poll.ts';
import { defineStep, PermanentStepError, type PlanContext, type StepContext } from '../types.ts';
import { classifyAwsError, isAwsError, mustDescribeCluster, CLUSTER_ID } from './aws.ts';
import { describeGlobal, globalClusterOf, globalView } from './global.ts';
import { lookAtState } from './states.ts';
import { askDataLoss } from './data-loss.ts';
import { primaryOf, probePrimary, startSwitchover, switchPlan } from './switch-region.ts';
import { AWS_REGION } from '../../targets/config.ts';

const region = z.string().regex(AWS_REGION, 'must be an AWS region like us-west-2');

type Method = 'promote-replica' | 'global-failover' | 'switchover' | 'auto-switch';
/** What `method: auto` does for a member of a global database: fail over (as before), or choose at run time. */
type AutoGlobal = 'global-failover' | 'auto-switch';

interface Params {
  method: 'auto' | Method;
  autoGlobal: AutoGlobal;
  cluster: string;
  region: string;
  globalCluster?: string | undefined;
  probeSeconds: number;
  lastLagSeconds?: number | undefined;
  dataLossApprovals: number;
  dataLossQuestionMinutes: number;
}

/**
 * Engines with cross-Region read replica promotion (PromoteReadReplicaDBCluster):
 * Aurora MySQL binlog replicas only (`aurora` is Aurora MySQL 5.6's engine name).
 * Aurora PostgreSQL's cross-Region DR is Global Database (API-FACTS 7.1).
 */
function hasReplicaPromotion(engine: string | undefined): boolean {
  return engine === 'aurora' || engine === 'aurora-mysql';
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
async function resolve(rds: RDSClient, p: Pick<Params, 'method' | 'autoGlobal' | 'cluster' | 'region' | 'globalCluster'>): Promise<Resolved> {
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
  if (global) return { method: p.method === 'auto' ? p.autoGlobal : p.method, cluster, global };
  if (p.method !== 'auto') {
    throw new PermanentStepError(`method ${p.method} is refused: ${where} is not a member of ${p.globalCluster ? `global cluster ${p.globalCluster}` : 'any global cluster'}`);
  }
  if (hasReplicaPromotion(cluster.Engine)) return { method: 'promote-replica', cluster };
  throw new PermanentStepError(
    `cannot choose a failover method for ${where}: it is not a member of ${p.globalCluster ? `global cluster ${p.globalCluster}` : 'any global cluster'}, ` +
      `and cross-Region read replica promotion exists for Aurora MySQL only`,
  );
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

/** What the step decided and did: how the cluster becomes the writer, and whether a failover or switchover to it was started or seen under way. */
interface FailoverDecision {
  /** What was done: `none` when the cluster was already the writer. */
  acted: 'promote-replica' | 'global-failover' | 'switchover' | 'none';
  globalId: string;
  /** True: a global cluster back to idle without this cluster as the writer means it was cancelled (or undone). */
  seenFailover: boolean;
  /** Why auto-switch chose as it did (what the primary region said). */
  reason?: string;
  /** auto-switch chose a failover: it is made only once the approvers accept the data loss (askDataLoss). */
  awaitsAcceptance?: true;
  /** Where the primary is, for the question. */
  primaryRegion?: string;
}

/**
 * Reads where the cluster stands, chooses the method and starts the
 * promotion, failover or switchover unless it is already done or under way:
 * the step's one checkpoint, so a step entered again never decides afresh.
 */
async function decideAndAct(ctx: Pick<StepContext, 'progress' | 'aws'>, client: RDSClient, p: Params): Promise<FailoverDecision> {
  const { method, cluster, global } = await resolve(client, p);
  const globalId = global?.GlobalClusterIdentifier ?? '';

  if (method === 'promote-replica') {
    const view = promoteView(cluster);
    if (view === 'writer') return { acted: 'none', globalId, seenFailover: false };
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
    return { acted: 'promote-replica', globalId, seenFailover: false };
  }

  const view = globalView(global ?? {}, cluster);
  if (view.kind === 'cancelled' || view.kind === 'elsewhere') throw new PermanentStepError(`cannot fail over to ${p.cluster}: ${view.detail}`);
  if (view.kind === 'writer') return { acted: 'none', globalId, seenFailover: false };
  if (view.kind === 'in-progress') {
    // A failover or switchover to this cluster already (an earlier attempt's lost answer): adopted, whatever this attempt would choose.
    ctx.progress(`${view.state} to ${p.cluster} already (an earlier attempt's): waiting for it`);
    return { acted: view.dataLossAllowed ? 'global-failover' : 'switchover', globalId, seenFailover: true };
  }
  if (method === 'switchover' || method === 'auto-switch') {
    // The primary region is asked first, once and briefly: a switchover needs it, and a region that does not answer is sent nothing more.
    const primary = primaryOf(global ?? {}, (r) => ctx.aws.rds(r));
    const probe = await probePrimary(primary, globalId, p.probeSeconds);
    ctx.progress(probe.reason);
    if (probe.answered && probe.healthy) {
      await startSwitchover(ctx, primary, client, globalId, cluster);
      return { acted: 'switchover', globalId, seenFailover: true, reason: probe.reason };
    }
    if (method === 'switchover') {
      throw new PermanentStepError(`cannot switch ${globalId} over to ${p.cluster}: ${probe.reason}; a switchover needs the primary region and every cluster healthy: use method global-failover (data loss allowed) or auto-switch`);
    }
    // Nothing approved a data loss yet: the approvers are asked first (askDataLoss), then the failover is made.
    return { acted: 'global-failover', globalId, seenFailover: false, reason: probe.reason, awaitsAcceptance: true, primaryRegion: primary.region };
  }
  await failGlobalOver(ctx, client, globalId, cluster, p.cluster);
  return { acted: 'global-failover', globalId, seenFailover: true };
}

/**
 * The failover auto-switch chose, once the approvers accepted its data loss:
 * the DR region is read again first (only it: the primary did not answer),
 * so a failover or switchover to this cluster made meanwhile (by hand, by
 * AWS) is adopted rather than started again.
 */
async function failOverAccepted(ctx: Pick<StepContext, 'progress'>, client: RDSClient, p: Params, globalId: string): Promise<FailoverDecision> {
  const cluster = await mustDescribeCluster(client, p.cluster);
  const view = globalView(await describeGlobal(client, globalId), cluster);
  if (view.kind === 'cancelled' || view.kind === 'elsewhere') throw new PermanentStepError(`cannot fail over to ${p.cluster}: ${view.detail}`);
  if (view.kind === 'writer') return { acted: 'none', globalId, seenFailover: false };
  if (view.kind === 'in-progress') return { acted: view.dataLossAllowed ? 'global-failover' : 'switchover', globalId, seenFailover: true };
  await failGlobalOver(ctx, client, globalId, cluster, p.cluster);
  return { acted: 'global-failover', globalId, seenFailover: true };
}

/** FailoverGlobalCluster with data loss allowed, asked in the DR (target's) region. */
async function failGlobalOver(ctx: Pick<StepContext, 'progress'>, client: RDSClient, globalId: string, cluster: DBCluster, name: string): Promise<void> {
  ctx.progress(`failing ${globalId} over to ${name}`);
  try {
    await client.send(new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: globalId, TargetDbClusterIdentifier: cluster.DBClusterArn, AllowDataLoss: true }));
  } catch (err) {
    // RDS refuses a repeat while failing over: if the failover under way is ours (a lost answer), it is progress.
    if (!isAwsError(err, 'InvalidGlobalClusterStateFault')) throw classifyAwsError(err, `failing ${globalId} over to ${name}`);
    const again = globalView(await describeGlobal(client, globalId), cluster);
    if (again.kind === 'cancelled' || again.kind === 'elsewhere') throw new PermanentStepError(`cannot fail over to ${name}: ${again.detail}`);
    if (again.kind === 'idle') throw classifyAwsError(err, `failing ${globalId} over to ${name}`);
  }
}

/** The outputs that say what happened: `method` switchover | failover | promote-replica | none, and whether data loss was allowed. */
function decisionOutputs(d: FailoverDecision, told: { lagSeconds?: number; acceptedBy?: string }): Record<string, string | number | boolean> {
  const method = d.acted === 'global-failover' ? 'failover' : d.acted;
  const dataLossAllowed = method === 'failover' || method === 'promote-replica';
  return {
    method,
    dataLossAllowed,
    ...(method === 'failover' && told.lagSeconds !== undefined ? { lastLagSeconds: told.lagSeconds } : {}),
    ...(method === 'failover' && told.acceptedBy ? { dataLossAcceptedBy: told.acceptedBy } : {}),
    // A switchover waits until the secondary has every write before it moves the writer (API-FACTS 8.1): nothing is lost.
    ...(method === 'switchover' ? { measuredRpoSeconds: 0 } : {}),
    ...(d.reason ? { reason: d.reason } : {}),
  };
}

/**
 * `rds.failover`: makes the DR region's Aurora cluster the writer, for a
 * region outage. `method: auto` (the default) chooses from the cluster: a member
 * of a global cluster (Aurora PostgreSQL's cross-Region DR) fails the Global
 * Database over to it (`global-failover`, allowing data loss as an unplanned
 * failover must; `autoGlobal: auto-switch` chooses at run time instead); an
 * Aurora MySQL cross-Region read replica is promoted (`promote-replica`: it
 * leaves replication for good). `switchover` switches a healthy global database
 * over, asked in the primary's region, losing nothing. `auto-switch` asks the
 * primary region (once, `probeSeconds`): answering and healthy, a switchover;
 * otherwise a failover, and nothing more is sent to the primary region.
 * An explicit method that does not fit the cluster's engine or membership is
 * refused in the plan. Waits until it is the writer and available.
 * Reads: DescribeDBClusters, DescribeGlobalClusters. Changes: PromoteReadReplicaDBCluster | FailoverGlobalCluster | SwitchoverGlobalCluster.
 * Idempotency: choosing the method and starting the change is a checkpoint
 * (`fail-over`): the step entered again (after a park) waits on and never acts
 * twice. Behind it, the state is read before any change: a cluster that is already
 * the writer, or a failover/switchover/promotion already under way to it (a lost
 * answer, a re-entered step), is adopted and not started again; a repeated call
 * that RDS refuses while one runs (InvalidGlobalClusterStateFault) counts as progress.
 * A failover that is cancelled, or ends with another writer, fails the step.
 */
export function failoverStep() {
  return defineStep({
    id: 'rds.failover',
    // Its decision and change are one checkpoint; its wait only reads.
    resumable: true,
    summary: 'Make the DR region database the writer (replica promotion, global failover or switchover, chosen from the engine and, for auto-switch, from the primary region at run time)',
    params: z.object({
      method: z.enum(['auto', 'promote-replica', 'global-failover', 'switchover', 'auto-switch']).default('auto'),
      autoGlobal: z.enum(['global-failover', 'auto-switch']).default('global-failover'),
      cluster: CLUSTER_ID,
      /** The DR region; the step's target's region when left out (failover-region runs on the DR target). */
      region: region.optional(),
      globalCluster: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/).optional(),
      /** How long auto-switch and switchover wait for the primary region's answer before taking it as down. */
      probeSeconds: z.number().int().min(1).max(30).default(5),
      /** A replication lag to tell with a failover's data loss; left out, the readiness check's last measurement (or unknown). */
      lastLagSeconds: z.number().min(0).optional(),
      /** auto-switch choosing a failover asks the approvers to accept its data loss first: how many must accept, within how long. */
      dataLossApprovals: z.number().int().min(1).max(5).default(1),
      dataLossQuestionMinutes: z.number().int().min(1).max(240).default(30),
    }),
    outputs: ['writerEndpoint', 'clusterArn', 'method', 'dataLossAllowed', 'lastLagSeconds', 'dataLossAcceptedBy', 'measuredRpoSeconds', 'reason'],
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
          if (method !== 'global-failover') return switchPlan(method, p, id, primaryOf(global ?? {}, (r) => ctx.aws.rds(r)));
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
      let decision = await ctx.once('fail-over', () => decideAndAct(ctx, client, p));
      let told: { lagSeconds?: number; acceptedBy?: string } = p.lastLagSeconds === undefined ? {} : { lagSeconds: p.lastLagSeconds };
      if (decision.awaitsAcceptance) {
        const { globalId: id, reason = '', primaryRegion = '' } = decision;
        told = await askDataLoss(ctx, { globalId: id, cluster: p.cluster, region: p.region, primaryRegion, reason, givenLagSeconds: p.lastLagSeconds, approvals: p.dataLossApprovals, minutes: p.dataLossQuestionMinutes });
        decision = { ...(await ctx.once('fail-over-accepted', () => failOverAccepted(ctx, client, p, id))), reason };
      }
      const { acted, globalId } = decision;
      /** Whether the failover was seen under way (so a global cluster back to idle without us as writer means it was cancelled). */
      let seenFailover = decision.seenFailover;
      const change = acted === 'switchover' ? 'switchover' : 'failover';

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
          if (acted === 'promote-replica' || (acted === 'none' && !globalId)) {
            writer = promoteView(now) === 'writer';
          } else {
            const g = await describeGlobal(client, globalId);
            const globalLook = lookAtState('global cluster', globalId, g.Status, `to ${change === 'switchover' ? 'switch' : 'fail'} over to ${p.cluster}`);
            if ('failed' in globalLook) return globalLook;
            const view = globalView(g, now);
            if (view.kind === 'cancelled' || view.kind === 'elsewhere') return { done: false, failed: `the ${change} to ${p.cluster} did not happen: ${view.detail}; check the global cluster's events, then run the failover again` };
            if (view.kind === 'idle' && seenFailover) {
              return {
                done: false,
                failed: `the ${change} of global cluster ${globalId} to ${p.cluster} ended without it as the writer (cancelled; the writer is ${view.writerArn ?? 'unknown'}); check the global cluster's events, then run the failover again`,
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
      return { writerEndpoint: ready.Endpoint ?? '', clusterArn: ready.DBClusterArn ?? '', ...decisionOutputs(decision, told) };
    },
  });
}
