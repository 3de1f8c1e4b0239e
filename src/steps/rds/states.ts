/**
 * The one place that knows RDS resource states, for every RDS wait: per kind
 * of resource, the states that end a wait for "available" in success, the
 * terminal states that end it in failure (with what a person should do), and
 * the states that are still on the way.
 *
 * The failure states follow the SDK's waiters (botocore `rds` waiters-2.json:
 * `deleted`, `deleting`, `failed`, `incompatible-restore`,
 * `incompatible-parameters`) plus the states the RDS/Aurora User Guides list
 * as needing a person (`inaccessible-encryption-credentials`,
 * `incompatible-network`, ...). A state in none of the lists (AWS adds some)
 * is treated as in progress, so the wait goes on until the step's deadline.
 */
import type { PollLook } from '../poll.ts';

export type RdsResourceKind = 'DB cluster' | 'DB instance' | 'global cluster';

interface StateTable {
  /** States that end a wait for availability in success. */
  success: readonly string[];
  /** Terminal states: the resource will not become available by itself. Value: what to do. */
  failure: Readonly<Record<string, string>>;
  /** Known states on the way to (or back to) available. */
  inProgress: readonly string[];
}

const DELETED = 'it is gone or going; re-run the step that creates it (or restore again), with a new name if needed';
const FAILED = 'RDS could not create or recover it; check its events (aws rds describe-events) and recreate it';
const RESTORE = 'the restore could not be completed (often a parameter group or engine version mismatch); check its events, delete it and restore again';
const PARAMETERS = 'its parameter group has values the engine cannot start with; fix or replace the parameter group, then reboot or recreate it';
const KMS = 'RDS cannot use its KMS key (disabled, deleted, or the key policy/grant denies RDS); restore access to the key, then start it again';
const NETWORK = 'its subnet group or VPC cannot hold it (subnets, IP addresses or AZs); fix the subnet group, then recreate it';

/** The terminal states clusters and instances share (the SDK's waiters stop on these). */
const SHARED_FAILURES: Readonly<Record<string, string>> = {
  deleted: DELETED,
  deleting: DELETED,
  failed: FAILED,
  'incompatible-restore': RESTORE,
  'incompatible-parameters': PARAMETERS,
  'inaccessible-encryption-credentials': KMS,
};

export const RDS_STATES: Readonly<Record<RdsResourceKind, StateTable>> = {
  'DB cluster': {
    success: ['available'],
    failure: {
      ...SHARED_FAILURES,
      'cloning-failed': 'the clone failed; check its events, delete it and clone or restore again',
      'migration-failed': FAILED,
    },
    inProgress: [
      'creating',
      'backing-up',
      'backtracking',
      'failing-over',
      'maintenance',
      'migrating',
      'modifying',
      'promoting',
      'preparing-data-migration',
      'rebooting',
      'renaming',
      'resetting-master-credentials',
      'starting',
      'storage-optimization',
      'update-iam-db-auth',
      'upgrading',
      'inaccessible-encryption-credentials-recoverable',
    ],
  },
  'DB instance': {
    success: ['available'],
    failure: {
      ...SHARED_FAILURES,
      'incompatible-network': NETWORK,
      'incompatible-option-group': 'its option group does not fit the engine; fix the option group, then recreate it',
      'restore-error': RESTORE,
    },
    inProgress: [
      'creating',
      'backing-up',
      'configuring-enhanced-monitoring',
      'configuring-iam-database-auth',
      'configuring-log-exports',
      'converting-to-vpc',
      'maintenance',
      'modifying',
      'moving-to-vpc',
      'rebooting',
      'renaming',
      'resetting-master-credentials',
      'starting',
      'storage-optimization',
      'upgrading',
      'inaccessible-encryption-credentials-recoverable',
    ],
  },
  'global cluster': {
    success: ['available'],
    failure: {
      deleted: DELETED,
      deleting: DELETED,
      failed: FAILED,
    },
    inProgress: ['creating', 'modifying', 'failing-over', 'switching-over', 'upgrading'],
  },
};

export type StateVerdict = 'success' | 'failure' | 'in-progress';

/** What `state` of a `kind` means for a wait for availability (unknown states: in progress). */
export function verdictOf(kind: RdsResourceKind, state: string): StateVerdict {
  const table = RDS_STATES[kind];
  if (table.success.includes(state)) return 'success';
  if (Object.hasOwn(table.failure, state)) return 'failure';
  return 'in-progress';
}

/** The message of a wait ended by a terminal state: the resource, its state, and what to do. */
export function terminalMessage(kind: RdsResourceKind, id: string, state: string, waitingFor = 'to be available'): string {
  const advice = RDS_STATES[kind].failure[state] ?? 'check it in the RDS console';
  return `stopped waiting for ${kind} ${id} ${waitingFor}: it is ${state}, which it does not leave by itself; ${advice}`;
}

/**
 * One look for `pollUntil` at a resource's state: done when it is in a
 * success state, failed at once when terminal, otherwise still waiting.
 * `state` undefined means not visible yet (eventual consistency after a create).
 */
export function lookAtState(kind: RdsResourceKind, id: string, state: string | undefined, waitingFor?: string): PollLook {
  if (state === undefined) return { done: false, state: 'not visible yet' };
  switch (verdictOf(kind, state)) {
    case 'success':
      return { done: true };
    case 'failure':
      return { done: false, failed: terminalMessage(kind, id, state, waitingFor) };
    default:
      return { done: false, state };
  }
}
