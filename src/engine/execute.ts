import type { Logger } from '../log/logger.ts';
import type { RunObserver } from '../observe/metrics.ts';
import type { Scalar, Scope } from '../runbooks/refs.ts';
import { isTerminal, type PlannedStep, type Run, type RunEnding, type RunState, type StepRecord, SYSTEM_ACTOR } from '../runs/model.ts';
import type { ChangeOptions, RunStore } from '../runs/store.ts';
import type { StepRegistry } from '../steps/registry.ts';
import { isPermanent, type Step, type StepContext, type StepOutputs } from '../steps/types.ts';
import { formatDuration } from '../util/duration.ts';
import { bindStepParams } from './bind.ts';
import { abortableSleep, backoff, Interrupt, untilAborted } from './interrupts.ts';
import { type CleanupResult, endingText, RunEnder } from './finish.ts';
import { coalescedProgress } from './progress.ts';

/**
 * Executes one run, step by step, resuming where an earlier execution stopped:
 * finished steps are skipped (their outputs reused), an interrupted step is
 * re-entered (steps are idempotent). Every write is fenced by `token`, so an
 * executor that lost the run to another worker stops instead of writing.
 */
export interface ExecuteDeps {
  store: RunStore;
  registry: StepRegistry;
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
  now?: () => number;
}

export type ExecuteOutcome = RunState | 'handed_back' | 'lost' | 'missing';

class LostOwnership extends Error {}

