import type { Logger } from '../log/logger.ts';
import type { Scalar, Scope } from '../runbooks/refs.ts';
import { isTerminal, type PlannedStep, type Run, type RunEnding, type StepRecord, SYSTEM_ACTOR } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { formatDuration } from '../util/duration.ts';
import { bindStepParams } from './bind.ts';
import { type CleanupResult, endingText, RunEnder } from './finish.ts';
import { LostOwnership } from './interrupts.ts';
import { PARKED_FIELD, type ParkMarker, parseParkMarker } from './park.ts';
import { StepRunner } from './step-runner.ts';
import type { EngineSettings, ExecuteDeps, ExecuteOutcome } from './types.ts';

export type { ExecuteDeps, ExecuteOutcome } from './types.ts';

/** The run stopped at a long wait: its job is to be taken up again at `wakeAt`. */
type Parked = { parked: { wakeAt: number } };
type Scoped = Scope & { outputs: Record<string, Record<string, Scalar>> };

/**
 * Executes one run, step by step, resuming where an earlier execution stopped:
 * finished steps are skipped (their outputs reused), an interrupted step is
 * re-entered (steps are idempotent). Every write is fenced by `token`, so an
 * executor that lost the run to another worker stops instead of writing.
 */
export async function executeRun(runId: string, deps: ExecuteDeps): Promise<ExecuteOutcome> {
  try {
    return await new Execution(runId, deps).execute();
  } catch (err) {
    if (err instanceof LostOwnership) {
      deps.logger.warn({ runId }, 'another worker took this run over; stopping here');
      return 'lost';
    }
    throw err;
  }
}

class Execution {
  private readonly runId: string;
  private readonly d: EngineSettings;
  private readonly log: Logger;
  /** Runs single steps; made once the run is claimed (it needs the run's start). */
  private steps!: StepRunner;
  /** Set when this execution takes up a parked run: the step that parked goes on with its attempt. */
  private resume: ParkMarker | undefined;
  /** When this execution's claim was made: the run's start, when the claim started it. */
  private startedAt = 0;

  constructor(runId: string, deps: ExecuteDeps) {
    this.runId = runId;
    this.d = { retryBaseMs: 1_000, retryMaxMs: 60_000, pollMs: 500, progressIntervalMs: 1_000, now: Date.now, ...deps };
    this.log = deps.logger.child({ runId });
  }

  private get store(): RunStore {
    return this.d.store;
  }

  async execute(): Promise<ExecuteOutcome> {
    let run = await this.store.get(this.runId);
    if (!run) return 'missing';
    if (isTerminal(run.state)) return run.state;
    if (run.state !== 'approved' && run.state !== 'running') {
      this.log.warn({ state: run.state }, 'run is not approved; not executing');
      return run.state;
    }
    const claimed = await this.claim(run);
    if (!claimed) return (await this.store.get(this.runId))?.state ?? 'missing';
    // A fresh start changed only the state, owner and start (no executor wrote the run before): no second read.
    // A takeover reads the run again, as the previous executor may have written steps until the claim fenced it off.
    run = claimed === 'started' ? { ...run, state: 'running', startedAt: this.startedAt } : await this.store.get(this.runId);
    if (!run?.startedAt) return 'missing';
    this.steps = new StepRunner(this.runId, this.d, this.log, { startedAt: run.startedAt, timeoutMs: run.timeoutMs });

    const deadline = run.startedAt + run.timeoutMs;
    const scope: Scoped = {
      params: run.params,
      outputs: {},
      run: { id: run.id, shortId: run.id, incidentId: run.origin.incidentId ?? '' },
    };
    // A run whose main steps already ended (a worker stopped during cleanup) goes straight to its cleanup.
    const ending = run.ending ?? (await this.runMainSteps(run, scope, deadline));
    if (ending === 'handed_back' || 'parked' in ending) return this.leave(ending);
    const cleanup = await this.runCleanup(run, ending, scope);
    if (cleanup === 'handed_back' || 'parked' in cleanup) return this.leave(cleanup);
    return this.finish(run, ending, cleanup);
  }

  /** Hands the run back (or parks it) with every step's success written. */
  private async leave<T>(outcome: T): Promise<T> {
    await this.steps.flush();
    return outcome;
  }

