/**
 * Runs a step's plan() and run() directly, with a context like the engine's:
 * a deadline, abortable sleeps and captured progress. The context reaches no
 * target unless the step is wrapped by withClients (createStepClients makes
 * the target `default` from the single-target settings, as the bot does).
 */
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { abortableSleep } from '../../src/engine/interrupts.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { GateAccess, GateAnswer, GateRequest } from '../../src/steps/gate-access.ts';
import type { PinnedValue, PlanContext, Step, StepContext, WaitMemo } from '../../src/steps/types.ts';
import { targetsFromConfig } from '../../src/targets/from-config.ts';
import type { TargetAccess, TargetView } from '../../src/targets/targets.ts';

/** The single-target settings a test reaches its fakes with (they make the target `default`). */
export interface ClientSettings {
  aws: Config['aws'];
  kubernetes: { kubeconfig?: string; eksCluster?: string; veleroNamespace?: string };
}

/**
 * The clients of target `default` for run rtest001, made by the bot's own
 * Targets from these settings; the Kubernetes allow-lists take their defaults.
 */
export function createStepClients(settings: ClientSettings, now: () => number = Date.now): TargetAccess {
  const kubernetes = ConfigSchema.shape.kubernetes.parse(settings.kubernetes);
  return targetsFromConfig({ aws: settings.aws, kubernetes, targets: {}, defaultTarget: 'default' }, { now }).access('default', 'rtest001');
}

/** `step` acting on `access`'s target: its plan() and run() get that target's clients in their context. */
export function withClients<S extends Step>(step: S, access: TargetAccess): S {
  return {
    ...step,
    plan: (ctx: PlanContext, params: never) => step.plan({ ...ctx, ...access }, params),
    run: (ctx: StepContext, params: never) => step.run({ ...ctx, ...access }, params),
  };
}

function noTarget(asked: string): Error {
  return new Error(`this test gave the step no target (it asked for ${asked}): build the step with withClients(step, createStepClients(...))`);
}

/** The target of a context made without one: any use of it fails the test, saying so. */
const NO_TARGET: TargetAccess = {
  target: new Proxy({} as TargetView, {
    get: (_view, key) => {
      // Symbols and `then` are asked by inspection and await, not by a step.
      if (typeof key === 'symbol' || key === 'then') return undefined;
      throw noTarget(`ctx.target.${key}`);
    },
  }),
  aws: {
    rds: () => {
      throw noTarget('ctx.aws.rds()');
    },
    eks: () => {
      throw noTarget('ctx.aws.eks()');
    },
    s3: () => {
      throw noTarget('ctx.aws.s3()');
    },
    cloudwatch: () => {
      throw noTarget('ctx.aws.cloudwatch()');
    },
    ecr: () => {
      throw noTarget('ctx.aws.ecr()');
    },
    secretsManager: () => {
      throw noTarget('ctx.aws.secretsManager()');
    },
    route53: () => {
      throw noTarget('ctx.aws.route53()');
    },
    sts: () => {
      throw noTarget('ctx.aws.sts()');
    },
    ec2: () => {
      throw noTarget('ctx.aws.ec2()');
    },
    arcZonalShift: () => {
      throw noTarget('ctx.aws.arcZonalShift()');
    },
    arcRoutingControl: () => {
      throw noTarget('ctx.aws.arcRoutingControl()');
    },
  },
  kube: () => Promise.reject(noTarget('ctx.kube()')),
};

export interface TestPlanContext extends PlanContext {
  /** What the plan pinned (ctx.pin), by parameter. */
  pins: Record<string, PinnedValue>;
}

export function planContext(runId = 'rtest001', stepId = 'step', runTimeoutMs = 2 * 3_600_000): TestPlanContext {
  const pins: Record<string, PinnedValue> = {};
  return {
    ...NO_TARGET,
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

/**
 * Gates decided at once with `answer` (what the approvers would click),
 * remembering every question asked: for steps that ask at run time.
 */
export function answeringGate(answer: Exclude<GateAnswer, { state: 'open' }>): GateAccess & { asked: GateRequest[] } {
  const asked: GateRequest[] = [];
  return {
    asked,
    open: (gate) => {
      asked.push(gate);
      return Promise.resolve({ id: `g${String(asked.length).padStart(7, '0')}`, expiresAt: gate.expiresAt });
    },
    look: () => Promise.resolve(answer),
    expire: () => Promise.resolve(answer),
  };
}

export function stepContext(options: { runId?: string; stepId?: string; timeoutMs?: number; attempt?: number; gate?: GateAccess } = {}): TestStepContext {
  const runId = options.runId ?? 'rtest001';
  const stepId = options.stepId ?? 'step';
  const controller = new AbortController();
  const progressMessages: string[] = [];
  const checkpoints = new Map<string, unknown>();
  const waits = new Map<string, WaitMemo>();
  return {
    ...NO_TARGET,
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
    // As the engine keeps them, in memory: a second run() with the same context finds its checkpoints and waits.
    once: async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      if (checkpoints.has(name)) return checkpoints.get(name) as T;
      const value = await fn();
      checkpoints.set(name, value);
      return value;
    },
    waitMemo: (name) => Promise.resolve(waits.get(name)),
    // Never parks: the step waits here, as the engine does for short waits.
    pause: (name, ms, memo) => {
      waits.set(name, memo);
      return abortableSleep(ms, controller.signal);
    },
    ...(options.gate ? { gate: options.gate } : {}),
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
