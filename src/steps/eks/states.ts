/**
 * The one place that knows EKS resource states, for every EKS wait (as
 * rds/states.ts is for RDS): per kind, the state that ends a wait for ACTIVE
 * in success, the terminal states that end it in failure (with what a person
 * should do), and the states still on the way.
 *
 * The failure states follow the SDK's waiters (botocore `eks` waiters-2.json:
 * ClusterActive fails on DELETING and FAILED, NodegroupActive on
 * CREATE_FAILED) plus the node group states that never lead to ACTIVE
 * (DELETING, DELETE_FAILED). A state in none of the lists is in progress.
 *
 * DEGRADED (a node group with health issues) can recover, so it is neither:
 * a wait ends at once only when an issue is one a person must fix (something
 * missing, misconfigured, refused or over a quota), and otherwise after the
 * node group has stayed DEGRADED for a grace period (capacity, IP addresses
 * and EKS-side failures clear by themselves). docs/decisions.md says why.
 */
import type { Issue, Nodegroup } from '@aws-sdk/client-eks';
import { formatDuration } from '../../util/duration.ts';
import { truncate } from '../../util/text.ts';
import type { PollLook } from '../poll.ts';

export type EksResourceKind = 'cluster' | 'node group';

/** The resource a message is about: a cluster, or a node group of one. */
export interface EksResource {
  cluster: string;
  nodegroup?: string | undefined;
}

interface StateTable {
  success: readonly string[];
  /** Terminal states: the resource will not become ACTIVE by itself. Value: what to do. */
  failure: Readonly<Record<string, (r: EksResource) => string>>;
  inProgress: readonly string[];
}

const describeNodegroup = (r: EksResource) => `aws eks describe-nodegroup --cluster-name ${r.cluster} --nodegroup-name ${r.nodegroup ?? ''} --query nodegroup.health`;

export const EKS_STATES: Readonly<Record<EksResourceKind, StateTable>> = {
  cluster: {
    success: ['ACTIVE'],
    failure: {
      FAILED: (r) => `see why with \`aws eks describe-cluster --name ${r.cluster} --query cluster.health\`, then delete it and create it again`,
      DELETING: () => 'wait until it is gone and create it again',
    },
    inProgress: ['CREATING', 'UPDATING', 'PENDING'],
  },
  'node group': {
    success: ['ACTIVE'],
    failure: {
      CREATE_FAILED: (r) => `EKS could not create it; see why with \`${describeNodegroup(r)}\`, fix that, then delete it and create it again`,
      DELETING: () => 'it is being deleted; wait until it is gone and create it again',
      DELETE_FAILED: (r) => `EKS could not delete it and it no longer runs nodes; see why with \`${describeNodegroup(r)}\`, fix that and delete it again, then create it again`,
    },
    inProgress: ['CREATING', 'UPDATING'],
  },
};

/** A node group state that may recover: see {@link DegradedClock}. */
export const DEGRADED = 'DEGRADED';

/**
 * Node group health issue codes (botocore `NodegroupIssueCode`) that do not
 * clear by themselves: a resource is missing or misconfigured, access is
 * refused, or a quota is reached. A DEGRADED node group with one of them fails
 * a wait at once. The others (AsgInstanceLaunchFailures, InsufficientFreeAddresses,
 * NodeCreationFailure, ClusterUnreachable, InternalFailure, Ec2SecurityGroupDeletionFailure,
 * and codes AWS adds) are given the grace period.
 */
export const PERMANENT_NODEGROUP_ISSUES: ReadonlySet<string> = new Set([
  'AccessDenied',
  'AutoScalingGroupInvalidConfiguration',
  'AutoScalingGroupNotFound',
  'Ec2LaunchTemplateNotFound',
  'Ec2LaunchTemplateVersionMismatch',
  'Ec2SecurityGroupNotFound',
  'Ec2SubnetInvalidConfiguration',
  'Ec2SubnetMissingIpv6Assignment',
  'Ec2SubnetNotFound',
  'IamInstanceProfileNotFound',
  'IamLimitExceeded',
  'IamNodeRoleNotFound',
  'InstanceLimitExceeded',
]);

/** How long a node group may stay DEGRADED (without a permanent issue) before a wait for it fails. */
export const DEFAULT_DEGRADED_GRACE_SECONDS = 600;

export type EksVerdict = 'success' | 'failure' | 'in-progress';