  /** The runbook's main steps, in order, until one fails, the run is cancelled, or all succeed. */
  private async runMainSteps(run: Run, scope: Scoped, deadline: number): Promise<RunEnding | 'handed_back' | Parked> {
    for (const planned of run.plan.filter((p) => !p.always)) {
      const record = run.steps[planned.stepId] ?? { state: 'pending', attempts: 0 };
      if (record.state === 'succeeded') {
        scope.outputs[planned.stepId] = record.outputs ?? {};
        continue;
      }
      if (record.state === 'skipped') continue;
      if (this.d.drain?.aborted) return 'handed_back';
      // A cancel comes before anything else the step would do. A step about to start sees it in its
      // start write (StepRunner.run); a step under way, a dry run and a refusal look here first.
      const startsFresh = record.state !== 'running' && !run.dryRun;
      if (!startsFresh) {
        const cancelled = await this.cancelledBefore(planned, record);
        if (cancelled) return cancelled;
      }
      const refuse = async (failure: string, auditAction?: string): Promise<RunEnding> =>
        (startsFresh ? await this.cancelledBefore(planned, record) : undefined) ?? this.steps.fail(planned, record, failure, auditAction);
      // A step under way meets the deadline inside its attempt, which says so.
      if (this.d.now() >= deadline && record.state !== 'running') {
        return refuse(`the run's deadline (${formatDuration(run.timeoutMs)}) passed before this step started`);
      }
      const step = this.d.registry.get(planned.use);
      if (!step) return refuse(`step type ${planned.use} is not available on this worker`);
      const moved = this.steps.placeMoved(planned);
      if (moved) return refuse(moved, 'step refused');

      if (run.dryRun) {
        await this.steps.dryRun(step, planned, record, scope);
        continue;
      }
      const bound = bindStepParams(step, planned.with, scope, false, planned.pinned);
      if (!bound.ok) return refuse(`invalid parameters: ${bound.problem}`);

      const result = await this.steps.run(run, step, planned, record, bound.params, deadline, false, this.resume);
      switch (result.kind) {
        case 'succeeded':
          scope.outputs[planned.stepId] = result.outputs;
          break;
        case 'failed':
          return this.steps.fail(planned, await this.steps.currentRecord(planned), result.message);
        case 'cancelled':
          if (result.beforeStart) return { outcome: 'cancelled', stepId: planned.stepId, interrupted: false };
          await this.steps.cancel(planned, await this.steps.currentRecord(planned));
          return { outcome: 'cancelled', stepId: planned.stepId, interrupted: true };
        case 'shutdown':
          return 'handed_back';
        case 'parked':
          return { parked: { wakeAt: result.wakeAt } };
      }
    }
    return { outcome: 'succeeded' };
  }

  /** The run's ending when a cancel is requested before `planned` goes on; a step already under way (parked, or its worker stopped) is interrupted by it. */
  private async cancelledBefore(planned: PlannedStep, record: StepRecord): Promise<RunEnding | undefined> {
    if (!(await this.store.isCancelRequested(this.runId))) return undefined;
    if (record.state !== 'running') return { outcome: 'cancelled', stepId: planned.stepId, interrupted: false };
    await this.steps.cancel(planned, record);
    return { outcome: 'cancelled', stepId: planned.stepId, interrupted: true };
  }

  /**
   * The runbook's `always` steps, however the main steps ended. The ending is
   * stored first, so a worker that takes the run over resumes here. Cleanup
   * is not cut short by a cancel or the run's deadline (each step keeps its
   * own timeout), and one failed cleanup step does not skip the next.
   */
  private async runCleanup(run: Run, ending: RunEnding, scope: Scoped): Promise<CleanupResult | 'handed_back' | Parked> {
    const cleanup = run.plan.filter((p) => p.always);
    if (cleanup.length === 0) return {};
    // The run is read next: the last main step's success is written first.
    await this.steps.flush();
    let current = (await this.store.get(this.runId)) ?? run;
    if (cleanup.every((p) => (current.steps[p.stepId]?.state ?? 'pending') === 'pending')) {
      const res = await this.store.update(this.runId, 'running', {
        owner: this.d.token,
        fields: { ending: JSON.stringify(ending) },
        audit: { actor: SYSTEM_ACTOR, action: 'cleanup started', detail: `${endingText(ending)}; running ${cleanup.map((p) => p.stepId).join(', ')}` },
      });
      if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
      current = (await this.store.get(this.runId)) ?? current;
    }
    let failed: CleanupResult['failed'];
    for (const planned of cleanup) {
      const record = current.steps[planned.stepId] ?? { state: 'pending', attempts: 0 };
      if (record.state === 'succeeded') {
        scope.outputs[planned.stepId] = record.outputs ?? {};
        continue;
      }
      if (record.state === 'failed') {
        failed ??= { stepId: planned.stepId, message: record.error ?? 'failed' };
        continue;
      }
      if (record.state === 'skipped') continue;
      if (this.d.drain?.aborted) return 'handed_back';
      // A cleanup step never acts on a place other than the approved one either; cleanups where nothing moved still run.
      const moved = this.steps.placeMoved(planned);
      if (moved) {
        const refused = await this.steps.fail(planned, record, moved, 'step refused');
        failed ??= { stepId: planned.stepId, message: refused.message };
        continue;
      }
      const step = this.d.registry.get(planned.use);
      if (step && run.dryRun) {
        await this.steps.dryRun(step, planned, record, scope);
        continue;
      }
      const bound = step ? bindStepParams(step, planned.with, scope, false, planned.pinned) : undefined;
      if (!step || !bound?.ok) {
        const message = step ? `invalid parameters: ${bound && !bound.ok ? bound.problem : ''}` : `step type ${planned.use} is not available on this worker`;
        await this.steps.fail(planned, record, message);
        failed ??= { stepId: planned.stepId, message };
        continue;
      }
      const result = await this.steps.run(run, step, planned, record, bound.params, Number.POSITIVE_INFINITY, true, this.resume);
      if (result.kind === 'shutdown') return 'handed_back';
      if (result.kind === 'parked') return { parked: { wakeAt: result.wakeAt } };
      if (result.kind === 'succeeded') scope.outputs[planned.stepId] = result.outputs;
      if (result.kind === 'failed') {
        await this.steps.fail(planned, await this.steps.currentRecord(planned), result.message);
        failed ??= { stepId: planned.stepId, message: result.message };
      }
    }
    return failed ? { failed } : {};
  }

