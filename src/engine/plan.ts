import { isPermanent, type PinnedValue, type PlanContext, type PlanLine, type Step } from '../steps/types.ts';
import { isUserError, UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Scalar } from '../runbooks/refs.ts';
import type { Runbook } from '../runbooks/schema.ts';
import type { Place, PlannedStep } from '../runs/model.ts';
import type { StepRegistry } from '../steps/registry.ts';
import { type ClusterNotReady, isClusterNotReady } from '../targets/kube.ts';
import type { Targets } from '../targets/targets.ts';
import { placeOf } from './place.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { bindStepParams, hasPlaceholderDelimiters } from './bind.ts';

export interface PlanInput {
  runbook: Runbook;
  params: Readonly<Record<string, Scalar>>;
  runId: string;
  /** The incident the run is requested in (`${{ run.incidentId }}`); '' or absent when none. */
  incidentId?: string | undefined;
  registry: StepRegistry;
  targets: Targets;
  /** Where steps that name no target act (the CLI's --target); the configured default otherwise. */
  target?: string | undefined;
  logger: Logger;
  signal?: AbortSignal;
}

/** The step that waits for a cluster named at run time: later steps on that cluster are planned once it is there. */
const WAIT_CLUSTER_STEP = 'eks.wait-cluster';

/** Read-only planning calls are retried briefly: transient API errors should not refuse a plan. */
const PLAN_ATTEMPTS = 4;
const PLAN_RETRY_MS = 150;

/**
 * Calls every step's read-only `plan()` in order, the main steps then the
 * `always` (cleanup) steps, and returns the plan with the values the steps
 * pinned. Fails early, as a UserError naming the step, on input a step
 * refuses (a restore time outside the window, an unknown cluster…).
 */
export async function planRun({ runbook, params, runId, incidentId, registry, targets, target, logger, signal }: PlanInput): Promise<PlannedStep[]> {
  // Only the planner makes placeholders: a parameter that looks like one would skip the steps' checks.
  const posing = Object.keys(params).filter((k) => hasPlaceholderDelimiters(params[k]));
  if (posing.length) throw new UserError(`Parameter ${posing.map((k) => `\`${escapeMrkdwn(k)}\``).join(', ')} contains ‹ or ›, which are not allowed in a parameter value. Nothing was planned.`);
  const scope = { params, outputs: {}, run: { id: runId, shortId: runId, incidentId: incidentId ?? '' } };
  const planned: PlannedStep[] = [];
  const sections = [...runbook.steps.map((spec) => ({ spec, always: false })), ...runbook.always.map((spec) => ({ spec, always: true }))];
  for (const { spec, always } of sections) {
    const step = registry.get(spec.use);
    if (!step) throw new Error(`step ${spec.use} is not registered`);
    const bound = bindStepParams(step, spec.with, scope, true);
    if (!bound.ok) throw new UserError(`Step \`${spec.id}\` (${spec.use}) cannot be planned: ${escapeMrkdwn(bound.problem)}`);
    const place = placeOf(spec, runbook, scope, targets, target);
    const access = targets.access(place.target, runId, place.cluster);
    const awaited = planned.some((p) => p.use === WAIT_CLUSTER_STEP && samePlace(p.place, place));
    let lines;
    // Filled by the attempt that succeeds (an attempt that failed may have pinned a value before it failed).
    const pinned: Record<string, PinnedValue> = {};
    for (let attempt = 1; ; attempt++) {
      for (const key of Object.keys(pinned)) Reflect.deleteProperty(pinned, key);
      const pins = pinned;
      try {
        lines = await planStep(
          step,
          awaited,
          {
            runId,
            stepId: spec.id,
            logger: logger.child({ runId, stepId: spec.id }),
            signal: signal ?? new AbortController().signal,
            runTimeoutMs: runbook.timeout,
            pin: (param, value) => {
              pins[param] = value;
            },
            ...access,
          },
          bound.params,
        );
        break;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (isPermanent(err) || isUserError(err) || isClusterNotReady(err)) throw new UserError(`Step \`${spec.id}\` (${spec.use}) refused the plan: ${escapeMrkdwn(message)}`);
        // A throttled or briefly unavailable API should not cost the user a retyped command.
        if (attempt >= PLAN_ATTEMPTS || signal?.aborted) {
          throw new UserError(`Step \`${spec.id}\` (${spec.use}) could not be planned (${String(attempt)} attempts): ${escapeMrkdwn(message)}`);
        }
        logger.debug({ runId, stepId: spec.id, attempt, err: message }, 'planning call failed; retrying');
        await new Promise((r) => setTimeout(r, PLAN_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
    planned.push({
      stepId: spec.id,
      name: spec.name ?? step.summary,
      use: spec.use,
      with: spec.with,
      timeoutMs: spec.timeout,
      retries: spec.retries,
      lines,
      ...(Object.keys(pinned).length ? { pinned } : {}),
      ...(always ? { always } : {}),
      place,
    });
  }
  return planned;
}

/**
 * The step's plan. On a cluster an earlier step waits for, the step cannot
 * look at it yet: it says what it can from what exists now (planBeforeCluster),
 * or the plan says it decides then.
 */
async function planStep<S extends Step>(step: S, awaited: boolean, ctx: PlanContext, params: Parameters<S['plan']>[1]): Promise<PlanLine[]> {
  try {
    return await step.plan(ctx, params);
  } catch (err) {
    if (!isClusterNotReady(err) || !awaited) throw err;
    if (step.planBeforeCluster) return step.planBeforeCluster(ctx, params, err);
    const line = waitForClusterLine(err);
    return [{ ...line, detail: `${line.detail}: what this step finds there is decided then` }];
  }
}

function samePlace(a: Place | undefined, b: Place): boolean {
  return a?.target === b.target && a.cluster === b.cluster;
}

/** What a step on a cluster that is not ACTIVE yet waits for, in a plan or a dry run. */
export function waitForClusterLine(err: ClusterNotReady): PlanLine {
  return { action: 'wait', resource: `eks cluster ${err.cluster}`, detail: `once EKS cluster ${err.cluster} is ACTIVE (${err.state === 'not found' ? 'it does not exist yet' : `it is ${err.state} now`})` };
}
