import { type DBCluster, DescribeDBClustersCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { PermanentStepError } from '../types.ts';

/** An RDS DB cluster identifier: 1-63 letters, digits and hyphens, starting with a letter. */
export const CLUSTER_ID = z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS cluster identifier (letters, digits, hyphens)');

/** Tag put on every resource the bot creates, naming the run: how a re-entered step knows the resource is its own. */
export const RUN_TAG = 'dr-chatops:run';

/** AWS error codes that retrying cannot fix. */
const PERMANENT = [
  /NotFound/,
  /^InvalidParameter/,
  /^InvalidRestoreFault$/,
  /^AccessDenied/,
  /^UnauthorizedOperation$/,
  /QuotaExceeded/,
  /^KMSKeyNotAccessibleFault$/,
  /^StorageQuotaExceeded$/,
  /^DBClusterAlreadyExistsFault$/,
  /^DBInstanceAlreadyExists$/,
];

export function awsCode(err: unknown): string {
  return err instanceof Error ? err.name : 'Unknown';
}

/** Wraps an AWS SDK error: permanent ones fail the run at once with AWS's own words. */
export function classifyAwsError(err: unknown, doing: string): Error {
  const code = awsCode(err);
  const message = `${doing} failed: ${code}: ${err instanceof Error ? err.message : String(err)}`;
  return PERMANENT.some((p) => p.test(code)) ? new PermanentStepError(message, { cause: err }) : new Error(message, { cause: err });
}

export async function describeCluster(rds: RDSClient, id: string): Promise<DBCluster | undefined> {
  try {
    const res = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
    return res.DBClusters?.[0];
  } catch (err) {
    if (awsCode(err) === 'DBClusterNotFoundFault') return undefined;
    throw classifyAwsError(err, `describing cluster ${id}`);
  }
}

export async function mustDescribeCluster(rds: RDSClient, id: string): Promise<DBCluster> {
  const cluster = await describeCluster(rds, id);
  if (!cluster) throw new PermanentStepError(`there is no DB cluster "${id}" in this account and region`);
  return cluster;
}

/** `<source>-dr-<run id>`, within RDS's 63 characters, no double or trailing hyphens. */
export function restoredClusterName(source: string, runId: string): string {
  const suffix = `-dr-${runId}`;
  return `${source.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`.replace(/--+/g, '-');
}

/** What a restored cluster must share with its source to be reachable by the same apps. */
export function networkOf(source: DBCluster): { DBSubnetGroupName?: string; VpcSecurityGroupIds?: string[] } {
  const groups = (source.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId).filter((g): g is string => Boolean(g));
  return {
    ...(source.DBSubnetGroup ? { DBSubnetGroupName: source.DBSubnetGroup } : {}),
    ...(groups.length ? { VpcSecurityGroupIds: groups } : {}),
  };
}

/**
 * Adoption rule for re-entered steps: a cluster with our name that carries this
 * run's tag is ours (adopt it); one without is someone else's (refuse).
 */
export function ownedByRun(cluster: DBCluster, runId: string): boolean {
  return (cluster.TagList ?? []).some((t) => t.Key === RUN_TAG && t.Value === runId);
}
