/**
 * The graceful half of a region switch for an Aurora global database
 * (API-FACTS 8.1): SwitchoverGlobalCluster, asked in the primary's region, and
 * the run-time choice between it and a failover (`auto-switch`): a switchover
 * when the primary region answers and the global database is healthy, a
 * failover with data loss allowed otherwise. Nothing is sent to a primary
 * region that did not answer: its one probe is aborted when its time is up,
 * retries included, and every later call goes to the DR region.
 */
import { type DBCluster, DescribeDBClustersCommand, DescribeGlobalClustersCommand, type RDSClient, SwitchoverGlobalClusterCommand } from '@aws-sdk/client-rds';
import { isUserError } from '../../errors.ts';
import { PermanentStepError, type PlanLine, type StepContext } from '../types.ts';
import { awsCode, classifyAwsError, isAwsError } from './aws.ts';
import { describeGlobal, globalView, regionOfArn, unhealthyBecause, writerArnOf } from './global.ts';
import type { GlobalCluster } from '@aws-sdk/client-rds';

/** Where the primary is, and a client for its region (undefined, with the reason, when no endpoint serves it). */
export interface Primary {
  region: string;
  writerArn: string;
  client?: RDSClient;
  unreachable?: string;
}

/** The primary of `global`, as the DR region reports it, and how to reach its region. */
export function primaryOf(global: GlobalCluster, rdsIn: (region: string) => RDSClient): Primary {
  const writerArn = writerArnOf(global) ?? '';
  const region = regionOfArn(writerArn);
  if (!region) throw new PermanentStepError(`global cluster ${global.GlobalClusterIdentifier ?? ''} reports no writer with a region (writer ${writerArn || 'none'}): cannot tell where its primary is`);
  try {
    return { region, writerArn, client: rdsIn(region) };
  } catch (err) {
    // No endpoint is configured for the primary's region (endpoints.ts): it cannot be asked at all.
    if (isUserError(err)) return { region, writerArn, unreachable: err.message };
    throw err;
  }
}

/** What the primary region said, within the probe's time. */
export type Probe = { answered: false; reason: string } | { answered: true; healthy: boolean; reason: string };

/**
 * Asks the primary region, once, within `seconds`, for the global cluster and
 * its primary cluster. The abort ends the SDK's request and any retry it had
 * planned, so nothing more reaches a region that did not answer in time.
 */
