import type { GateAnswer, GateRequest } from './gate-access.ts';
import { PermanentStepError, type StepContext } from './types.ts';

/** The step's side of a gate: its checkpoints, its time and the parts of the step context it needs. */
export interface GateWait {
  /** The checkpoint that opens the gate, and the wait that parks for its answer: unique within the step. */
  checkpoint: string;
  wait: string;
  question: string;
  timeoutMinutes: number;
}

/** The gate closes this long before the step's own deadline, so that its timeout (fail or proceed) is the gate's, not the step's. */
const DEADLINE_MARGIN_MS = 5_000;

type Decided = Exclude<GateAnswer, { state: 'open' }>;

/**
 * Opens a gate once (a checkpoint: entered again, the step waits on the same
 * gate) and waits, parked and holding no worker, until it is decided or its
 * time is up; an answer wakes the run at once. Returns the decision.
 */
export async function askAndWait(ctx: Pick<StepContext, 'gate' | 'once' | 'waitMemo' | 'pause' | 'progress' | 'deadline'>, wait: GateWait, request: Omit<GateRequest, 'expiresAt'>): Promise<Decided> {
  const gates = ctx.gate;
  if (!gates) throw new PermanentStepError("a run-time question needs a run of the bot: it is asked in the run's channel");
  const opened = await ctx.once(wait.checkpoint, () => gates.open({ ...request, expiresAt: Math.min(Date.now() + wait.timeoutMinutes * 60_000, ctx.deadline - DEADLINE_MARGIN_MS) }));
  for (;;) {
    const answer = await gates.look(opened.id);
    if (answer.state !== 'open') return answer;
    if (Date.now() >= opened.expiresAt) {
      const closed = await gates.expire(opened.id);
      if (closed.state !== 'open') return closed;
      return { state: 'expired' };
    }
    const memo = await ctx.waitMemo(wait.wait);
    if (!memo) ctx.progress(`waiting for an answer: ${wait.question}`);
    // Parks until the gate expires; an answer wakes the run at once.
    const left = opened.expiresAt - Date.now();
    await ctx.pause(wait.wait, left, { startedAt: memo?.startedAt ?? Date.now(), looks: (memo?.looks ?? 0) + 1, delayMs: left, state: 'waiting for an answer' });
  }
}
