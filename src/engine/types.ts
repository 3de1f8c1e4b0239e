import type { Logger } from '../log/logger.ts';
import type { RunObserver } from '../observe/metrics.ts';
import type { RunState } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import type { StepRegistry } from '../steps/registry.ts';
import type { StepContext } from '../steps/types.ts';
import type { Targets } from '../targets/targets.ts';

/** Types the executor (execute.ts) and the step runner (step-runner.ts) share. */

/** What an execution of a run needs (see executeRun in execute.ts). */
export interface ExecuteDeps {
  store: RunStore;
  registry: StepRegistry;
  /** Where steps act: each step's clients come from its planned target. */
  targets: Targets;
  logger: Logger;
  /** Unique per execution attempt (the BullMQ lock token). */
  token: string;
  /** Aborted when the worker drains: stop before the next step and hand the run back. */
  drain?: AbortSignal;
  /** Aborted when draining took too long: interrupt the running step and hand the run back. */
  interrupt?: AbortSignal;
  /** First retry delay; doubles per attempt, with jitter. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How often a running step checks for cancellation and ownership. */
  pollMs?: number;
  /** Progress updates are written at most this often per step. */
  progressIntervalMs?: number;
  /** Told when steps and runs end (metrics). */
  observer?: RunObserver;
  /** Dry plans of every runbook, for steps that check the bot itself (StepContext.planRunbooks). */
  planRunbooks?: StepContext['planRunbooks'];
  /** The drill record, for the readiness check's drill items (StepContext.drillHistory). */
  drillHistory?: StepContext['drillHistory'];
  /** The readiness record's last measured replication lags (StepContext.replicationLag). */
  replicationLag?: StepContext['replicationLag'];
  now?: () => number;
}

/**
 * How an execution ended: the run's state, or it stopped early: handed back
 * (the worker drains), lost (another worker owns it), missing, or parked (a
 * step waits: the job is to be taken up again at `wakeAt`, by any worker).
 */
export type ExecuteOutcome = RunState | 'handed_back' | 'lost' | 'missing' | { parked: { wakeAt: number } };

/** ExecuteDeps with its defaults applied. */
export type EngineSettings = Required<Omit<ExecuteDeps, 'drain' | 'interrupt' | 'observer' | 'planRunbooks' | 'drillHistory' | 'replicationLag'>> &
  Pick<ExecuteDeps, 'drain' | 'interrupt' | 'observer' | 'planRunbooks' | 'drillHistory' | 'replicationLag'>;

