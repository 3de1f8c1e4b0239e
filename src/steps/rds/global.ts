/**
 * Reading an Aurora global database (API-FACTS 8.1): which global cluster a
 * cluster belongs to, where a failover or switchover to it stands, where its
 * primary is, and whether it is healthy enough to switch over.
 */
import { type DBCluster, DescribeGlobalClustersCommand, type GlobalCluster, type RDSClient } from '@aws-sdk/client-rds';
import { PermanentStepError } from '../types.ts';
import { classifyAwsError, isAwsError } from './aws.ts';

/** The global cluster `cluster` is a member of (the named one, else any in the region), or undefined. */
export async function globalClusterOf(rds: RDSClient, cluster: DBCluster, named: string | undefined): Promise<GlobalCluster | undefined> {
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

export async function describeGlobal(rds: RDSClient, id: string): Promise<GlobalCluster> {
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

/** Where a failover or switchover to `cluster` stands, from one DescribeGlobalClusters answer. */
export type GlobalView =
  | { kind: 'writer' } // done (or never needed)
  | { kind: 'in-progress'; state: string; dataLossAllowed: boolean } // failing or switching over to this cluster
  | { kind: 'cancelled'; detail: string } // one that is being cancelled
  | { kind: 'elsewhere'; detail: string } // a failover or switchover to another cluster
  | { kind: 'idle'; status: string; writerArn?: string }; // nothing under way, this cluster not the writer

export function globalView(global: GlobalCluster, cluster: DBCluster): GlobalView {
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
    // FailoverState's IsDataLossAllowed: true for a failover, false for a switchover (API-FACTS 8.1).
    const dataLossAllowed = fs?.IsDataLossAllowed ?? status !== 'switching-over';
    return { kind: 'in-progress', state: `global cluster ${id} ${fs?.Status ?? status}`, dataLossAllowed };
  }
  if (me?.IsWriter === true) return { kind: 'writer' };
  const writer = writerArnOf(global);
  return { kind: 'idle', status, ...(writer ? { writerArn: writer } : {}) };
}

export function writerArnOf(global: GlobalCluster): string | undefined {
  return (global.GlobalClusterMembers ?? []).find((m) => m.IsWriter === true)?.DBClusterArn;
}

/** The region a cluster ARN names (`arn:aws:rds:<region>:<account>:cluster:<id>`), or undefined. */
export function regionOfArn(arn: string | undefined): string | undefined {
  const parts = arn?.split(':') ?? [];
  return parts[0] === 'arn' && parts[2] === 'rds' && parts[3] ? parts[3] : undefined;
}

/**
 * Why the global database cannot be switched over now, or undefined when it
 * can: a switchover needs every cluster healthy (API-FACTS 8.1), here the
 * global cluster `available`, every secondary `connected`, nothing under way.
 */
export function unhealthyBecause(global: GlobalCluster): string | undefined {
  const id = global.GlobalClusterIdentifier ?? '';
  if (global.FailoverState?.Status) return `global cluster ${id} is already ${global.FailoverState.Status}`;
  if (global.Status !== 'available') return `global cluster ${id} is ${global.Status ?? 'in an unknown state'}, not available`;
  const behind = (global.GlobalClusterMembers ?? []).filter((m) => m.IsWriter !== true && m.SynchronizationStatus !== 'connected');
  if (behind.length) return `not connected: ${behind.map((m) => `${m.DBClusterArn ?? '?'} (${m.SynchronizationStatus ?? 'unknown'})`).join(', ')}`;
  return undefined;
}
