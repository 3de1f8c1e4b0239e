import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import { type ArcZonalShiftClient, expiresInMinutes, MAX_COMMENT, MAX_EXPIRES_IN_MINUTES, type ZonalShift, ZonalShiftError } from '../../targets/arc-zonal-shift.ts';
import { PermanentStepError, type PlanContext } from '../types.ts';

/**
 * What the zonal shift steps share: how a shift says which run started it
 * (its comment), the parameters, and finding a run's or the bot's shifts.
 */

const MARKER = 'dr-chatops run';

/** The comment a run's shifts carry: `dr-chatops run <id>`, then `: <comment>` when one is given. */
export function shiftComment(runId: string, comment: string | undefined): string {
  const marker = `${MARKER} ${runId}`;
  return comment ? Array.from(`${marker}: ${comment}`).slice(0, MAX_COMMENT).join('') : marker;
}

/** Whether `comment` is that of a shift run `runId` started. */
export function startedByRun(comment: string, runId: string): boolean {
  const marker = `${MARKER} ${runId}`;
  return comment === marker || comment.startsWith(`${marker}: `);
}

/** Whether any run of the bot started the shift (the reverse runbook cancels those, never a person's). */
export function startedByBot(comment: string): boolean {
  return /^dr-chatops run [A-Za-z0-9_-]+(: |$)/.test(comment);
}

/** A load balancer, EKS cluster or Auto Scaling group ARN (what zonal shift manages). */
const RESOURCE_ARN = /^arn:aws(-[a-z]+)*:(elasticloadbalancing|eks|autoscaling):[a-z]{2}(-[a-z]+)+-\d:\d{12}:\S{1,900}$/;

/** A list given as a YAML list or as one comma-separated text (what `/dr` parameters and step outputs are). */
function commaList<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(item).min(1).max(20));
}

export const resourcesParam = commaList(z.string().regex(RESOURCE_ARN, 'must be the ARN of a load balancer, EKS cluster or Auto Scaling group, like arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef'));

export const zonalShiftIdsParam = commaList(z.string().regex(/^[A-Za-z0-9-]{6,36}$/, 'must be a zonal shift id (6 to 36 letters, digits and -)'));

export const expiresInParam = z
  .string()
  .refine((v) => (expiresInMinutes(v) ?? Number.POSITIVE_INFINITY) <= MAX_EXPIRES_IN_MINUTES, 'must be a whole number of minutes or hours, like 30m or 2h, at most 72h');

/** A person's comment, after the run marker (the whole comment is at most 128 characters). */
export const commentParam = z.string().trim().max(80).optional();

/** The region the target's zonal shift calls go to (ARC is regional: a resource's shifts live in its region). */
export async function arcRegion(ctx: Pick<PlanContext, 'target' | 'aws'>): Promise<string> {
  return ctx.target.region ?? (await ctx.aws.arcZonalShift().region());
}

/** Refuses a resource of another region: its shifts cannot be started from this target's. */
export function checkResourceRegion(arn: string, region: string): void {
  const own = arn.split(':')[3];
  if (own !== region) throw new PermanentStepError(`${arn} is in ${own ?? 'no region'}, not ${region}: zonal shift is regional, so run this step on a target in ${own ?? 'its region'}`);
}

/** The active shift of `runId` on `resource`, if there is one; and any other active one. */
export async function activeShiftsOn(arc: ArcZonalShiftClient, resource: string, runId: string): Promise<{ mine?: ZonalShift | undefined; others: ZonalShift[] }> {
  const active = await arc.listZonalShifts({ status: 'ACTIVE', resourceIdentifier: resource });
  return { mine: active.find((s) => startedByRun(s.comment, runId)), others: active.filter((s) => !startedByRun(s.comment, runId)) };
}

/** The refusal of a resource someone else already shifted: AWS allows one active shift per resource. */
export function othersShiftError(resource: string, other: ZonalShift): PermanentStepError {
  return new PermanentStepError(
    `${resource} already has an active zonal shift not started by this run, ${other.zonalShiftId} away from ${other.awayFrom} (comment "${other.comment.slice(0, 60)}"): ` +
      'AWS allows one per resource; cancel it or let it expire, or leave this resource out',
  );
}

/** Which shifts an extend or cancel acts on: ids given (an earlier step's output), or the bot's active ones on resources. */
export interface ShiftSelection {
  zonalShiftIds?: string[] | undefined;
  resources?: string[] | undefined;
}

export function checkSelection(p: { zonalShiftIds?: unknown; resources?: unknown }): void {
  if ((p.zonalShiftIds === undefined) === (p.resources === undefined)) {
    throw new PermanentStepError('give either zonalShiftIds (an earlier step\'s output, like ${{ steps.shift.outputs.zonalShiftIds }}) or resources (the bot\'s active shifts on them), not both nor neither');
  }
}

export function isDeferred(value: unknown): boolean {
  return isPlaceholder(value);
}

/**
 * The selected shifts that are active now, and the ids given that are not
 * (expired, cancelled, or unknown here): only active shifts are listed, as
 * their number is small whatever the account's history.
 */
export async function selectedShifts(arc: ArcZonalShiftClient, p: ShiftSelection, zoneId?: string): Promise<{ active: ZonalShift[]; inactiveIds: string[] }> {
  if (p.zonalShiftIds) {
    const active = await arc.listZonalShifts({ status: 'ACTIVE' });
    return {
      active: active.filter((s) => p.zonalShiftIds?.includes(s.zonalShiftId)),
      inactiveIds: p.zonalShiftIds.filter((id) => !active.some((s) => s.zonalShiftId === id)),
    };
  }
  const found: ZonalShift[] = [];
  for (const resource of p.resources ?? []) {
    const active = await arc.listZonalShifts({ status: 'ACTIVE', resourceIdentifier: resource });
    found.push(...active.filter((s) => startedByBot(s.comment) && (zoneId === undefined || s.awayFrom === zoneId)));
  }
  return { active: found, inactiveIds: [] };
}

/** A zonal shift refusal as a step error: permanent ones stay permanent (ZonalShiftError.permanent). */
export function isConflict(err: unknown, reason: string): err is ZonalShiftError {
  return err instanceof ZonalShiftError && err.status === 409 && err.reason === reason;
}

export function describeShift(s: ZonalShift): string {
  return `zonal shift ${s.zonalShiftId} (${s.resourceIdentifier}, away from ${s.awayFrom})`;
}