export async function probePrimary(primary: Primary, globalId: string, seconds: number): Promise<Probe> {
  const { client, region } = primary;
  if (!client) return { answered: false, reason: `the primary region ${region} cannot be asked: ${primary.unreachable ?? 'no endpoint'}` };
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve('timeout');
    }, seconds * 1_000);
  });
  const primaryId = primary.writerArn.split(':').pop() ?? '';
  const asked = Promise.all([
    client.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: globalId }), { abortSignal: abort.signal }),
    client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: primaryId }), { abortSignal: abort.signal }),
  ]);
  try {
    const answer = await Promise.race([asked, timeUp]);
    if (answer === 'timeout') return { answered: false, reason: `the primary region ${region} did not answer within ${seconds} s` };
    const [globals, clusters] = answer;
    const global = globals.GlobalClusters?.[0];
    const cluster = clusters.DBClusters?.[0];
    if (!global) return { answered: true, healthy: false, reason: `the primary region ${region} does not know global cluster ${globalId}` };
    const unhealthy = unhealthyBecause(global) ?? (cluster?.Status === 'available' ? undefined : `the primary cluster ${primaryId} is ${cluster?.Status ?? 'unknown'}`);
    return unhealthy ? { answered: true, healthy: false, reason: `the primary region ${region} answered, but ${unhealthy}` } : { answered: true, healthy: true, reason: `the primary region ${region} answered and global cluster ${globalId} is healthy` };
  } catch (err) {
    // An error answer (throttled, 5xx, refused connection) is no answer to act on.
    return { answered: false, reason: `the primary region ${region} did not answer properly: ${awsCode(err)}: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    clearTimeout(timer);
    abort.abort();
    asked.catch(() => undefined);
  }
}

/**
 * Starts the switchover to `cluster`, asked in the primary's region. Refused
 * (InvalidGlobalClusterStateFault) because one to `cluster` is already under
 * way (a lost answer): adopted, as the DR region reports it. Refused for
 * anything else: the step fails with RDS's reason.
 */
export async function startSwitchover(ctx: Pick<StepContext, 'progress'>, primary: Primary, dr: RDSClient, globalId: string, cluster: DBCluster): Promise<void> {
  const name = cluster.DBClusterIdentifier ?? '';
  if (!primary.client) throw new PermanentStepError(`cannot switch ${globalId} over to ${name}: ${primary.unreachable ?? `no endpoint for ${primary.region}`}`);
  ctx.progress(`switching ${globalId} over to ${name} (asked in the primary's region ${primary.region})`);
  try {
    await primary.client.send(new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: globalId, TargetDbClusterIdentifier: cluster.DBClusterArn }));
  } catch (err) {
    if (!isAwsError(err, 'InvalidGlobalClusterStateFault')) throw classifyAwsError(err, `switching ${globalId} over to ${name}`);
    const again = globalView(await describeGlobal(dr, globalId), cluster);
    if (again.kind === 'in-progress' || again.kind === 'writer') return;
    const why = again.kind === 'idle' ? `RDS refused it: ${err instanceof Error ? err.message : String(err)}` : again.detail;
    throw new PermanentStepError(`cannot switch ${globalId} over to ${name}: ${why}; a switchover needs every cluster healthy and nothing else under way`);
  }
}

/** "12 s", or where it will come from when the runbook gave none. */
export function lagText(lastLagSeconds: number | undefined): string {
  return lastLagSeconds === undefined ? "the readiness check's last measurement, or unknown" : `${lastLagSeconds} s`;
}

/** The plan of a switchover, or of the run-time choice (`auto-switch`), for a global database idle with another writer. */
export function switchPlan(
  method: 'switchover' | 'auto-switch',
  p: { cluster: string; region: string; probeSeconds: number; lastLagSeconds?: number | undefined; dataLossApprovals: number },
  globalId: string,
  primary: Primary,
): PlanLine[] {
  const resource = `global cluster ${globalId}`;
  const failover = `fail global cluster ${globalId} over to ${p.cluster} in ${p.region}, allowing the loss of writes not yet replicated (up to the last measured lag: ${lagText(p.lastLagSeconds)})`;
  const switchover = `switch global cluster ${globalId} over to ${p.cluster} in ${p.region}, asked in the primary's region ${primary.region}: no data lost, the old primary becomes a secondary`;
  if (method === 'switchover') {
    if (primary.unreachable) throw new PermanentStepError(`cannot switch ${globalId} over to ${p.cluster}: ${primary.unreachable}`);
    return [{ action: 'change', resource, detail: switchover }];
  }
  const accepted = `only once ${p.dataLossApprovals === 1 ? 'an approver accepts' : `${p.dataLossApprovals} approvers accept`} the data loss when the step asks, telling the lag`;
  if (primary.unreachable) {
    return [{ action: 'change', resource, irreversible: true, detail: `${failover}, ${accepted}: the primary's region ${primary.region} cannot be asked, so no switchover (${primary.unreachable})` }];
  }
  return [
    {
      action: 'change',
      resource,
      detail: `if the primary answers: switchover (no data lost); else: failover, data loss up to the last measured lag (${lagText(p.lastLagSeconds)}). Decided when the step runs, asking ${primary.region} for ${p.probeSeconds} s whether ${globalId} is healthy; then: ${switchover}`,
    },
    { action: 'change', resource, irreversible: true, detail: `${failover}, only if ${primary.region} does not answer or ${globalId} is not healthy, and ${accepted}; nothing more is sent to ${primary.region} then` },
  ];
}
