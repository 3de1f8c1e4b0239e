import { z } from 'zod';
import { RUN_PRIORITIES, type RunPriority } from '../runbooks/schema.ts';
import { type Actor, ActorSchema } from './actor.ts';
import type { Gate } from './gate-model.ts';

/**
 * A run: one execution of a runbook with bound parameters, its plan, approvals,
 * state and step results. Stored in Redis (see store.ts); every front end (Slack,
 * CLI) and every worker reads and moves it only through the store.
 */

export const RUN_STATES = [
  'planned',
  'awaiting_approval',
  'approved',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'expired',
  'rejected',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled', 'expired', 'rejected'];

/** Which state may follow which. Anything else is refused with the reason. */
export const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
  planned: ['awaiting_approval', 'approved', 'cancelled'],
  awaiting_approval: ['approved', 'rejected', 'expired', 'cancelled'],
  approved: ['running', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  expired: [],
  rejected: [],
};

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** States from which `to` may be reached. */
export function statesBefore(to: RunState): RunState[] {
  return RUN_STATES.filter((from) => TRANSITIONS[from].includes(to));
}

export { type Actor, ActorSchema } from './actor.ts';

export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'dr-chatops', via: 'system' };

const ScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

export const PlanLineSchema = z.object({
  action: z.enum(['create', 'change', 'restart', 'delete', 'check', 'wait']),
  resource: z.string(),
  detail: z.string(),
  irreversible: z.boolean().optional(),
});

export const PlaceSchema = z.object({
  target: z.string(),
  cluster: z.string().optional(),
  label: z.string(),
  region: z.string().optional(),
  account: z.string().optional(),
  /** How the cluster is reached, e.g. `EKS eks-dr`. */
  clusterLabel: z.string().optional(),
  /** Everything that decided where its calls go when planned (account, role, endpoints, API server…): each step runs only where the target still resolves to it. */
  resolved: z.record(z.string(), z.string()).optional(),
});
export type Place = z.infer<typeof PlaceSchema>;

/** `DR (dr) · us-west-2 · account 222222222222 · EKS eks-dr`: where a step acts, in one line of plain text. */
export function describePlace(place: Place): string {
  const name = place.label === place.target ? place.target : `${place.label} (${place.target})`;
  return [name, place.region, place.account ? `account ${place.account}` : undefined, place.clusterLabel].filter(Boolean).join(' · ');
}

/** The distinct places of a plan, in order, each with the steps acting there. */
export function placesOf(plan: readonly PlannedStep[]): { place: Place; steps: string[] }[] {
  const out: { place: Place; steps: string[] }[] = [];
  for (const step of plan) {
    if (!step.place) continue;
    const text = describePlace(step.place);
    const same = out.find((p) => describePlace(p.place) === text);
    if (same) same.steps.push(step.stepId);
    else out.push({ place: step.place, steps: [step.stepId] });
  }
  return out;
}

export const PlannedStepSchema = z.object({
  stepId: z.string(),
  name: z.string(),
  use: z.string(),
  /** The step's `with:` as written in the runbook (references unresolved). */
  with: z.record(z.string(), z.unknown()),
  timeoutMs: z.number(),
  retries: z.number(),
  lines: z.array(PlanLineSchema),
  /** Values the plan resolved and the approved run uses as is (ctx.pin): the newest backup, the deployments behind `*`. */
  pinned: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).optional(),
  /** A cleanup step (the runbook's `always:` section): runs however the main steps end. */
  always: z.boolean().optional(),
  /**
   * Where the step acts, resolved by the plan and approved as shown: the
   * target, an EKS cluster named at run time, and what the plan showed of
   * them. Absent in runs planned before targets: the default target.
   */
  place: PlaceSchema.optional(),
});
export type PlannedStep = z.infer<typeof PlannedStepSchema>;

export const ApprovalPolicySchema = z.object({
  required: z.number().int().min(0),
  /** Every full member of the workspace may approve (an operator's explicit choice: DR_APPROVERS=*). */
  anyone: z.boolean().optional(),
  users: z.array(z.string()),
  groups: z.array(z.string()),
  /** Where the approvers came from: the runbook's own list, or the setting that filled the role. */
  source: z.string().optional(),
  allowSelfApproval: z.boolean(),
  expiresInMs: z.number(),
});
export type ApprovalPolicySnapshot = z.infer<typeof ApprovalPolicySchema>;

