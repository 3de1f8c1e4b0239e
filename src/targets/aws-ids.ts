/**
 * AWS identifiers a person types, written once for every front end: the
 * runbook parameter types (src/runbooks/params.ts) and the steps' schemas
 * check values against these, so a value one accepts the other does too.
 * (The AWS region and EKS cluster name patterns live in config.ts.)
 */

/** A VPC security group id: `sg-` and 8 (ids made before 2018) or 17 lower-case hex digits. */
export const SECURITY_GROUP_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** How to write one, for messages. */
export const SECURITY_GROUP_HINT = 'sg- and 8 or 17 hex digits, like sg-0123456789abcdef0';

/**
 * A parameter's value meaning "the source's own" (a restore's network and
 * settings copied from the cluster it restores): the same as leaving it out.
 */
export const FROM_SOURCE = 'source';

/** Security group ids written as one text: separated by commas and/or spaces. */
export function splitSecurityGroups(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** The first of `ids` that is not a security group id, if any. */
export function firstInvalidSecurityGroup(ids: readonly string[]): string | undefined {
  return ids.find((id) => !SECURITY_GROUP_ID.test(id));
}

/**
 * An Availability Zone name, as the node label topology.kubernetes.io/zone
 * holds it (`us-east-1a`, a Local Zone's `us-west-2-lax-1a`): what the
 * single-AZ runbooks take, and what `/dr evacuate` checks before planning.
 */
export const AZ_NAME = /^[a-z]{2}(?:-[a-z0-9]+)*-\d+[a-z]$/;

/** Why an AZ id is refused where a name belongs, in the words every front end and step uses. */
export const AZ_NAME_REFUSAL = 'must be an AZ name such as us-east-1a (the node label topology.kubernetes.io/zone), not an AZ id such as use1-az1';