/** What `state` of a `kind` means for a wait for ACTIVE (DEGRADED and unknown states: in progress). */
export function eksVerdictOf(kind: EksResourceKind, state: string): EksVerdict {
  const table = EKS_STATES[kind];
  if (table.success.includes(state)) return 'success';
  if (Object.hasOwn(table.failure, state)) return 'failure';
  return 'in-progress';
}

function nameOf(kind: EksResourceKind, r: EksResource): string {
  return kind === 'cluster' ? `EKS cluster ${r.cluster}` : `EKS node group ${r.nodegroup ?? ''} of ${r.cluster}`;
}

/** What to do about a terminal `state` of a `kind`. */
export function terminalAdvice(kind: EksResourceKind, r: EksResource, state: string): string {
  return EKS_STATES[kind].failure[state]?.(r) ?? 'check it in the EKS console';
}

/** `AsgInstanceLaunchFailures: Could not launch On-Demand Instances… (i-0abc, i-0def)`, for each of the first issues. */
export function describeIssues(issues: readonly Issue[] | undefined): string {
  if (!issues?.length) return 'EKS reports no health issues';
  const shown = issues.slice(0, 5).map((i) => {
    const ids = i.resourceIds?.length ? ` (${i.resourceIds.slice(0, 3).join(', ')}${i.resourceIds.length > 3 ? ', …' : ''})` : '';
    return `${i.code ?? 'Unknown'}: ${truncate(i.message ?? 'no message', 200, '…')}${ids}`;
  });
  return `health issues: ${shown.join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`;
}

const degradedAdvice = (r: EksResource) => `fix what the issues name (\`${describeNodegroup(r)}\`), then run the step again`;

/** `stopped waiting for EKS node group workers of eks-dr to be ACTIVE: <why>`. */
const stopped = (r: EksResource, why: string) => `stopped waiting for ${nameOf('node group', r)} to be ACTIVE: ${why}`;

/**
 * Why a node group will not become ACTIVE by itself, or undefined: it is in a
 * terminal state, or DEGRADED with an issue that does not clear by itself.
 * Names the state, its health issues and what to do.
 */
export function nodegroupDeadEnd(r: EksResource, ng: Nodegroup): string | undefined {
  const state = ng.status ?? 'UNKNOWN';
  if (state === DEGRADED) {
    const permanent = (ng.health?.issues ?? []).filter((i) => i.code && PERMANENT_NODEGROUP_ISSUES.has(i.code));
    return permanent.length ? `it is DEGRADED with issues that do not clear by themselves; ${describeIssues(permanent)}; ${degradedAdvice(r)}` : undefined;
  }
  if (eksVerdictOf('node group', state) !== 'failure') return undefined;
  return `it is ${state}, which it does not leave by itself; ${describeIssues(ng.health?.issues)}; ${terminalAdvice('node group', r, state)}`;
}

/**
 * Times how long a node group has been DEGRADED during one wait: from the
 * first look that saw it so, reset by any other state. (A step re-entered
 * after a restart starts it again: the grace is per wait, not per node group.)
 */
export class DegradedClock {
  /** When the node group was first seen DEGRADED in this wait (undefined: not DEGRADED now); a wait taken up after a park sets it again. */
  since: number | undefined;
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(graceSeconds: number, now: () => number = Date.now) {
    this.graceMs = graceSeconds * 1_000;
    this.now = now;
  }

  /**
   * One look at a node group for a wait until it is ACTIVE: done when ACTIVE;
   * failed at once in a terminal state, or DEGRADED with a permanent issue or
   * for longer than the grace; otherwise still waiting, with its state.
   */
  look(r: EksResource, ng: Nodegroup): PollLook {
    const state = ng.status ?? 'UNKNOWN';
    const deadEnd = nodegroupDeadEnd(r, ng);
    if (deadEnd) return { done: false, failed: stopped(r, deadEnd) };
    if (state !== DEGRADED) {
      this.since = undefined;
      return eksVerdictOf('node group', state) === 'success' ? { done: true } : { done: false, state };
    }
    const now = this.now();
    this.since ??= now;
    const degradedFor = now - this.since;
    const issues = describeIssues(ng.health?.issues);
    if (degradedFor >= this.graceMs) {
      return { done: false, failed: stopped(r, `it has been DEGRADED for ${formatDuration(degradedFor)}, past the ${formatDuration(this.graceMs)} it is given to recover; ${issues}; ${degradedAdvice(r)}`) };
    }
    return { done: false, state: `DEGRADED for ${formatDuration(degradedFor)} of a ${formatDuration(this.graceMs)} grace (${issues})` };
  }
}
