import type { Logger } from '../log/logger.ts';
import type { RunObserver } from '../observe/metrics.ts';
import type { Scalar, Scope } from '../runbooks/refs.ts';
import { changedSteps, isTerminal, type PlannedStep, type Run, type RunState, type StepRecord, SYSTEM_ACTOR } from '../runs/model.ts';
import type { ChangeOptions, RunStore } from '../runs/store.ts';
import type { StepRegistry } from '../steps/registry.ts';
import { isPermanent, type Step, type StepContext, type StepOutputs } from '../steps/types.ts';
import { formatDuration } from '../util/duration.ts';
import { bindStepParams } from './bind.ts';

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

/** Thrown into a step's signal to say why it was interrupted. */
class Interrupt extends Error {
  readonly kind: 'cancelled' | 'timeout' | 'lost' | 'shutdown';
  constructor(kind: Interrupt['kind'], message: string) {
    super(message);
    this.name = 'Interrupt';
    this.kind = kind;
  }
}

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

    const deadline = run.startedAt + run.timeoutMs;
    const scope: Scope & { outputs: Record<string, Record<string, Scalar>> } = {
      params: run.params,
      outputs: {},
      run: { id: run.id, shortId: run.id },
    };
    for (const planned of run.plan) {
      const record = run.steps[planned.stepId] ?? { state: 'pending', attempts: 0 };
      if (record.state === 'succeeded') {
        scope.outputs[planned.stepId] = record.outputs ?? {};
        continue;
      }
      if (record.state === 'skipped') continue;
      if (this.d.drain?.aborted) return 'handed_back';
      if (await this.store.isCancelRequested(this.runId)) return this.finishCancelled(run, planned, record, false);
      if (this.d.now() >= deadline) {
        return this.finishFailed(run, planned, record, `the run's deadline (${formatDuration(run.timeoutMs)}) passed before this step started`);
      }
      const step = this.d.registry.get(planned.use);
      if (!step) return this.finishFailed(run, planned, record, `step type ${planned.use} is not available on this worker`);

      if (run.dryRun) {
        await this.dryRunStep(step, planned, record, scope);
        continue;
      }
      const bound = bindStepParams(step, planned.with, scope, false);
      if (!bound.ok) return this.finishFailed(run, planned, record, `invalid parameters: ${bound.problem}`);

      const result = await this.runStep(run, step, planned, record, bound.params, deadline);
      switch (result.kind) {
        case 'succeeded':
          scope.outputs[planned.stepId] = result.outputs;
          break;
        case 'failed':
          return this.finishFailed(run, planned, await this.currentRecord(planned), result.message);
        case 'cancelled':
          return this.finishCancelled(run, planned, await this.currentRecord(planned), true);
        case 'shutdown':
          return 'handed_back';
      }
    }
    return this.finishSucceeded(run);
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
    const bound = bindStepParams(step, planned.with, scope, true);
    const lines = bound.ok
      ? await step.plan({ runId: this.runId, stepId: planned.stepId, logger: this.log, signal: new AbortController().signal }, bound.params)
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
      const attempt = await this.attempt(step, planned, record, params, stepDeadline, runDeadline);
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
      const waited = await this.interruptibleWait(delay);
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
      void this.pollInterrupts().then((kind) => {
        if (kind === 'cancelled') interrupt('cancelled', 'cancelled');
        if (kind === 'lost') interrupt('lost', 'another worker took the run over');
      });
    }, this.d.pollMs);
    const progress = this.progressReporter(planned.stepId, () => record);
    const ctx: StepContext = {
      runId: this.runId,
      stepId: planned.stepId,
      shortRunId: this.runId,
      idempotencyKey: `${this.runId}-${planned.stepId}`,
      attempt: record.attempts,
      deadline: stepDeadline,
      runStartedAt: this.runStartedAt,
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

  private async pollInterrupts(): Promise<'cancelled' | 'lost' | undefined> {
    try {
      if ((await this.store.owner(this.runId)) !== this.d.token) return 'lost';
      if (await this.store.isCancelRequested(this.runId)) return 'cancelled';
    } catch {
      // Redis unreachable for a moment: check again on the next tick.
    }
    return undefined;
  }

  /** Waits between retries; cancellation and shutdown cut it short. */
  private async interruptibleWait(ms: number): Promise<'done' | 'cancelled' | 'shutdown'> {
    const until = this.d.now() + ms;
    while (this.d.now() < until) {
      if (this.d.drain?.aborted) return 'shutdown';
      if ((await this.pollInterrupts()) === 'cancelled') return 'cancelled';
      await new Promise((r) => setTimeout(r, Math.min(this.d.pollMs, Math.max(0, until - this.d.now()))));
    }
    return 'done';
  }

  /** Coalesces a step's progress reports: at most one write per interval, the latest always written. */
  private progressReporter(stepId: string, current: () => StepRecord) {
    let latest: { message: string; percent?: number } | undefined;
    let lastWrite = 0;
    let timer: NodeJS.Timeout | undefined;
    let writing: Promise<void> = Promise.resolve();
    const write = () => {
      timer = undefined;
      const p = latest;
      if (!p) return;
      latest = undefined;
      lastWrite = this.d.now();
      const at = lastWrite;
      const progress = { message: p.message.slice(0, 500), at, ...(p.percent !== undefined ? { percent: p.percent } : {}) };
      writing = writing
        .then(() =>
          this.writeStep(stepId, { ...current(), progress }, {
            event: { type: 'step.progress', stepId, message: progress.message, ...(p.percent !== undefined ? { percent: p.percent } : {}) },
            at,
          }),
        )
        .catch((err: unknown) => {
          this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'progress update not written');
        });
    };
    return {
      report: (message: string, percent?: number) => {
        latest = { message, ...(percent !== undefined ? { percent: Math.max(0, Math.min(100, percent)) } : {}) };
        if (timer) return;
        const wait = Math.max(0, lastWrite + this.d.progressIntervalMs - this.d.now());
        timer = setTimeout(write, wait);
      },
      flush: async () => {
        if (timer) {
          clearTimeout(timer);
          write();
        }
        await writing;
      },
    };
  }

  private async finishFailed(run: Run, planned: PlannedStep, record: StepRecord, message: string): Promise<ExecuteOutcome> {
    const at = this.d.now();
    await this.writeStep(planned.stepId, { ...record, state: 'failed', finishedAt: at, error: message }, {
      event: { type: 'step.failed', stepId: planned.stepId, message },
      at,
    });
    const after = await this.store.get(this.runId);
    const changed = after ? changedSteps(after).filter((s) => s.stepId !== planned.stepId || s.state === 'succeeded') : [];
    const changedText = changed.length ? `already changed: ${changed.map((s) => s.stepId).join(', ')}` : 'nothing was changed before it';
    const res = await this.store.transition(this.runId, 'failed', {
      owner: this.d.token,
      event: { type: 'run.failed', stepId: planned.stepId, message: `step ${planned.stepId} failed: ${message}` },
      audit: { actor: SYSTEM_ACTOR, action: 'failed', detail: `step ${planned.stepId}: ${message}; ${changedText}` },
      fields: { finishedAt: String(at), failure: JSON.stringify({ stepId: planned.stepId, message }) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
    this.d.observer?.stepFinished(planned.use, 'failed', (at - (record.startedAt ?? at)) / 1_000);
    this.d.observer?.runFinished(run.runbookId, run.dryRun ? 'dry_run_failed' : 'failed');
    this.log.warn({ stepId: planned.stepId, err: message, runbook: run.runbookId }, 'run failed');
    return 'failed';
  }

  private async finishCancelled(run: Run, planned: PlannedStep, record: StepRecord, interrupted: boolean): Promise<ExecuteOutcome> {
    const at = this.d.now();
    if (interrupted) {
      await this.writeStep(planned.stepId, { ...record, state: 'cancelled', finishedAt: at, error: 'interrupted by cancel' }, {
        event: { type: 'step.cancelled', stepId: planned.stepId, message: 'interrupted by cancel' },
        at,
      });
    }
    const current = await this.store.get(this.runId);
    const done = current ? changedSteps(current).filter((s) => s.state === 'succeeded').map((s) => s.stepId) : [];
    const res = await this.store.transition(this.runId, 'cancelled', {
      owner: this.d.token,
      event: { type: 'run.cancelled', ...(current?.cancelRequested ? { actor: current.cancelRequested.by } : {}) },
      audit: {
        actor: current?.cancelRequested?.by ?? SYSTEM_ACTOR,
        action: 'cancelled',
        detail: `${interrupted ? `interrupted ${planned.stepId}; ` : `stopped before ${planned.stepId}; `}${done.length ? `done before: ${done.join(', ')}` : 'no step had finished'}`,
      },
      fields: { finishedAt: String(at), ...(current?.cancelRequested ? { decision: JSON.stringify(current.cancelRequested) } : {}) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
    if (interrupted) this.d.observer?.stepFinished(planned.use, 'cancelled', (at - (record.startedAt ?? at)) / 1_000);
    this.d.observer?.runFinished(run.runbookId, 'cancelled');
    this.log.info({ runbook: run.runbookId }, 'run cancelled');
    return 'cancelled';
  }

  private async finishSucceeded(run: Run): Promise<ExecuteOutcome> {
    const at = this.d.now();
    const res = await this.store.transition(this.runId, 'succeeded', {
      owner: this.d.token,
      event: { type: 'run.succeeded', message: `finished in ${formatDuration(at - (run.startedAt ?? at))}` },
      audit: { actor: SYSTEM_ACTOR, action: 'succeeded', detail: run.dryRun ? 'dry run: nothing was changed' : undefined },
      fields: { finishedAt: String(at) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
    this.d.observer?.runFinished(run.runbookId, run.dryRun ? 'dry_run' : 'succeeded');
    this.log.info({ runbook: run.runbookId }, 'run succeeded');
    return 'succeeded';
  }
}

/** Exponential backoff with ±50 % jitter, so retrying workers do not stampede an API. */
export function backoff(failures: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (failures - 1));
  return Math.round(exp * (0.5 + Math.random()));
}

function outputsText(outputs: StepOutputs): string {
  const entries = Object.entries(outputs);
  return entries.length ? ` (${entries.map(([k, v]) => `${k}=${String(v).slice(0, 100)}`).join(', ')})` : '';
}

/** Rejects as soon as `signal` aborts, even if the step ignores its signal. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
