import { z } from 'zod';
import type { ArcZonalShiftClient } from '../../targets/arc-zonal-shift.ts';
import { pollUntil, type PollLook } from '../poll.ts';
import { defineStep, type PlanLine, PermanentStepError } from '../types.ts';
import {
  activeShiftsOn,
  arcRegion,
  checkResourceRegion,
  commentParam,
  expiresInParam,
  isConflict,
  othersShiftError,
  resourcesParam,
  shiftComment,
} from './shifts.ts';
import { resolveZone, type Zone } from './zones.ts';

const ZONE = z.string().trim().min(1, 'is required: an Availability Zone name like us-east-1a, or its id like use1-az1');

/**
 * Starts this run's shift on `resource`, or adopts the one it already
 * started (a lost answer, a crash before the checkpoint): the run's shifts
 * are known by their comment. Another active shift on the resource is
 * refused, since AWS allows one per resource and it is not the run's to manage.
 */
async function startOrAdopt(arc: ArcZonalShiftClient, p: { resource: string; zone: Zone; runId: string; expiresIn: string; comment?: string | undefined }): Promise<string> {
  const adopt = async (): Promise<string | undefined> => {
    const { mine, others } = await activeShiftsOn(arc, p.resource, p.runId);
    if (mine && mine.awayFrom !== p.zone.id) {
      throw new PermanentStepError(`this run's zonal shift ${mine.zonalShiftId} on ${p.resource} is away from ${mine.awayFrom}, not ${p.zone.id}: cancel it (arc.cancel-zonal-shift) before shifting away from another zone`);
    }
    if (mine) return mine.zonalShiftId;
    const other = others[0];
    if (other) throw othersShiftError(p.resource, other);
    return undefined;
  };
  const adopted = await adopt();
  if (adopted) return adopted;
  try {
    const started = await arc.startZonalShift({ resourceIdentifier: p.resource, awayFrom: p.zone.id, expiresIn: p.expiresIn, comment: shiftComment(p.runId, p.comment) });
    return started.zonalShiftId;
  } catch (err) {
    // An earlier attempt's start whose answer was lost (retried 5xx, a timeout): it is this run's.
    if (!isConflict(err, 'ZonalShiftAlreadyExists')) throw err;
    const again = await adopt();
    if (again) return again;
    throw err;
  }
}

/** Where a resource's traffic stands: moved away from the zone once the run's shift applies and its weight there is 0. */
async function lookApplied(arc: ArcZonalShiftClient, resource: string, shiftId: string, zoneId: string): Promise<'applied' | 'pending' | { gone: string }> {
  const managed = await arc.getManagedResource(resource);
  const shift = managed.zonalShifts.find((s) => s.zonalShiftId === shiftId);
  if (!shift) return { gone: `zonal shift ${shiftId} on ${resource} is no longer active (it expired or was cancelled) before traffic moved away from ${zoneId}` };
  return shift.appliedStatus === 'APPLIED' && managed.appliedWeights[zoneId] === 0 ? 'applied' : 'pending';
}

/**
 * `arc.zonal-shift`: moves load balancer (or EKS) traffic away from one
 * Availability Zone with ARC zonal shift, for a single AZ failure.
 * `zone` is a name (us-east-1a, as Kubernetes labels say) or an id
 * (use1-az1, as zonal shift takes it): the name is mapped to the id with EC2
 * DescribeAvailabilityZones, never guessed (ids differ between accounts), and
 * the plan pins the id.
 * Plan: each resource must be a managed resource in the target's region and
 * in that zone, with no active shift but this run's; otherwise refused.
 * Run: one shift per resource, expiring after `expiresIn` unless extended
 * (arc.extend-zonal-shift) or cancelled (arc.cancel-zonal-shift); its comment
 * `dr-chatops run <id>` names the run. Each start is a checkpoint, and before
 * it the run's active shift on the resource is looked for and adopted, so a
 * re-entry or a crash between the start and the checkpoint never starts a
 * second. Then waits until every resource reports the zone's weight 0.
 * Reads: DescribeAvailabilityZones, GetManagedResource, ListZonalShifts. Changes: StartZonalShift.
 */
export function zonalShiftStep() {
  return defineStep({
    id: 'arc.zonal-shift',
    resumable: true,
    summary: 'Move load balancer traffic away from an Availability Zone (ARC zonal shift)',
    params: z.object({
      resources: resourcesParam,
      zone: ZONE,
      expiresIn: expiresInParam.default('1h'),
      comment: commentParam,
    }),
    outputs: ['zonalShiftIds', 'zoneId'],
    async plan(ctx, p) {
      const region = await arcRegion(ctx);
      const zone = await resolveZone(ctx.aws.ec2(), p.zone, region);
      ctx.pin('zone', zone.id);
      const arc = ctx.aws.arcZonalShift();
      const lines: PlanLine[] = [];
      for (const resource of p.resources) {
        checkResourceRegion(resource, region);
        const managed = await arc.getManagedResource(resource);
        if (!(zone.id in managed.appliedWeights)) {
          const zones = Object.keys(managed.appliedWeights).join(', ') || 'none';
          throw new PermanentStepError(`${resource} is not in ${zone.name} (${zone.id}): zonal shift manages it in ${zones}`);
        }
        const { mine, others } = await activeShiftsOn(arc, resource, ctx.runId);
        const other = others[0];
        if (other) throw othersShiftError(resource, other);
        lines.push(
          mine
            ? { action: 'check', resource: `zonal shift ${resource}`, detail: `already shifted away from ${zone.name} (${zone.id}) by this run (${mine.zonalShiftId}): waits for it to apply` }
            : {
                action: 'change',
                resource: `zonal shift ${resource}`,
                detail: `move traffic away from ${zone.name} (${zone.id}) for ${p.expiresIn} (extend with arc.extend-zonal-shift; cancel with arc.cancel-zonal-shift, or it ends by itself then)`,
              },
        );
      }
      return lines;
    },
    async run(ctx, p) {
      const region = await arcRegion(ctx);
      const zone = await resolveZone(ctx.aws.ec2(), p.zone, region);
      const arc = ctx.aws.arcZonalShift();
      const ids: string[] = [];
      for (const [i, resource] of p.resources.entries()) {
        checkResourceRegion(resource, region);
        ctx.progress(`shifting ${resource} away from ${zone.name} (${zone.id})`);
        ids.push(await ctx.once(`start-zonal-shift-${String(i)}`, () => startOrAdopt(arc, { resource, zone, runId: ctx.runId, expiresIn: p.expiresIn, comment: p.comment })));
      }
      await pollUntil(ctx, {
        what: `traffic to move away from ${zone.name} (${zone.id})`,
        name: 'applied',
        check: async (): Promise<PollLook> => {
          let applied = 0;
          for (const [i, resource] of p.resources.entries()) {
            const look = await lookApplied(arc, resource, ids[i] ?? '', zone.id);
            if (typeof look === 'object') return { done: false, failed: `${look.gone}; start the shift again` };
            if (look === 'applied') applied += 1;
          }
          return applied === p.resources.length ? { done: true } : { done: false, state: `${String(applied)} of ${String(p.resources.length)} resources shifted` };
        },
      });
      return { zonalShiftIds: ids.join(','), zoneId: zone.id };
    },
  });
}