  /** Ends the run as its main steps ended; a failed cleanup fails a run that would have succeeded, and is named in any case. */
  private async finish(run: Run, ending: RunEnding, cleanup: CleanupResult): Promise<ExecuteOutcome> {
    // A cleanup refused for the main step's reason (both on a target that moved) says so, not the whole reason again.
    const sameReason = ending.outcome === 'failed' && cleanup.failed?.message === ending.message;
    const cleanupNote = cleanup.failed ? `cleanup step ${cleanup.failed.stepId} failed${sameReason ? ' for the same reason' : `: ${cleanup.failed.message}`}` : undefined;
    // A success is written with the run's end; a failure or a cancel reads the run first, so it is written before.
    if (ending.outcome !== 'succeeded' || cleanup.failed) await this.steps.flush();
    switch (ending.outcome) {
      case 'succeeded':
        return cleanup.failed ? this.endFailed(run, cleanup.failed.stepId, `${cleanup.failed.message} (a cleanup step; the main steps succeeded)`) : this.endSucceeded(run);
      case 'failed':
        return this.endFailed(run, ending.stepId, cleanupNote ? `${ending.message}; ${cleanupNote}` : ending.message);
      case 'cancelled':
        return this.endCancelled(run, ending, cleanupNote);
    }
  }

  /** approved → running ('started'), or take over a run another worker was executing when it died ('taken'). */
  private async claim(run: Run): Promise<'started' | 'taken' | false> {
    const at = this.d.now();
    this.startedAt = at;
    if (run.state === 'approved') {
      const res = await this.store.transition(this.runId, 'running', {
        event: { type: 'run.started' },
        audit: { actor: SYSTEM_ACTOR, action: 'started', detail: run.dryRun ? 'dry run' : undefined },
        fields: { owner: this.d.token, startedAt: String(at) },
        at,
      });
      if (res.ok) {
        this.log.info('run started');
        return 'started';
      }
      if (res.current !== 'running') return false;
    }
    // A parked run taken up for its next look: a continuation, not a takeover (nothing is announced).
    const parked = parseParkMarker(await this.store.field(this.runId, PARKED_FIELD));
    if (parked) {
      const res = await this.store.update(this.runId, 'running', { fields: { owner: this.d.token, [PARKED_FIELD]: '' }, at });
      if (res.ok) {
        this.resume = parked;
        this.log.debug({ stepId: parked.stepId }, 'parked run taken up for its next look');
        return 'taken';
      }
      return false;
    }
    const res = await this.store.update(this.runId, 'running', {
      event: { type: 'run.resumed', message: 'resumed after the previous worker stopped' },
      audit: { actor: SYSTEM_ACTOR, action: 'resumed', detail: 'a worker took the run over after the previous one stopped' },
      fields: { owner: this.d.token },
      at,
    });
    if (!res.ok) return false;
    this.log.warn('run resumed after its previous worker stopped');
    return 'taken';
  }

  private get ender(): RunEnder {
    return new RunEnder({ store: this.store, token: this.d.token, now: this.d.now, observer: this.d.observer, log: this.log, runId: this.runId });
  }

  private async endFailed(run: Run, stepId: string, message: string): Promise<ExecuteOutcome> {
    return this.ended(await this.ender.failed(run, stepId, message));
  }

  private async endCancelled(run: Run, ending: Extract<RunEnding, { outcome: 'cancelled' }>, cleanupNote: string | undefined): Promise<ExecuteOutcome> {
    return this.ended(await this.ender.cancelled(run, ending, cleanupNote));
  }

  private async endSucceeded(run: Run): Promise<ExecuteOutcome> {
    return this.ended(await this.ender.succeeded(run, this.steps.takeUnwritten()));
  }

  private ended(outcome: ExecuteOutcome | 'not_owner'): ExecuteOutcome {
    if (outcome === 'not_owner') throw new LostOwnership();
    return outcome;
  }
}
