import type { Logger } from '../log/logger.ts';
import type { Scope } from '../runbooks/refs.ts';
import { type PlannedStep, type Run, type RunEnding, type StepRecord, SYSTEM_ACTOR } from '../runs/model.ts';
import type { ChangeOptions, PriorChange, RunStore } from '../runs/store.ts';
import { gateAccess } from '../runs/gates.ts';
import { isPermanent, type Step, type StepContext, type StepOutputs } from '../steps/types.ts';
import { formatDuration } from '../util/duration.ts';
import { capText } from '../util/text.ts';
import { bindStepParams } from './bind.ts';
import { abortableSleep, backoff, Interrupt, LostOwnership, untilAborted } from './interrupts.ts';
import { ATTEMPT_ERROR_LIMIT, ERROR_TEXT_LIMIT } from './limits.ts';
import { checkpointField, PARK_MIN_MS, PARKED_FIELD, type ParkMarker, waitField, WaitMemoSchema } from './park.ts';
import type { EngineSettings } from './types.ts';
import { isClusterNotReady } from '../targets/kube.ts';
import { accessFor, placeMoved } from './place.ts';
import type { PlaceIdentity } from '../targets/identity.ts';
import { waitForClusterLine } from './plan.ts';
import { coalescedProgress } from './progress.ts';

/**
 * Runs one step of a run: its attempts with retries and backoff, interrupted
 * by cancellation (not for cleanup steps), its deadline, shutdown or the loss
 * of the run to another worker; and writes its record, fenced by the token.
 */
export type StepResult =
  | { kind: 'succeeded'; outputs: StepOutputs }
  | { kind: 'failed'; message: string }
  /** `beforeStart`: the step was not started (nothing written): a cancel came first. */
  | { kind: 'cancelled'; beforeStart?: true }
  | { kind: 'shutdown' }
  /** The step paused for long: its state is stored, and it is entered again at `wakeAt`. */
  | { kind: 'parked'; wakeAt: number };

type RunnerDeps = EngineSettings;

/** Where a step's attempt stands, for its park marker. */
interface AttemptState {
  startedAt: number;
  failures: number;
  /** The step's stored checkpoints and waits, read by its start (undefined: read them from the run). */
  kept?: Map<string, string>;
}

/** What an attempt wrote of the step's record besides its start: its last progress. */
interface AttemptWrites {
  progress?: StepRecord['progress'];
}

export class StepRunner {
  private readonly runId: string;
  private readonly d: RunnerDeps;
  private readonly log: Logger;
  private readonly runStartedAt: number;
  private readonly runTimeoutMs: number;
  /**
   * The last step's success, not written yet: the run's next write carries it
   * (one round trip per step fewer). Until then a worker that takes the run
   * over finds the step running and enters it again, as it would had this
   * worker stopped just before writing it; steps are idempotent.
   */
  private unwritten: PriorChange | undefined;
  /**
   * Where each place resolves, read once per execution: resolving reads the
   * kubeconfig from disk, too slow to do before every step. A change made
   * while one execution runs is seen by the next (after a park, a restart).
   */
  private readonly identities = new Map<string, PlaceIdentity>();

  constructor(runId: string, deps: RunnerDeps, log: Logger, run: { startedAt: number; timeoutMs: number }) {
    this.runId = runId;
    this.d = deps;
    this.log = log;
    this.runStartedAt = run.startedAt;
    this.runTimeoutMs = run.timeoutMs;
  }

  private get store(): RunStore {
    return this.d.store;
  }

  async currentRecord(planned: PlannedStep): Promise<StepRecord> {
    return this.store.step(this.runId, planned.stepId);
  }

  /** The success not written yet, handed to a write of the run that carries it (ChangeOptions.prior). */
  takeUnwritten(): PriorChange | undefined {
    const prior = this.unwritten;
    this.unwritten = undefined;
    return prior;
  }

  /** Writes the success not written yet on its own, before the run is read or left. */
  async flush(): Promise<void> {
    const prior = this.takeUnwritten();
    if (!prior) return;
    const res = await this.store.update(this.runId, 'running', { owner: this.d.token, prior });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
  }

