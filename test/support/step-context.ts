/**
 * Runs a step's plan() and run() directly, with a context like the engine's:
 * a deadline, abortable sleeps and captured progress.
 */
import { abortableSleep } from '../../src/engine/interrupts.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { PinnedValue, PlanContext, StepContext } from '../../src/steps/types.ts';

export interface TestPlanContext extends PlanContext {
  /** What the plan pinned (ctx.pin), by parameter. */
  pins: Record<string, PinnedValue>;
}

export function planContext(runId = 'rtest001', stepId = 'step', runTimeoutMs = 2 * 3_600_000): TestPlanContext {
  const pins: Record<string, PinnedValue> = {};
  return {
    runId,
    stepId,
    logger: createLogger({ level: 'silent' }),
    signal: new AbortController().signal,
    runTimeoutMs,
    pin: (param, value) => {
      pins[param] = value;
    },
    pins,
  };
}

export interface TestStepContext extends StepContext {
  progressMessages: string[];
}

export function stepContext(options: { runId?: string; stepId?: string; timeoutMs?: number; attempt?: number } = {}): TestStepContext {
  const runId = options.runId ?? 'rtest001';
  const stepId = options.stepId ?? 'step';
  const controller = new AbortController();
  const progressMessages: string[] = [];
  return {
    runId,
    stepId,
    logger: createLogger({ level: 'silent' }),
    runTimeoutMs: 2 * 3_600_000,
    signal: controller.signal,
    idempotencyKey: `${runId}-${stepId}`,
    shortRunId: runId,
    attempt: options.attempt ?? 1,
    deadline: Date.now() + (options.timeoutMs ?? 20_000),
    runStartedAt: Date.now(),
    progress: (message) => {
      progressMessages.push(message);
    },
    sleep: (ms) => abortableSleep(ms, controller.signal),
    progressMessages,
  };
}

/** The message of the error `promise` rejects with, and whether the step marked it permanent. */
export async function failureOf(promise: Promise<unknown>): Promise<{ message: string; permanent: boolean }> {
  try {
    await promise;
  } catch (err) {
    return { message: err instanceof Error ? err.message : String(err), permanent: err instanceof Error && err.name === 'PermanentStepError' };
  }
  throw new Error('expected the step to fail');
}

/** Credentials for the AWS SDK's default chain; the fakes accept any. */
export function fakeAwsCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE0001';
  process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-access-key-0000000000000000';
  process.env.AWS_REGION = 'us-east-1';
}
