import { UserError } from '../errors.ts';
import { resolveRefs, type Scope } from '../runbooks/refs.ts';
import type { Runbook, StepSpec } from '../runbooks/schema.ts';
import type { Place, PlannedStep } from '../runs/model.ts';
import type { TargetAccess, Targets } from '../targets/targets.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';

/**
 * Where a step acts: its `target:` (a name or a `target` parameter), else the
 * run's target, else the configured default; and its `cluster:` when it names
 * one. Resolved once, by the plan: the approved run acts exactly there.
 */
export function placeOf(
  spec: Pick<StepSpec, 'id' | 'target' | 'cluster'>,
  runbook: Pick<Runbook, 'target' | 'cluster'>,
  scope: Scope,
  targets: Targets,
  runTarget?: string,
): Place {
  const text = (field: 'target' | 'cluster', value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const resolved = resolveRefs(value, scope);
    // A parameter left out (its default '') means "not named here": the runbook's target, the target's own cluster.
    if (resolved === '') return undefined;
    if (typeof resolved !== 'string' || resolved === '') throw new UserError(`Step \`${spec.id}\`: its ${field} must be a name, not ${escapeMrkdwn(JSON.stringify(resolved))}.`);
    return resolved;
  };
  const target = text('target', spec.target) ?? text('target', runbook.target) ?? runTarget ?? targets.defaultName;
  const cluster = text('cluster', spec.cluster) ?? text('cluster', runbook.cluster);
  // Both refuse with a UserError that lists the configured targets or says what a cluster name is.
  const view = targets.view(target, cluster);
  return {
    target,
    ...(cluster ? { cluster } : {}),
    label: view.label,
    ...(view.region ? { region: view.region } : {}),
    ...(view.account ? { account: view.account } : {}),
    ...(view.cluster ? { clusterLabel: view.cluster } : {}),
  };
}

/** The clients of a planned step: where its plan said it acts (runs planned before targets: the default target). */
export function accessFor(planned: Pick<PlannedStep, 'place'>, targets: Targets, runId: string): TargetAccess {
  return targets.access(planned.place?.target ?? targets.defaultName, runId, planned.place?.cluster);
}
