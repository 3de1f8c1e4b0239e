import { UserError } from '../errors.ts';
import { resolveRefs, type Scope } from '../runbooks/refs.ts';
import type { Runbook, StepSpec } from '../runbooks/schema.ts';
import { describePlace, type Place, type PlannedStep } from '../runs/model.ts';
import { identityChange, type PlaceIdentity } from '../targets/identity.ts';
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
    resolved: targets.identity(target, cluster),
  };
}

/** What a plan made before it kept `resolved` shows of a place: these facts alone are compared. */
const SHOWN_FACTS = ['region', 'account', 'cluster'];

/**
 * Why a planned step must not run where its target resolves today, or
 * undefined when it resolves where the run was approved. The configuration
 * may have changed since (a restarted worker): the name is the same, the
 * place may not be. Reads the configuration only: no call is made anywhere.
 */
export function placeMoved(
  planned: Pick<PlannedStep, 'place'>,
  targets: Targets,
  /** Where a target resolves now (Targets.identity, or a memo of it for the steps of one execution). */
  identityOf: (target: string, cluster: string | undefined) => PlaceIdentity = (target, cluster) => targets.identity(target, cluster),
): string | undefined {
  const place = planned.place;
  // Runs planned before targets act on the default target, which their plan did not describe.
  if (!place) return undefined;
  const approved: PlaceIdentity = place.resolved ?? shownIdentity(place);
  if (!targets.has(place.target)) {
    return `Target \`${place.target}\` is no longer configured (targets: ${targets.names().join(', ')}), but the run was approved for ${describePlace(place)}. Nothing was called; plan the run again.`;
  }
  const change = identityChange(approved, identityOf(place.target, place.cluster), place.resolved ? undefined : SHOWN_FACTS);
  if (!change) return undefined;
  return `Target \`${place.target}\` now resolves to ${change.now}, but the run was approved for ${change.approved}. The configuration changed after the approval: nothing was called there. Plan the run again to act on the new place.`;
}

function shownIdentity(place: Place): PlaceIdentity {
  return { ...(place.region ? { region: place.region } : {}), ...(place.account ? { account: place.account } : {}), ...(place.clusterLabel ? { cluster: place.clusterLabel } : {}) };
}

/** The clients of a planned step: where its plan said it acts (runs planned before targets: the default target). */
export function accessFor(planned: Pick<PlannedStep, 'place'>, targets: Targets, runId: string): TargetAccess {
  return targets.access(planned.place?.target ?? targets.defaultName, runId, planned.place?.cluster);
}
