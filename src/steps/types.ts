import type { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import type { ClusterNotReady } from '../targets/kube.ts';
import type { TargetAccess } from '../targets/targets.ts';
import type { GateAccess } from './gate-access.ts';

/**
 * The contract every recovery action follows (see DESIGN.md "A step"):
 * - `params`: zod object; runbook YAML is checked against it at load time.
 * - `plan()`: read-only calls only; says what will change, fails early on bad input.
 * - `run()`: makes the change, idempotently: a worker may die at any line and
 *   another one re-enters the step with the same `ctx.idempotencyKey`; the step
 *   must adopt what it already did instead of doing it twice.
 */
export interface Step<P extends z.ZodObject = z.ZodObject> {
  /** Registry id used in runbooks' `use:` (e.g. `http.check`, `rds.restore-pitr`). */
  readonly id: string;
  readonly summary: string;
  readonly params: P;
  /** Names of the outputs `run()` returns, referable as `${{ steps.<id>.outputs.<name> }}`. */
  readonly outputs: readonly string[];
  /** Reaches no target (a pause, an HTTP call to an allowed address): front ends show no place for it. */
  readonly targetless?: true;
  /**
   * Safe to enter again after a park: every call before a pause that changes
   * something is a checkpoint (`ctx.once`), the rest are reads. Only such a
   * step parks in its long waits (frees its worker); any other step's waits
   * sleep in the worker (docs/engine.md, "Parked waits").
   */
  readonly resumable?: true;
  /** Read-only: what this step will do with these parameters. */
  plan(ctx: PlanContext, params: z.infer<P>): Promise<PlanLine[]>;
  /**
   * Read-only, optional: what the plan can say while the step's cluster is not
   * there yet (an earlier eks.wait-cluster waits for it), from what exists
   * now; may pin, and refuse. Without it the plan says the step decides then.
   */
  planBeforeCluster?(ctx: PlanContext, params: z.infer<P>, notReady: ClusterNotReady): Promise<PlanLine[]>;
  run(ctx: StepContext, params: z.infer<P>): Promise<StepOutputs>;
}

/** Declares a step with its parameter types inferred from its zod schema. */
export function defineStep<P extends z.ZodObject>(step: Step<P>): Step<P> {
  return step;
}

export type StepOutputs = Record<string, string | number | boolean>;

export type PlanAction = 'create' | 'change' | 'restart' | 'delete' | 'check' | 'wait';

/** One human-readable line of a plan. */
export interface PlanLine {
  action: PlanAction;
  /** The resource acted on, e.g. `rds cluster prod-aurora-dr-1a2b`. */
  resource: string;
  detail: string;
  /** True when the change cannot be undone by the bot. */
  irreversible?: boolean;
}

/** A value a plan resolved and pinned into the approved run. */
export type PinnedValue = string | number | boolean | string[];

/**
 * Both contexts carry the step's target (TargetAccess): `ctx.target` says
 * where it acts, `ctx.aws.rds(region?)`, `ctx.aws.eks(region?)` and
 * `ctx.kube()` reach it with its credentials. Steps hold no clients.
 */
export interface PlanContext extends TargetAccess {
  runId: string;
  stepId: string;
  logger: Logger;
  signal: AbortSignal;
  /** The run's overall timeout: what the run needs must last this long (a backup's expiry). */
  runTimeoutMs: number;
  /**
   * Pins a value this plan resolved (the newest backup, the deployments behind
   * `*`): the approved run gets parameter `param` = `value` as is, instead of
   * resolving it again, so what was approved is what runs. Say so in the plan
   * line; a value resolved again at run time says that instead.
   */
  pin(param: string, value: PinnedValue): void;
}

/** A runbook's dry plan, as the readiness check asks for it of the bot's own runbooks. */
export interface RunbookPlanCheck {
  runbookId: string;
  /** Planned without a problem, could not be planned, or needs parameters no default gives. */
  outcome: 'planned' | 'failed' | 'needs-parameters';
  detail?: string;
}

/** A replication lag the readiness check measured (AuroraGlobalDBRPOLag), and when. */
export interface MeasuredLag {
  seconds: number;
  measuredAt: number;
  /** Which reading gave it: `target dr`, or the region outage's live RPO. */
  source: string;
}

/** One recorded drill as the readiness check reads it (the drill record: src/drills/, docs/drills.md). */
export interface DrillSummary {
  runId: string;
  runbookId: string;
  scenario: string;
  startedAt: number;
  finishedAt: number;
  /** Scored a pass: the run succeeded within its scenario's RTO and RPO. */
  passed: boolean;
  /** From the run's start to the end of its last main step; absent when the recovery did not complete. */
  achievedRtoMs?: number;
  rtoObjectiveMs: number;
  /** Why it did not pass, in short. */
  reasons: string[];
}

export interface StepContext extends Omit<PlanContext, 'pin'> {
  /**
   * The recorded drills, newest first (the drill record keeps 2 years, at
   * most 200 per scenario): for the readiness check's drill items; absent
   * where the record is not at hand.
   */
  drillHistory?: () => Promise<DrillSummary[]>;
  /**
   * Plans every runbook the bot holds, on its default parameters and targets,
   * storing and changing nothing (the readiness check's "every runbook
   * plans"); absent where no run service is at hand.
   */
  planRunbooks?: () => Promise<RunbookPlanCheck[]>;
  /**
   * The last replication lag the readiness check measured for a DR cluster
   * of a global database: what a failover would lose, told to the people
   * asked to accept it; absent where the readiness record is not at hand.
   */
  replicationLag?: (cluster: string) => Promise<MeasuredLag | undefined>;
  /** The run's gates (approval.gate: a question the approvers answer in the run's channel); absent outside the engine's runs. */
  gate?: GateAccess;
  /** Stable across re-entries of this step in this run: name what you create after it. */
  idempotencyKey: string;
  /** Short run id for resource names (`<source>-dr-<shortRunId>`). */
  shortRunId: string;
  /** 1 on the first try of this step, 2 on the first retry or re-entry, … */
  attempt: number;
  /** When the step must be finished (step timeout or run deadline, whichever comes first). */
  deadline: number;
  /** When the run started (for steps that report the run's timing). */
  runStartedAt: number;
  /** Reports progress for the live view; cheap to call often (coalesced). */
  progress(message: string, percent?: number): void;
  /** Sleeps in this process, rejecting at once when the step is cancelled or times out. Long waits use `pause`. */
  sleep(ms: number): Promise<void>;
  /**
   * A checkpoint: the first call runs `fn` and stores its result (JSON) in
   * the run; once stored, every later entry of this step (after a park, a
   * crash, a retry) gets the stored result without calling `fn`. Wrap every
   * call that changes something in one, named after what it does
   * ("create-cluster"); a crash while `fn` runs repeats it, so the step's
   * adoption logic (idempotency key, names after the run) stays.
   */
  once<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Where wait `name` of this step was when it last paused (undefined: it has not paused yet in this run). */
  waitMemo(name: string): Promise<WaitMemo | undefined>;
  /**
   * Waits `ms` before the next look of wait `name`. A short wait sleeps in
   * this process; a long one stores `memo` and parks: the worker is given
   * back, and `run()` is entered again from the start when the time comes
   * (sooner on a cancel), by whichever worker is free. Code before the pause
   * must therefore be checkpoints (`once`) and looks. Never returns past the
   * step's deadline.
   */
  pause(name: string, ms: number, memo: WaitMemo): Promise<void>;
}

/** Where a wait was when its step paused: it resumes from here instead of starting afresh. */
export interface WaitMemo {
  /** When the wait started (its first look). */
  startedAt: number;
  /** Looks made so far. */
  looks: number;
  /** The delay after the next look. */
  delayMs: number;
  /** The last state seen, for messages. */
  state: string;
  /** What its looks noted for the looks after them (pollUntil's marks). */
  marks?: Record<string, number>;
}

/**
 * A failure that retrying will not fix: bad input, access denied, a conflicting
 * resource. The run fails at once with this message.
 */
export class PermanentStepError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentStepError';
  }
}

/** Any other error is treated as transient and retried with backoff. */
export function isPermanent(err: unknown): boolean {
  // A wrapped cause counts too: a target's role STS refused stays refused, whichever step met it.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof PermanentStepError || e.name === 'PermanentStepError' || (e as { permanent?: unknown }).permanent === true) return true;
  }
  return false;
}