type StepResult =
  | { kind: 'succeeded'; outputs: StepOutputs }
  | { kind: 'failed'; message: string }
  | { kind: 'cancelled' }
  | { kind: 'shutdown' };

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
  private readonly d: Required<Omit<ExecuteDeps, 'drain' | 'interrupt' | 'observer'>> & Pick<ExecuteDeps, 'drain' | 'interrupt' | 'observer'>;
  private readonly log: Logger;
  private runStartedAt = 0;
  private runTimeoutMs = 0;

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
    if (!(await this.claim(run))) return (await this.store.get(this.runId))?.state ?? 'missing';
    run = await this.store.get(this.runId);
    if (!run?.startedAt) return 'missing';
    this.runStartedAt = run.startedAt;
    this.runTimeoutMs = run.timeoutMs;

    const deadline = run.startedAt + run.timeoutMs;
    const scope: Scope & { outputs: Record<string, Record<string, Scalar>> } = {
      params: run.params,
      outputs: {},
      run: { id: run.id, shortId: run.id },
    };
    // A run whose main steps already ended (a worker stopped during cleanup) goes straight to its cleanup.
    const ending = run.ending ?? (await this.runMainSteps(run, scope, deadline));
    if (ending === 'handed_back') return 'handed_back';
    const cleanup = await this.runCleanup(run, ending, scope);
    if (cleanup === 'handed_back') return 'handed_back';
    return this.finish(run, ending, cleanup);
  }

  /** The runbook's main steps, in order, until one fails, the run is cancelled, or all succeed. */
  private async runMainSteps(run: Run, scope: Scope & { outputs: Record<string, Record<string, Scalar>> }, deadline: number): Promise<RunEnding | 'handed_back'> {
    for (const planned of run.plan.filter((p) => !p.always)) {
      const record = run.steps[planned.stepId] ?? { state: 'pending', attempts: 0 };
      if (record.state === 'succeeded') {
        scope.outputs[planned.stepId] = record.outputs ?? {};
        continue;
      }
      if (record.state === 'skipped') continue;
      if (this.d.drain?.aborted) return 'handed_back';
      if (await this.store.isCancelRequested(this.runId)) return { outcome: 'cancelled', stepId: planned.stepId, interrupted: false };
      if (this.d.now() >= deadline) {
        return this.failStep(planned, record, `the run's deadline (${formatDuration(run.timeoutMs)}) passed before this step started`);
      }
      const step = this.d.registry.get(planned.use);
      if (!step) return this.failStep(planned, record, `step type ${planned.use} is not available on this worker`);

      if (run.dryRun) {
        await this.dryRunStep(step, planned, record, scope);
        continue;
      }
      const bound = bindStepParams(step, planned.with, scope, false, planned.pinned);
      if (!bound.ok) return this.failStep(planned, record, `invalid parameters: ${bound.problem}`);

      const result = await this.runStep(run, step, planned, record, bound.params, deadline, false);
      switch (result.kind) {
        case 'succeeded':
          scope.outputs[planned.stepId] = result.outputs;
          break;
        case 'failed':
          return this.failStep(planned, await this.currentRecord(planned), result.message);
        case 'cancelled':
          await this.cancelStep(planned, await this.currentRecord(planned));
          return { outcome: 'cancelled', stepId: planned.stepId, interrupted: true };
        case 'shutdown':
          return 'handed_back';
      }
    }
    return { outcome: 'succeeded' };
  }

  /**
   * The runbook's `always` steps, however the main steps ended. The ending is
   * stored first, so a worker that takes the run over resumes here. Cleanup
   * is not cut short by a cancel or the run's deadline (each step keeps its
   * own timeout), and one failed cleanup step does not skip the next.
   */
  private async runCleanup(run: Run, ending: RunEnding, scope: Scope & { outputs: Record<string, Record<string, Scalar>> }): Promise<CleanupResult | 'handed_back'> {
    const cleanup = run.plan.filter((p) => p.always);
    if (cleanup.length === 0) return {};
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
      const step = this.d.registry.get(planned.use);
      if (step && run.dryRun) {
        await this.dryRunStep(step, planned, record, scope);
        continue;
      }
      const bound = step ? bindStepParams(step, planned.with, scope, false, planned.pinned) : undefined;
      if (!step || !bound?.ok) {
        const message = step ? `invalid parameters: ${bound && !bound.ok ? bound.problem : ''}` : `step type ${planned.use} is not available on this worker`;
        await this.failStep(planned, record, message);
        failed ??= { stepId: planned.stepId, message };
        continue;
      }
      const result = await this.runStep(run, step, planned, record, bound.params, Number.POSITIVE_INFINITY, true);
      if (result.kind === 'shutdown') return 'handed_back';
      if (result.kind === 'succeeded') scope.outputs[planned.stepId] = result.outputs;
      if (result.kind === 'failed') {
        await this.failStep(planned, await this.currentRecord(planned), result.message);
        failed ??= { stepId: planned.stepId, message: result.message };
      }
    }
    return failed ? { failed } : {};
  }

  /** Ends the run as its main steps ended; a failed cleanup fails a run that would have succeeded, and is named in any case. */
  private async finish(run: Run, ending: RunEnding, cleanup: CleanupResult): Promise<ExecuteOutcome> {
    const cleanupNote = cleanup.failed ? `cleanup step ${cleanup.failed.stepId} failed: ${cleanup.failed.message}` : undefined;
    switch (ending.outcome) {
      case 'succeeded':
        return cleanup.failed ? this.endFailed(run, cleanup.failed.stepId, `${cleanup.failed.message} (a cleanup step; the main steps succeeded)`) : this.endSucceeded(run);
      case 'failed':
        return this.endFailed(run, ending.stepId, cleanupNote ? `${ending.message}; ${cleanupNote}` : ending.message);
      case 'cancelled':
        return this.endCancelled(run, ending, cleanupNote);
    }
  }

  /** approved → running, or take over a run another worker was executing when it died. */
  private async claim(run: Run): Promise<boolean> {
    const at = this.d.now();
    if (run.state === 'approved') {
      const res = await this.store.transition(this.runId, 'running', {
        event: { type: 'run.started' },
        audit: { actor: SYSTEM_ACTOR, action: 'started', detail: run.dryRun ? 'dry run' : undefined },
        fields: { owner: this.d.token, startedAt: String(at) },
        at,
      });
      if (res.ok) {
        this.log.info('run started');
        return true;
      }
      if (res.current !== 'running') return false;
    }
    const res = await this.store.update(this.runId, 'running', {
      event: { type: 'run.resumed', message: 'resumed after the previous worker stopped' },
      audit: { actor: SYSTEM_ACTOR, action: 'resumed', detail: 'a worker took the run over after the previous one stopped' },
      fields: { owner: this.d.token },
      at,
    });
    if (res.ok) this.log.warn('run resumed after its previous worker stopped');
    return res.ok;
  }

  private async currentRecord(planned: PlannedStep): Promise<StepRecord> {
    const run = await this.store.get(this.runId);
    return run?.steps[planned.stepId] ?? { state: 'pending', attempts: 0 };
  }

  /** Writes the step's record; throws LostOwnership when another executor owns the run now. */
  private async writeStep(stepId: string, record: StepRecord, options: ChangeOptions = {}): Promise<void> {
    const res = await this.store.setStep(this.runId, stepId, record, { ...options, owner: this.d.token });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
    if (!res.ok) this.log.warn({ stepId, current: res.current }, 'step update refused: run is no longer running');
  }

  private async dryRunStep(step: Step, planned: PlannedStep, record: StepRecord, scope: Scope): Promise<void> {
    const bound = bindStepParams(step, planned.with, scope, true, planned.pinned);
    const ctx = { runId: this.runId, stepId: planned.stepId, logger: this.log, signal: new AbortController().signal, runTimeoutMs: this.runTimeoutMs, pin: () => undefined };
    const lines = bound.ok
      ? await step.plan(ctx, bound.params)
      : [{ action: 'check' as const, resource: planned.stepId, detail: `would fail: ${bound.problem}` }];
    const at = this.d.now();
    await this.writeStep(
      planned.stepId,
      { ...record, state: 'skipped', startedAt: at, finishedAt: at, wouldDo: lines },
      {
        event: { type: 'step.skipped', stepId: planned.stepId, message: `dry run: would ${lines.map((l) => l.detail).join('; ')}` },
        audit: { actor: SYSTEM_ACTOR, action: 'dry run step', detail: `${planned.stepId}: ${lines.map((l) => l.detail).join('; ')}` },
        at,
      },
    );
  }

  private async runStep(
    run: Run,
    step: Step,
    planned: PlannedStep,
    initial: StepRecord,
    params: Record<string, unknown>,
    runDeadline: number,
    /** A cleanup step: a cancel does not interrupt it. */
    cleanup: boolean,
  ): Promise<StepResult> {
    const stepId = planned.stepId;
    let record: StepRecord = { ...initial };
    const reentered = initial.state === 'running';
    let failures = 0;
    for (;;) {
      const started = this.d.now();
      record = { ...record, state: 'running', attempts: record.attempts + 1, startedAt: record.startedAt ?? started };
      delete record.error;
      const message = reentered && failures === 0 ? 're-entered after the previous worker stopped' : failures > 0 ? `attempt ${record.attempts}` : undefined;
      await this.writeStep(stepId, record, {
        event: { type: 'step.started', stepId, ...(message ? { message } : {}) },
        ...(failures === 0 ? { audit: { actor: SYSTEM_ACTOR, action: reentered ? 'step re-entered' : 'step started', detail: stepId } } : {}),
        at: started,
      });

      const stepDeadline = Math.min(started + planned.timeoutMs, runDeadline);
      const attempt = await this.attempt(step, planned, record, params, stepDeadline, runDeadline, cleanup);
      if (attempt.kind !== 'error') {
        if (attempt.kind === 'succeeded') {
          const at = this.d.now();
          record = { ...(await this.currentRecord(planned)), state: 'succeeded', finishedAt: at, outputs: attempt.outputs };
          await this.writeStep(stepId, record, {
            event: { type: 'step.succeeded', stepId, message: `done in ${formatDuration(at - (record.startedAt ?? at))}` },
            audit: { actor: SYSTEM_ACTOR, action: 'step succeeded', detail: `${stepId}${outputsText(attempt.outputs)}` },
            at,
          });
          this.d.observer?.stepFinished(planned.use, 'succeeded', (at - (record.startedAt ?? at)) / 1_000);
        }
        return attempt;
      }
      const err = attempt.error;
      const text = err instanceof Error ? err.message : String(err);
      failures += 1;
      if (isPermanent(err)) return { kind: 'failed', message: text };
      if (failures > planned.retries) {
        return { kind: 'failed', message: `${text} (gave up after ${failures} attempt${failures === 1 ? '' : 's'})` };
      }
      const delay = backoff(failures, this.d.retryBaseMs, this.d.retryMaxMs);
      if (this.d.now() + delay >= stepDeadline) {
        return { kind: 'failed', message: `${text} (no time left to retry before the step's deadline)` };
      }
      this.log.warn({ stepId, attempt: record.attempts, delayMs: delay, err: text }, 'step failed; retrying');
      await this.writeStep(stepId, { ...record, error: text }, {
        event: { type: 'step.retrying', stepId, message: `attempt ${record.attempts} failed (${text}); retrying in ${formatDuration(delay)}` },
      });
      const waited = await this.interruptibleWait(delay, cleanup);
      if (waited !== 'done') return waited === 'cancelled' ? { kind: 'cancelled' } : { kind: 'shutdown' };
    }
  }

  /** One call of `step.run`, interrupted by cancellation, its deadline, shutdown or loss of the run. */
  private async attempt(
    step: Step,
    planned: PlannedStep,
    record: StepRecord,
    params: Record<string, unknown>,
    stepDeadline: number,
    runDeadline: number,
    cleanup: boolean,
  ): Promise<StepResult | { kind: 'error'; error: unknown }> {
    const controller = new AbortController();
    const interrupt = (kind: Interrupt['kind'], message: string) => {
      if (!controller.signal.aborted) controller.abort(new Interrupt(kind, message));
    };
    const timeoutMessage =
      stepDeadline === runDeadline
        ? `the run's deadline passed while this step was running`
        : `timed out after ${formatDuration(planned.timeoutMs)}`;
    const timer = setTimeout(() => {
      interrupt('timeout', timeoutMessage);
    }, Math.max(0, stepDeadline - this.d.now()));
    const onShutdown = () => {
      interrupt('shutdown', 'worker is shutting down');
    };
    if (this.d.interrupt?.aborted) onShutdown();
    this.d.interrupt?.addEventListener('abort', onShutdown);
    const poller = setInterval(() => {
      void this.pollInterrupts(cleanup).then((kind) => {
        if (kind === 'cancelled') interrupt('cancelled', 'cancelled');
        if (kind === 'lost') interrupt('lost', 'another worker took the run over');
      });
    }, this.d.pollMs);
    const progress = coalescedProgress({
      stepId: planned.stepId,
      intervalMs: this.d.progressIntervalMs,
      now: this.d.now,
      current: () => record,
      write: ({ record: next, event, at }) => this.writeStep(planned.stepId, next, { event, at }),
      onWriteError: (err) => {
        this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'progress update not written');
      },
    });
    const ctx: StepContext = {
      runId: this.runId,
      stepId: planned.stepId,
      shortRunId: this.runId,
      idempotencyKey: `${this.runId}-${planned.stepId}`,
      attempt: record.attempts,
      deadline: stepDeadline,
      runStartedAt: this.runStartedAt,
      runTimeoutMs: this.runTimeoutMs,
      logger: this.log.child({ stepId: planned.stepId }),
      signal: controller.signal,
      progress: progress.report,
      sleep: (ms) => abortableSleep(ms, controller.signal),
    };
    try {
      const outputs = await untilAborted(step.run(ctx, params), controller.signal);
      return { kind: 'succeeded', outputs };
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (reason instanceof Interrupt) {
        if (reason.kind === 'lost') throw new LostOwnership();
        if (reason.kind === 'cancelled') return { kind: 'cancelled' };
        if (reason.kind === 'shutdown') return { kind: 'shutdown' };
        return { kind: 'failed', message: reason.message };
      }
      return { kind: 'error', error };
    } finally {
      clearTimeout(timer);
      clearInterval(poller);
      this.d.interrupt?.removeEventListener('abort', onShutdown);
      await progress.flush();
    }
  }

  /** Whether the run was taken over or (unless `ignoreCancel`, for cleanup steps) cancelled. */
  private async pollInterrupts(ignoreCancel: boolean): Promise<'cancelled' | 'lost' | undefined> {
    try {
      if ((await this.store.owner(this.runId)) !== this.d.token) return 'lost';
      if (!ignoreCancel && (await this.store.isCancelRequested(this.runId))) return 'cancelled';
    } catch {
      // Redis unreachable for a moment: check again on the next tick.
    }
    return undefined;
  }

  /** Waits between retries; cancellation (of a main step) and shutdown cut it short. */
  private async interruptibleWait(ms: number, ignoreCancel: boolean): Promise<'done' | 'cancelled' | 'shutdown'> {
    const until = this.d.now() + ms;
    while (this.d.now() < until) {
      if (this.d.drain?.aborted) return 'shutdown';
      if ((await this.pollInterrupts(ignoreCancel)) === 'cancelled') return 'cancelled';
      await new Promise((r) => setTimeout(r, Math.min(this.d.pollMs, Math.max(0, until - this.d.now()))));
    }
    return 'done';
  }

  /** Marks a step failed; the run ends later, after its cleanup. A main step's failure is stored with it as the run's ending. */
  private async failStep(planned: PlannedStep, record: StepRecord, message: string): Promise<RunEnding> {
    const at = this.d.now();
    const ending: RunEnding = { outcome: 'failed', stepId: planned.stepId, message };
    await this.writeStep(planned.stepId, { ...record, state: 'failed', finishedAt: at, error: message }, {
      event: { type: 'step.failed', stepId: planned.stepId, message },
      ...(planned.always ? {} : { fields: { ending: JSON.stringify(ending) } }),
      at,
    });
    this.d.observer?.stepFinished(planned.use, 'failed', (at - (record.startedAt ?? at)) / 1_000);
    return ending;
  }

  private async cancelStep(planned: PlannedStep, record: StepRecord): Promise<void> {
    const at = this.d.now();
    await this.writeStep(planned.stepId, { ...record, state: 'cancelled', finishedAt: at, error: 'interrupted by cancel' }, {
      event: { type: 'step.cancelled', stepId: planned.stepId, message: 'interrupted by cancel' },
      at,
    });
    this.d.observer?.stepFinished(planned.use, 'cancelled', (at - (record.startedAt ?? at)) / 1_000);
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
    return this.ended(await this.ender.succeeded(run));
  }

  private ended(outcome: ExecuteOutcome | 'not_owner'): ExecuteOutcome {
    if (outcome === 'not_owner') throw new LostOwnership();
    return outcome;
  }
}

function outputsText(outputs: StepOutputs): string {
  const entries = Object.entries(outputs);
  return entries.length ? ` (${entries.map(([k, v]) => `${k}=${String(v).slice(0, 100)}`).join(', ')})` : '';
}
