import { type DBCluster, DescribeDBClustersCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { PermanentStepError } from '../types.ts';

/** An RDS DB cluster identifier: 1-63 letters, digits and hyphens, starting with a letter. */
export const CLUSTER_ID = z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS cluster identifier (letters, digits, hyphens)');

/** Tag put on every resource the bot creates, naming the run: how a re-entered step knows the resource is its own. */
export const RUN_TAG = 'dr-chatops:run';

/**
 * AWS error codes that retrying cannot fix, without a trailing `Fault`: the
 * SDK v3 names an exception after its modelled shape (`DBInstanceAlreadyExistsFault`)
 * while the wire code may lack the suffix (`DBInstanceAlreadyExists`), so both
 * spellings are compared in their `Fault`-less form (see {@link baseCode}).
 */
const PERMANENT = [
  /NotFound/,
  /^InvalidParameter/,
  /^InvalidRestore$/,
  /^AccessDenied/,
  /^UnauthorizedOperation$/,
  /QuotaExceeded/,
  /^KMSKeyNotAccessible$/,
  /^StorageQuotaExceeded$/,
  /^DBClusterAlreadyExists$/,
  /^DBInstanceAlreadyExists$/,
  // The network cannot hold the resource: a subnet group or VPC problem a person must fix.
  /^InvalidVPCNetworkState$/,
  /^InvalidSubnet$/,
  /^DBSubnetGroupDoesNotCoverEnoughAZs$/,
  // The credentials are wrong, not the moment.
  /^InvalidClientTokenId$/,
  /^SignatureDoesNotMatch$/,
  // EKS: the request cannot succeed as given (e.g. a node group size outside its limits).
  /^InvalidRequestException$/,
];

/** The SDK's name for an AWS error (`DBInstanceAlreadyExistsFault`), `Unknown` for anything else. */
export function awsCode(err: unknown): string {
  return err instanceof Error ? err.name : 'Unknown';
}

/** An error code without a trailing `Fault`: `DBInstanceAlreadyExistsFault` and `DBInstanceAlreadyExists` are one error. */
function baseCode(code: string): string {
  return code.replace(/Fault$/, '');
}

/** Whether `err` is the AWS error `code`, in either spelling (SDK shape name or wire code, with or without `Fault`). */
export function isAwsError(err: unknown, code: string): boolean {
  return err instanceof Error && baseCode(err.name) === baseCode(code);
}

/** Whether retrying `err` cannot help (bad input, missing resource, no permission, broken network setup, bad credentials). */
export function isPermanentAwsError(err: unknown): boolean {
  const code = baseCode(awsCode(err));
  return PERMANENT.some((p) => p.test(code));
}

/** Wraps an AWS SDK error: permanent ones fail the run at once with AWS's own words. */
export function classifyAwsError(err: unknown, doing: string): Error {
  const code = awsCode(err);
  const message = `${doing} failed: ${code}: ${err instanceof Error ? err.message : String(err)}`;
  return isPermanentAwsError(err) ? new PermanentStepError(message, { cause: err }) : new Error(message, { cause: err });
}

/** RDS stores DB cluster and instance identifiers lowercase ("stored as a lowercase string"): name and compare them so. */
export function rdsId(id: string): string {
  return id.toLowerCase();
}

/** Whether two RDS identifiers name the same resource (RDS identifiers are case-insensitive). */
export function sameRdsId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && rdsId(a) === rdsId(b);
}

export async function describeCluster(rds: RDSClient, id: string): Promise<DBCluster | undefined> {
  try {
    const res = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
    return res.DBClusters?.[0];
  } catch (err) {
    if (isAwsError(err, 'DBClusterNotFoundFault')) return undefined;
    throw classifyAwsError(err, `describing cluster ${id}`);
  }
}

export async function mustDescribeCluster(rds: RDSClient, id: string): Promise<DBCluster> {
  const cluster = await describeCluster(rds, id);
  if (!cluster) throw new PermanentStepError(`there is no DB cluster "${id}" in this account and region`);
  return cluster;
}

/** `<source>-dr-<run id>`, within RDS's 63 characters, no double or trailing hyphens, lowercase as RDS stores it. */
export function restoredClusterName(source: string, runId: string): string {
  const suffix = `-dr-${runId}`;
  return rdsId(`${source.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`.replace(/--+/g, '-'));
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
