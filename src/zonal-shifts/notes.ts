import type { Incident } from '../incidents/model.ts';
import type { Run } from '../runs/model.ts';
import type { ZonalShift } from '../targets/arc-zonal-shift.ts';
import { code } from '../util/mrkdwn.ts';

/** An active shift of a run, and the target it was found on. */
export interface ShiftOfRun {
  target: string;
  shift: ZonalShift;
}

/**
 * What the keeper says once a run has ended with shifts still active: how
 * long they stay, and the commands that keep them longer or end them now
 * (with the run's own zone and resources filled in). Pure.
 */
export function notes(run: Run, slash: string) {
  const zone = typeof run.params.zone === 'string' ? run.params.zone : '<zone>';
  const list = (shifts: readonly ShiftOfRun[]) => shifts.map(({ shift }) => `• zonal shift ${code(shift.zonalShiftId)} on ${code(shift.resourceIdentifier)}, away from ${code(shift.awayFrom)}, until ${shift.expiryTime.toISOString()}`).join('\n');
  const resources = (shifts: readonly ShiftOfRun[]) => [...new Set(shifts.map(({ shift }) => shift.resourceIdentifier))].join(',');
  const extend = (shifts: readonly ShiftOfRun[]) => code(`${slash} run az-extend-shift zone=${zone} resources=${resources(shifts)} expiresIn=2h`);
  const restore = (shifts: readonly ShiftOfRun[]) => code(`${slash} evacuate --restore ${zone} resources=${resources(shifts)}`);
  return {
    /** A succeeded run in an open incident: the shifts stay until the incident is resolved. */
    held: (shifts: readonly ShiftOfRun[], incident: Incident, extendBy: string) =>
      `:shield: Run ${code(run.id)} keeps traffic away from the zone while incident ${code(incident.id)} is open: its zonal shifts are extended (by ${extendBy}) before they expire, and cancelled when the incident is resolved.\n${list(shifts)}\n` +
      `To bring the zone back sooner: ${restore(shifts)}`,
    /** Nothing extends them any more: they end at their expiry, unless someone acts. */
    left: (shifts: readonly ShiftOfRun[], incident: Incident | undefined) =>
      `:hourglass: Run ${code(run.id)} ${run.state === 'succeeded' ? 'succeeded' : `ended ${run.state}`}; its zonal shifts stay until they expire${incident ? ` (or until incident ${code(incident.id)} is resolved)` : ''}, and nothing extends them ${incident ? 'after a run that did not succeed' : 'as the run belongs to no incident'}:\n${list(shifts)}\n` +
      `To keep traffic away longer: ${extend(shifts)}; to bring the zone back now: ${restore(shifts)}`,
  };
}
