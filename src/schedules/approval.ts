/**
 * What the approval of a schedule of a changing runbook covers, and the
 * checks made of it when it is added, approved and fired (docs/schedules.md,
 * "Schedules of changing runbooks"). Pure: the service plans, stores and
 * decides; this says what the plan and the configuration mean.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, runbookDigest } from '../runbooks/digest.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { describePlace, type PlannedStep } from '../runs/model.ts';
import { identityChange } from '../targets/identity.ts';
import type { Targets } from '../targets/targets.ts';
import { code, escapeMrkdwn } from '../util/mrkdwn.ts';
import { describeCadence } from './model.ts';
import type { CoveredPlace, Covers, ScheduleApproval } from './approval-model.ts';


/** Two people at least, whatever the runbook asks for. */
export const MIN_SCHEDULE_APPROVALS = 2;

export function requiredApprovals(runbook: Runbook): number {
  return Math.max(MIN_SCHEDULE_APPROVALS, runbook.approval.required);
}

/** What approving this schedule now would cover: the runbook as loaded, its parameters as written, the cadence and the planned places. */
export function coversOf(schedule: { params: Covers['params']; cadence: Covers['cadence'] }, runbook: Runbook, plan: readonly PlannedStep[]): Covers {
  const places = plan.map((step): CoveredPlace => {
    // Every step of a plan has its place (src/engine/plan.ts); one without would act on the default target, which no approval covers.
    if (!step.place) throw new Error(`step ${step.stepId} was planned without a place`);
    const { target, cluster, resolved } = step.place;
    return { stepId: step.stepId, target, ...(cluster ? { cluster } : {}), shown: describePlace(step.place), resolved: resolved ?? {} };
  });
  const body = { runbookId: runbook.id, runbookDigest: runbookDigest(runbook), params: { ...schedule.params }, cadence: schedule.cadence, places };
  return { ...body, digest: `sha256:${createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex')}` };
}

/**
 * Refuses a plan that would act anywhere but on drill targets: it names the
 * first step and target that is not one. A target marked `drill: true` that
 * resolves exactly where a target that is not a drill target does (production
 * under another name) is refused too. Undefined when every place is a drill target.
 */
export function drillProblem(plan: readonly PlannedStep[], targets: Targets): string | undefined {
  const how = 'A schedule of a changing runbook acts only on drill targets (`drill: true` in the target\'s configuration, docs/targets.md), never on production\'s own resources';
  for (const step of plan) {
    const place = step.place;
    if (!place) return `Step ${code(step.stepId)} names no place. ${how}.`;
    if (!targets.has(place.target)) return `Step ${code(step.stepId)} acts on target ${code(place.target)}, which is no longer configured. ${how}.`;
    if (!targets.view(place.target).drill) return `Step ${code(step.stepId)} acts on target ${code(place.target)} (${describePlace(place)}), which is not a drill target. ${how}: give the runbook a drill target (a \`target=\` parameter, if it has one).`;
    const own = targets.identity(place.target);
    const twin = targets.names().find((name) => !targets.view(name).drill && identityChange(own, targets.identity(name)) === undefined);
    if (twin !== undefined) return `Target ${code(place.target)} (step ${code(step.stepId)}) is marked as a drill target but resolves exactly where ${code(twin)}, which is not one, does. ${how}.`;
  }
  return undefined;
}

/**
 * Why `now` is not what was approved, in words people act on, or undefined
 * when it is the same: the runbook's definition, the parameters, the cadence,
 * and where each step acts (its target, and everything that decides where
 * that target's calls go).
 */
export function coversChange(approved: Covers, now: Covers): string | undefined {
  if (approved.digest === now.digest) return undefined;
  if (approved.runbookDigest !== now.runbookDigest) {
    return `runbook ${code(now.runbookId)} changed since the schedule was approved (its file was edited and the bot loaded it at its restart)`;
  }
  if (canonicalJson(approved.params) !== canonicalJson(now.params)) return 'its parameters changed since it was approved';
  if (canonicalJson(approved.cadence) !== canonicalJson(now.cadence)) return `its cadence changed since it was approved (${describeCadence(approved.cadence)} → ${describeCadence(now.cadence)})`;
  for (const place of now.places) {
    const was = approved.places.find((p) => p.stepId === place.stepId);
    if (!was) return `step ${code(place.stepId)} was not part of what was approved`;
    if (was.target !== place.target || was.cluster !== place.cluster) return `step ${code(place.stepId)} now acts on ${place.shown}, but it was approved for ${was.shown}`;
    const moved = identityChange(was.resolved, place.resolved);
    if (moved) return `target ${code(place.target)} (step ${code(place.stepId)}) now resolves to ${moved.now}, but the schedule was approved for ${moved.approved}`;
  }
  if (approved.places.length !== now.places.length) return 'the steps it plans are not those that were approved';
  return 'what it covers changed since it was approved';
}

/** The approval on one line (mrkdwn; `bold` plain for the CLI): its state and why, who approved, and where its runs act. */
export function approvalText(approval: ScheduleApproval, bold = (text: string) => `*${text}*`): string {
  const places = [...new Set(approval.covers.places.map((p) => escapeMrkdwn(p.shown)))].join('; ') || 'no place planned';
  const state = bold(approval.state === 'approved' ? 'approved' : approval.state === 'awaiting' ? 'awaiting approval' : 'suspended');
  const why = approval.state !== 'approved' && approval.why ? `: ${approval.why}` : '';
  return `${state}${why} · ${describeApproval(approval)} · acts on ${places} (drill targets only)`;
}

/** `approved by <@A>, <@B>` / `1 of 2 approvals (<@A>)`. */
export function describeApproval(approval: ScheduleApproval): string {
  const who = approval.approvals.map((a) => `<@${a.by.id}>`).join(', ');
  if (approval.state === 'approved') return `approved by ${who}`;
  return `${approval.approvals.length} of ${approval.required} approvals${who ? ` (${who})` : ''}`;
}
