import { UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { RunQueue } from '../queue/run-queue.ts';
import { checkDecider, type Identity } from './admission.ts';
import type { GateChoice } from './gate-model.ts';
import { type DecideResult, GateStore } from './gates.ts';
import type { Actor, Run } from './model.ts';
import type { RunStore } from './store.ts';

export interface GateDecisionDeps {
  store: RunStore;
  queue: RunQueue;
  logger: Logger;
  now: () => number;
}

/** What a person's answer did: the gate decided (the run goes on or fails), or their accept counted and more are needed. */
export interface GateDecision {
  outcome: 'accepted' | 'refused' | 'recorded';
  /** Accepts so far, and how many the gate needs. */
  accepts: number;
  required: number;
}

/**
 * An answer to a run's open gate (RunService.decideGate): the same people as
 * Approve (the run's approvers; not the requester unless self-approval is
 * allowed), each counted once, checked and recorded in one script (audit and
 * event with it). A decision wakes the parked run at once.
 */
export async function decideGate(deps: GateDecisionDeps, run: Run, gateId: string, decider: Identity, actor: Actor, choice: GateChoice, reason?: string): Promise<GateDecision> {
  checkDecider(run.runbookId, run.policy, decider, 'answer the gates of');
  const result = await new GateStore(deps.store).decide(run.id, gateId, actor, choice, reason, deps.now());
  if (result.outcome === 'no') throw new UserError(refusal(run, result));
  deps.logger.info({ runId: run.id, gateId, by: actor.id, choice, outcome: result.outcome }, 'gate answered');
  if (result.outcome !== 'recorded') {
    await deps.queue.wake(run.id).catch((err: unknown) => {
      deps.logger.warn({ runId: run.id, err: err instanceof Error ? err.message : String(err) }, 'could not wake the parked run; the answer acts at its next look');
    });
  }
  return { outcome: result.outcome, accepts: result.accepts, required: result.gate.required };
}

function refusal(run: Run, result: Extract<DecideResult, { outcome: 'no' }>): string {
  const gate = run.gate;
  switch (result.reason) {
    case 'self':
      return 'You requested this run: the two-person rule needs someone else to answer its gate. Nothing changed.';
    case 'duplicate':
      return `You already answered this gate; it needs ${gate?.required ?? 1} accept${(gate?.required ?? 1) > 1 ? 's' : ''} from different people. Nothing changed.`;
    case 'expired':
      return 'This gate expired: nobody answered in time. Nothing changed.';
    case 'accepted':
    case 'refused':
      return `This gate was already ${result.reason}. Nothing changed.`;
    case 'stale':
    case 'no_gate':
      return `Run \`${run.id}\` has no such open gate (it asks a newer question, or none). Nothing changed.`;
    case 'closed':
      return `Run \`${run.id}\` no longer waits at this gate (it was cancelled, or the step ended). Nothing changed.`;
    case 'missing':
      return `There is no run \`${run.id}\`.`;
    default:
      return `Run \`${run.id}\` is ${result.reason.replace('_', ' ')}, so its gate cannot be answered. Nothing changed.`;
  }
}
