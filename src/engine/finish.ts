import type { Logger } from '../log/logger.ts';
import type { RunObserver } from '../observe/metrics.ts';
import { changedSteps, type Run, type RunEnding, SYSTEM_ACTOR } from '../runs/model.ts';
import type { PriorChange, RunStore } from '../runs/store.ts';
import { formatDuration } from '../util/duration.ts';

/** What the cleanup (`always`) steps did: the first that failed, if any. */
export interface CleanupResult {
  failed?: { stepId: string; message: string };
}

/** How the main steps ended, for the audit. */
export function endingText(ending: RunEnding): string {
  switch (ending.outcome) {
    case 'succeeded':
      return 'the steps succeeded';
    case 'failed':
      return `step ${ending.stepId} failed`;
    case 'cancelled':
      return ending.interrupted ? `cancelled during ${ending.stepId}` : `cancelled before ${ending.stepId}`;
  }
}

/**
 * Moves a run to its terminal state, with its event and audit entry, fenced by
 * the executor's token ('not_owner' when another worker owns the run now).
 */
export class RunEnder {
  private readonly d: { store: RunStore; token: string; now: () => number; observer: RunObserver | undefined; log: Logger; runId: string };

  constructor(deps: RunEnder['d']) {
    this.d = deps;
  }

  async failed(run: Run, stepId: string, message: string): Promise<'failed' | 'not_owner'> {
    const at = this.d.now();
    const after = await this.d.store.get(this.d.runId);
    const changed = after ? changedSteps(after).filter((s) => s.stepId !== stepId || s.state === 'succeeded') : [];
    const changedText = changed.length ? `already changed: ${changed.map((s) => s.stepId).join(', ')}` : 'nothing was changed before it';
    const res = await this.d.store.transition(this.d.runId, 'failed', {
      owner: this.d.token,
      event: { type: 'run.failed', stepId, message: `step ${stepId} failed: ${message}` },
      audit: { actor: SYSTEM_ACTOR, action: 'failed', detail: `step ${stepId}: ${message}; ${changedText}` },
      fields: { finishedAt: String(at), failure: JSON.stringify({ stepId, message }) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') return 'not_owner';
    this.d.observer?.runFinished(run.runbookId, run.dryRun ? 'dry_run_failed' : 'failed');
    this.d.log.warn({ stepId, err: message, runbook: run.runbookId }, 'run failed');
    return 'failed';
  }

  async cancelled(run: Run, ending: Extract<RunEnding, { outcome: 'cancelled' }>, cleanupNote: string | undefined): Promise<'cancelled' | 'not_owner'> {
    const at = this.d.now();
    const current = await this.d.store.get(this.d.runId);
    const done = current ? changedSteps(current).filter((s) => s.state === 'succeeded').map((s) => s.stepId) : [];
    const res = await this.d.store.transition(this.d.runId, 'cancelled', {
      owner: this.d.token,
      event: { type: 'run.cancelled', ...(current?.cancelRequested ? { actor: current.cancelRequested.by } : {}), ...(cleanupNote ? { message: cleanupNote } : {}) },
      audit: {
        actor: current?.cancelRequested?.by ?? SYSTEM_ACTOR,
        action: 'cancelled',
        detail: `${ending.interrupted ? `interrupted ${ending.stepId}; ` : `stopped before ${ending.stepId}; `}${done.length ? `done before: ${done.join(', ')}` : 'no step had finished'}${cleanupNote ? `; ${cleanupNote}` : ''}`,
      },
      fields: { finishedAt: String(at), ...(current?.cancelRequested ? { decision: JSON.stringify(current.cancelRequested) } : {}) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') return 'not_owner';
    this.d.observer?.runFinished(run.runbookId, 'cancelled');
    this.d.log.info({ runbook: run.runbookId }, 'run cancelled');
    return 'cancelled';
  }

  /** `prior`: the last step's success, not written yet, written with the run's end. */
  async succeeded(run: Run, prior?: PriorChange): Promise<'succeeded' | 'not_owner'> {
    const at = this.d.now();
    const res = await this.d.store.transition(this.d.runId, 'succeeded', {
      owner: this.d.token,
      prior,
      event: { type: 'run.succeeded', message: `finished in ${formatDuration(at - (run.startedAt ?? at))}` },
      audit: { actor: SYSTEM_ACTOR, action: 'succeeded', detail: run.dryRun ? 'dry run: nothing was changed' : undefined },
      fields: { finishedAt: String(at) },
      at,
    });
    if (!res.ok && res.current === 'not_owner') return 'not_owner';
    this.d.observer?.runFinished(run.runbookId, run.dryRun ? 'dry_run' : 'succeeded');
    this.d.log.info({ runbook: run.runbookId }, 'run succeeded');
    return 'succeeded';
  }
}