/** What does not change after creation. A snapshot: editing the runbook later does not alter the run. */
export const RunDocSchema = z.object({
  id: z.string(),
  runbookId: z.string(),
  runbookTitle: z.string(),
  scenario: z.string().optional(),
  /** The scenario's RTO when the run was requested. */
  rtoMs: z.number().optional(),
  params: z.record(z.string(), ScalarSchema),
  requester: ActorSchema,
  origin: z
    .object({
      channelId: z.string().optional(),
      threadTs: z.string().optional(),
      incidentId: z.string().optional(),
      /** Requested in a private channel or DM: shown only there. */
      private: z.boolean().optional(),
      /** Made by a fire of this schedule (docs/schedules.md). */
      scheduleId: z.string().optional(),
    })
    .default({}),
  dryRun: z.boolean(),
  /** The runbook's priority when the run was planned: what was approved is what the queue honours (`priorityOf`). */
  priority: z.enum(RUN_PRIORITIES).optional(),
  plan: z.array(PlannedStepSchema),
  policy: ApprovalPolicySchema,
  createdAt: z.number(),
  expiresAt: z.number(),
  timeoutMs: z.number(),
});
export type RunDoc = z.infer<typeof RunDocSchema>;

/** A run's queue priority; runs stored before runbooks had priorities are normal. */
export function priorityOf(run: Pick<RunDoc, 'priority'>): RunPriority {
  return run.priority ?? 'normal';
}

export const STEP_STATES = ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;
export type StepState = (typeof STEP_STATES)[number];

export const StepRecordSchema = z.object({
  state: z.enum(STEP_STATES),
  attempts: z.number().int().default(0),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  outputs: z.record(z.string(), ScalarSchema).optional(),
  error: z.string().optional(),
  progress: z.object({ message: z.string(), percent: z.number().optional(), at: z.number() }).optional(),
  /** Dry run: what the step would have done. */
  wouldDo: z.array(PlanLineSchema).optional(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

export const DecisionSchema = z.object({ by: ActorSchema, at: z.number(), reason: z.string().optional() });
export type Decision = z.infer<typeof DecisionSchema>;

/** How a run's main steps ended, stored before its cleanup (`always`) steps run, so a resumed run finishes the same way. */
export const RunEndingSchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('succeeded') }),
  z.object({ outcome: z.literal('failed'), stepId: z.string(), message: z.string() }),
  z.object({ outcome: z.literal('cancelled'), stepId: z.string(), interrupted: z.boolean() }),
]);
export type RunEnding = z.infer<typeof RunEndingSchema>;

export interface Run extends RunDoc {
  state: RunState;
  approvals: Decision[];
  /** Rejection, cancellation or expiry. */
  decision?: Decision;
  cancelRequested?: Decision;
  steps: Record<string, StepRecord>;
  startedAt?: number;
  finishedAt?: number;
  /** Why the run failed: which step, what happened. */
  failure?: { stepId?: string; message: string };
  /** The Slack message that shows this run (plan, then live progress). */
  message?: { channel: string; ts: string };
  /** Set once the main steps ended and cleanup steps run. */
  ending?: RunEnding;
  /** The last run-time gate a step opened (approval.gate), open or decided. */
  gate?: Gate;
}

/** Steps that changed something (or may have, when interrupted): for "what was already changed". */
export function changedSteps(run: Run): { stepId: string; name: string; state: StepState }[] {
  return run.plan
    .map((p) => ({ stepId: p.stepId, name: p.name, state: run.steps[p.stepId]?.state ?? 'pending' }))
    .filter((s) => s.state === 'succeeded' || ((s.state === 'failed' || s.state === 'cancelled') && !run.dryRun));
}

/** Event types published once per change, for notifiers (Slack, incident timeline, Statuspage). */
export const RUN_EVENT_TYPES = [
  'run.created',
  'run.approval',
  'run.approved',
  'run.rejected',
  'run.expired',
  'run.started',
  'run.resumed',
  'run.cancel_requested',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
  'step.started',
  'step.progress',
  'step.retrying',
  'step.succeeded',
  'step.failed',
  'step.skipped',
  'step.cancelled',
  'gate.opened',
  'gate.decided',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

export const RunEventSchema = z.object({
  type: z.enum(RUN_EVENT_TYPES),
  runId: z.string(),
  at: z.number(),
  stepId: z.string().optional(),
  message: z.string().optional(),
  percent: z.number().optional(),
  actor: ActorSchema.optional(),
});
export type RunEvent = z.infer<typeof RunEventSchema>;

export const AuditEntrySchema = z.object({
  at: z.number(),
  actor: ActorSchema,
  action: z.string(),
  detail: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
