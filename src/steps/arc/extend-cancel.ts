import { z } from 'zod';
import type { ZonalShift } from '../../targets/arc-zonal-shift.ts';
import { defineStep, type PlanLine, PermanentStepError, type PlanContext } from '../types.ts';
import { arcRegion, checkResourceRegion, checkSelection, describeShift, expiresInParam, isConflict, isDeferred, resourcesParam, selectedShifts, type ShiftSelection, zonalShiftIdsParam } from './shifts.ts';
import { resolveZone } from './zones.ts';

/** Which shifts: the ids an earlier step output, or the bot's active shifts on these resources (away from `zone`, when given). */
const selection = {
  zonalShiftIds: zonalShiftIdsParam.optional(),
  resources: resourcesParam.optional(),
  zone: z.string().trim().min(1).optional(),
};

/** The selection with the zone as its id (resolved with EC2, never guessed), resources checked to be in the target's region. */
async function settle(ctx: Pick<PlanContext, 'target' | 'aws'>, p: ShiftSelection & { zone?: string | undefined }): Promise<{ region: string; zoneId?: string | undefined }> {
  checkSelection(p);
  const region = await arcRegion(ctx);
  for (const resource of p.resources ?? []) checkResourceRegion(resource, region);
  const zoneId = p.zone === undefined ? undefined : (await resolveZone(ctx.aws.ec2(), p.zone, region)).id;
  return { region, zoneId };
}

function deferredLine(action: 'change' | 'delete', detail: string): PlanLine[] {
  return [{ action, resource: 'zonal shifts', detail: `${detail} the shifts an earlier step of this run starts` }];
}

function noneLine(p: ShiftSelection, what: string): PlanLine {
  return { action: 'check', resource: 'zonal shifts', detail: `no active zonal shift of the bot on ${(p.resources ?? []).join(', ')}: nothing to ${what}` };
}

/**
 * `arc.extend-zonal-shift`: sets the expiry of this run's shifts (or the
 * bot's active ones on `resources`) to `expiresIn` from now, while a long
 * run still needs traffic kept away from the zone. A shift that already
 * ended cannot be extended (traffic is back in the zone): the step fails,
 * saying so. Idempotent: setting the expiry again only moves it later.
 * Reads: ListZonalShifts. Changes: UpdateZonalShift.
 */
export function extendZonalShiftStep() {
  return defineStep({
    id: 'arc.extend-zonal-shift',
    summary: 'Extend zonal shifts so traffic stays away from the Availability Zone',
    params: z.object({ ...selection, expiresIn: expiresInParam.default('1h') }),
    outputs: ['zonalShiftIds', 'expiryTime'],
    async plan(ctx, p) {
      if (isDeferred(p.zonalShiftIds)) return deferredLine('change', `keep traffic away for ${p.expiresIn} more:`);
      const { zoneId } = await settle(ctx, p);
      const { active, inactiveIds } = await selectedShifts(ctx.aws.arcZonalShift(), p, zoneId);
      if (inactiveIds.length) throw new PermanentStepError(`zonal shift ${inactiveIds.join(', ')} is no longer active (expired or cancelled): start a new one with arc.zonal-shift`);
      if (active.length === 0) return [noneLine(p, 'extend')];
      return active.map((s) => ({ action: 'change' as const, resource: `zonal shift ${s.zonalShiftId}`, detail: `${describeShift(s)}: expire ${p.expiresIn} after the step runs (now ${s.expiryTime.toISOString()})` }));
    },
    async run(ctx, p) {
      const { zoneId } = await settle(ctx, p);
      const arc = ctx.aws.arcZonalShift();
      const { active, inactiveIds } = await selectedShifts(arc, p, zoneId);
      if (inactiveIds.length) throw new PermanentStepError(`zonal shift ${inactiveIds.join(', ')} is no longer active (expired or cancelled), so traffic may be back in the zone: start a new one with arc.zonal-shift`);
      const extended: ZonalShift[] = [];
      for (const s of active) {
        ctx.progress(`extending ${describeShift(s)} by ${p.expiresIn}`);
        try {
          extended.push(await arc.updateZonalShift(s.zonalShiftId, { expiresIn: p.expiresIn }));
        } catch (err) {
          if (isConflict(err, 'ZonalShiftStatusNotActive')) throw new PermanentStepError(`${describeShift(s)} ended before it could be extended: start a new one with arc.zonal-shift`, { cause: err });
          throw err;
        }
      }
      const earliest = extended.map((s) => s.expiryTime.getTime()).sort((a, b) => a - b)[0];
      return { zonalShiftIds: extended.map((s) => s.zonalShiftId).join(','), expiryTime: earliest === undefined ? '' : new Date(earliest).toISOString() };
    },
  });
}

/**
 * `arc.cancel-zonal-shift`: ends this run's shifts (or the bot's active ones
 * on `resources`, for the reverse runbook), so traffic returns to the zone.
 * A shift already expired or cancelled counts as done. Shifts a person
 * started are never touched by the `resources` form: only those whose
 * comment names a run of the bot.
 * Reads: ListZonalShifts. Changes: CancelZonalShift.
 */
export function cancelZonalShiftStep() {
  return defineStep({
    id: 'arc.cancel-zonal-shift',
    summary: 'Cancel zonal shifts so traffic returns to the Availability Zone',
    params: z.object(selection),
    outputs: ['cancelled'],
    async plan(ctx, p) {
      if (isDeferred(p.zonalShiftIds)) return deferredLine('delete', 'let traffic back into the zone: cancel');
      const { zoneId } = await settle(ctx, p);
      const { active, inactiveIds } = await selectedShifts(ctx.aws.arcZonalShift(), p, zoneId);
      const lines: PlanLine[] = active.map((s) => ({ action: 'delete', resource: `zonal shift ${s.zonalShiftId}`, detail: `cancel ${describeShift(s)}: traffic returns to ${s.awayFrom}` }));
      if (inactiveIds.length) lines.push({ action: 'check', resource: 'zonal shifts', detail: `${inactiveIds.join(', ')} already ended (expired or cancelled): nothing to cancel` });
      return lines.length ? lines : [noneLine(p, 'cancel')];
    },
    async run(ctx, p) {
      const { zoneId } = await settle(ctx, p);
      const arc = ctx.aws.arcZonalShift();
      const { active } = await selectedShifts(arc, p, zoneId);
      const cancelled: string[] = [];
      for (const s of active) {
        ctx.progress(`cancelling ${describeShift(s)}`);
        try {
          await arc.cancelZonalShift(s.zonalShiftId);
          cancelled.push(s.zonalShiftId);
        } catch (err) {
          // Ended meanwhile (it expired, another attempt cancelled it): what the step wanted.
          if (!isConflict(err, 'ZonalShiftStatusNotActive')) throw err;
        }
      }
      return { cancelled: cancelled.join(',') };
    },
  });
}