  /** Writes the step's record; throws LostOwnership when another executor owns the run now. */
  private async writeStep(stepId: string, record: StepRecord, options: ChangeOptions = {}): Promise<void> {
    const res = await this.store.setStep(this.runId, stepId, record, { ...options, owner: this.d.token, prior: this.takeUnwritten() });
    if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
    if (!res.ok) this.log.warn({ stepId, current: res.current }, 'step update refused: run is no longer running');
  }

  async dryRun(step: Step, planned: PlannedStep, record: StepRecord, scope: Scope): Promise<void> {
    const bound = bindStepParams(step, planned.with, scope, true, planned.pinned);
    const ctx = { runId: this.runId, stepId: planned.stepId, logger: this.log, signal: new AbortController().signal, runTimeoutMs: this.runTimeoutMs, pin: () => undefined, ...accessFor(planned, this.d.targets, this.runId) };
    const lines = bound.ok
      ? await step.plan(ctx, bound.params).catch((err: unknown) => {
          // A dry run does not wait for a cluster being created: it says what the step waits for.
          if (!isClusterNotReady(err)) throw err;
          return [waitForClusterLine(err)];
        })
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

  async run(
    run: Run,
    step: Step,
    planned: PlannedStep,
    initial: StepRecord,
    params: Record<string, unknown>,
    runDeadline: number,
    /** A cleanup step: a cancel does not interrupt it. */
    cleanup: boolean,
    /** The step parked and is taken up again: its attempt goes on (same attempt, same deadline, no new start). */
    resume?: ParkMarker,
  ): Promise<StepResult> {
    const stepId = planned.stepId;
    let record: StepRecord = { ...initial };
    const continued = resume?.stepId === stepId && initial.state === 'running' ? resume : undefined;
    const reentered = initial.state === 'running' && !continued;
    let failures = continued?.failures ?? 0;
    for (let first = true; ; first = false) {
      let started: number;
      /** The step's checkpoints and waits as its start read them (undefined: not read, as on a continuation). */
      let kept: Map<string, string> | undefined;
      if (first && continued) {
        started = continued.attemptStartedAt;
      } else {
        started = this.d.now();
        const next: StepRecord = { ...record, state: 'running', attempts: record.attempts + 1, startedAt: record.startedAt ?? started };
        delete next.error;
        const message = reentered && failures === 0 ? 're-entered after the previous worker stopped' : failures > 0 ? `attempt ${next.attempts}` : undefined;
        // One script: the cancel check (main steps), the last step's success, the start, and a read of what the step kept.
        const prior = this.takeUnwritten();
        const res = await this.store.startStep(this.runId, stepId, next, {
          owner: this.d.token,
          refuseOnCancel: !cleanup,
          event: { type: 'step.started', stepId, ...(message ? { message } : {}) },
          ...(failures === 0 ? { audit: { actor: SYSTEM_ACTOR, action: reentered ? 'step re-entered' : 'step started', detail: stepId } } : {}),
          at: started,
          prefixes: [checkpointField(stepId, ''), waitField(stepId, '')],
          prior,
        });
        // Refused, the script wrote nothing: the last step's success is still to be written.
        if (!res.ok) this.unwritten = prior;
        if (!res.ok && res.current === 'not_owner') throw new LostOwnership();
        if (!res.ok && res.current === 'cancel_requested') return first && initial.state !== 'running' ? { kind: 'cancelled', beforeStart: true } : { kind: 'cancelled' };
        if (!res.ok) this.log.warn({ stepId, current: res.current }, 'step update refused: run is no longer running');
        record = next;
        kept = res.ok ? res.fields : undefined;
      }

      const stepDeadline = Math.min(started + planned.timeoutMs, runDeadline);
      const writes: AttemptWrites = {};
      const attempt = await this.attempt(step, planned, record, params, stepDeadline, runDeadline, cleanup, { startedAt: started, failures, kept }, writes);
      if (attempt.kind !== 'error') {
        if (attempt.kind === 'succeeded') {
          const at = this.d.now();
          // The stored record is `record` plus the attempt's progress (only this executor writes it, fenced): no read back.
          record = { ...record, ...(writes.progress ? { progress: writes.progress } : {}), state: 'succeeded', finishedAt: at, outputs: attempt.outputs };
          this.unwritten = {
            fields: { [`step:${stepId}`]: JSON.stringify(record) },
            event: { type: 'step.succeeded', stepId, message: `done in ${formatDuration(at - (record.startedAt ?? at))}` },
            audit: { actor: SYSTEM_ACTOR, action: 'step succeeded', detail: `${stepId}${outputsText(attempt.outputs)}` },
            at,
          };
          this.d.observer?.stepFinished(planned.use, 'succeeded', (at - (record.startedAt ?? at)) / 1_000);
        }
        return attempt;
      }
      const err = attempt.error;
      // Errors can be several KB (a stack, an HTML page): capped where recorded, keeping the start and the end (often the cause).
      const text = capText(err instanceof Error ? err.message : String(err), ATTEMPT_ERROR_LIMIT, 'middle');
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
    state: AttemptState,
    writes: AttemptWrites,
  ): Promise<StepResult | { kind: 'error'; error: unknown }> {
    const controller = new AbortController();
    let parkedUntil: number | undefined;
    const interrupt = (kind: Interrupt['kind'], message: string) => {
      if (!controller.signal.aborted) controller.abort(new Interrupt(kind, message));
    };
    const timeoutMessage =
      stepDeadline === runDeadline
        ? `the run's deadline passed while this step was running`
        : `timed out after ${formatDuration(planned.timeoutMs)}`;
    // Woken at its deadline (a park never sleeps past it): nothing is called.
    if (this.d.now() >= stepDeadline) return { kind: 'failed', message: timeoutMessage };
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
      ...(this.d.planRunbooks ? { planRunbooks: this.d.planRunbooks } : {}),
      ...(this.d.drillHistory ? { drillHistory: this.d.drillHistory } : {}),
      ...(this.d.replicationLag ? { replicationLag: this.d.replicationLag } : {}),
      gate: gateAccess(this.store, this.runId, planned.stepId, this.d.token, this.d.now),
      ...this.resumable(planned.stepId, step.resumable === true, controller.signal, interrupt, { ...state, stepDeadline }, (wakeAt) => {
        parkedUntil = wakeAt;
      }),
      // Where the approved plan said: the target and cluster are not resolved again.
      ...accessFor(planned, this.d.targets, this.runId),
    };
    try {
      const outputs = await untilAborted(step.run(ctx, params), controller.signal);
      return { kind: 'succeeded', outputs };
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (reason instanceof Interrupt) {
        if (reason.kind === 'parked' && parkedUntil !== undefined) return { kind: 'parked', wakeAt: parkedUntil };
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
      const progressWritten = await progress.flush();
      if (progressWritten) writes.progress = progressWritten;
    }
  }

  /**
   * The context's checkpoints and pauses: what a step keeps in the run so that
   * entering it again repeats a look, never an action (docs/engine.md,
   * "Parked waits"). Every write is fenced by the executor's token.
   */
  private resumable(
    stepId: string,
    /** Whether the step may park (Step.resumable); otherwise its pauses sleep here. */
    canPark: boolean,
    signal: AbortSignal,
    interrupt: (kind: Interrupt['kind'], message: string) => void,
    attempt: AttemptState & { stepDeadline: number },
    onPark: (wakeAt: number) => void,
  ): Pick<StepContext, 'once' | 'waitMemo' | 'pause'> {
    /** Writes fields of the run as its owner; when it is not the owner any more, the step stops (as on any lost write). */
    const keep = async (fields: Record<string, string>): Promise<void> => {
      const res = await this.store.update(this.runId, 'running', { owner: this.d.token, fields });
      if (res.ok) {
        for (const [name, value] of Object.entries(fields)) attempt.kept?.set(name, value);
        return;
      }
      interrupt('lost', 'another worker took the run over');
      throw signal.reason;
    };
    // Only this executor writes them while it owns the run (fenced): what the start read stays current.
    const storedField = async (field: string): Promise<string | null> => (attempt.kept ? (attempt.kept.get(field) ?? null) : this.store.field(this.runId, field));
    return {
      once: async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
        const field = checkpointField(stepId, name);
        const stored = await storedField(field);
        if (stored !== null) return (JSON.parse(stored) as { value: T }).value;
        const value = await fn();
        if (signal.aborted) throw signal.reason;
        await keep({ [field]: JSON.stringify({ value }) });
        return value;
      },
      waitMemo: async (name) => {
        const stored = await storedField(waitField(stepId, name));
        if (!stored) return undefined;
        const memo = WaitMemoSchema.safeParse(JSON.parse(stored));
        return memo.success ? memo.data : undefined;
      },
      pause: async (name, ms, memo) => {
        const now = this.d.now();
        const wakeAt = Math.min(now + ms, attempt.stepDeadline);
        // A short wait stays here; so does one the step's deadline ends soon anyway (its timer interrupts the sleep).
        if (!canPark || wakeAt - now < PARK_MIN_MS) return abortableSleep(ms, signal);
        const marker: ParkMarker = { stepId, wakeAt, attemptStartedAt: attempt.startedAt, failures: attempt.failures };
        await keep({ [waitField(stepId, name)]: JSON.stringify(memo), [PARKED_FIELD]: JSON.stringify(marker) });
        onPark(wakeAt);
        interrupt('parked', `parked until ${new Date(wakeAt).toISOString()}`);
        throw signal.reason;
      },
    };
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

  /** Why `planned` must not run where its target resolves now (the configuration changed since the approval), if it must not. */
  placeMoved(planned: PlannedStep): string | undefined {
    const moved = placeMoved(planned, this.d.targets, (target, cluster) => {
      const key = `${target}\u0000${cluster ?? ''}`;
      const known = this.identities.get(key);
      if (known) return known;
      const now = this.d.targets.identity(target, cluster);
      this.identities.set(key, now);
      return now;
    });
    if (moved) this.log.error({ stepId: planned.stepId, err: moved }, 'step refused: its target no longer resolves where the run was approved');
    return moved;
  }

  /**
   * Marks a step failed; the run ends later, after its cleanup. A main step's
   * failure is stored with it as the run's ending. `auditAction`: a failure
   * the audit records as it happens (a step refused before it started).
   */
  async fail(planned: PlannedStep, record: StepRecord, failure: string, auditAction?: string): Promise<Extract<RunEnding, { outcome: 'failed' }>> {
    const message = capText(failure, ERROR_TEXT_LIMIT, 'middle');
    const at = this.d.now();
    const ending = { outcome: 'failed' as const, stepId: planned.stepId, message };
    await this.writeStep(planned.stepId, { ...record, state: 'failed', finishedAt: at, error: message }, {
      event: { type: 'step.failed', stepId: planned.stepId, message },
      ...(auditAction ? { audit: { actor: SYSTEM_ACTOR, action: auditAction, detail: `${planned.stepId}: ${message}` } } : {}),
      ...(planned.always ? {} : { fields: { ending: JSON.stringify(ending) } }),
      at,
    });
    this.d.observer?.stepFinished(planned.use, 'failed', (at - (record.startedAt ?? at)) / 1_000);
    return ending;
  }

  async cancel(planned: PlannedStep, record: StepRecord): Promise<void> {
    const at = this.d.now();
    await this.writeStep(planned.stepId, { ...record, state: 'cancelled', finishedAt: at, error: 'interrupted by cancel' }, {
      event: { type: 'step.cancelled', stepId: planned.stepId, message: 'interrupted by cancel' },
      at,
    });
    this.d.observer?.stepFinished(planned.use, 'cancelled', (at - (record.startedAt ?? at)) / 1_000);
  }
}

function outputsText(outputs: StepOutputs): string {
  const entries = Object.entries(outputs);
  return entries.length ? ` (${entries.map(([k, v]) => `${k}=${String(v).slice(0, 100)}`).join(', ')})` : '';
}
