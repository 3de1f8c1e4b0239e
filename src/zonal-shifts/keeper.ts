import { randomUUID } from 'node:crypto';
import type { Incident } from '../incidents/model.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { isTerminal, type Run, SYSTEM_ACTOR } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { startedByRun } from '../steps/arc/shifts.ts';
import { type ArcZonalShiftClient, expiresInMinutes, type ZonalShift, ZonalShiftError } from '../targets/arc-zonal-shift.ts';
import type { Targets } from '../targets/targets.ts';
import { code } from '../util/mrkdwn.ts';
import { notes, type ShiftOfRun } from './notes.ts';

/**
 * Keeps the zonal shifts the bot's runs started for as long as they are
 * needed, and no longer (docs/scenarios.md, "Single AZ failure"):
 * - while the run lasts (a drain may wait 30 minutes, parked, holding no
 *   worker), each shift is extended before it expires;
 * - once the run succeeded, while the incident it belongs to is open;
 * - when that incident is resolved, its runs' shifts are cancelled;
 * - a run with no incident (or one that failed or was cancelled) leaves its
 *   shifts to expire, and says when, and how to extend or end them.
 * Only shifts whose comment names the run (`dr-chatops run <id>`) are
 * touched: a person's shift, or another installation's, never. Each
 * extension and cancellation is in the run's audit log and said where the
 * run is followed (its incident's channel, else its message's thread).
 *
 * One look over every run that may hold shifts, run by a repeatable job
 * (queue.ts): runs are found in the run index as they are created, by the
 * `arc.zonal-shift` steps of their plan, and kept in a set until nothing more
 * is to be done for them.
 */

/** The step whose shifts are kept. */
const SHIFT_STEP = 'arc.zonal-shift';
/** On the first look of an installation, runs this far back are looked through. */
const FIRST_LOOK_BACK_MS = 7 * 24 * 3_600_000;
/** Runs are created with their request time, written a moment later: the scan overlaps the last one by this much. */
const SCAN_OVERLAP_MS = 60_000;

export interface ShiftKeeperOptions {
  redis: RedisConnection;
  prefix: string;
  runs: RunStore;
  incidents: { get(id: string): Promise<Incident | undefined> };
  targets: Targets;
  /** The `expiresIn` of each extension (ZONAL_SHIFT_EXTEND_BY); a shift is due once less than half of it is left. */
  extendBy: string;
  /** How long one look may hold the keeper's lease (a look taking longer lets the next one start). */
  leaseMs: number;
  /** Says a text where the run is followed. */
  tell: (where: { channel: string; threadTs?: string }, text: string) => Promise<void>;
  /** The slash command people type (`/dr`), for the commands the notes show. */
  slash: string;
  logger: Logger;
  now?: () => number;
}

export interface KeepResult {
  runs: number;
  extended: number;
  cancelled: number;
}

type Outcome = 'keep' | 'drop';

export class ShiftKeeper {
  private readonly o: ShiftKeeperOptions;
  private readonly now: () => number;
  private readonly renewBeforeMs: number;

  constructor(options: ShiftKeeperOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    const minutes = expiresInMinutes(options.extendBy);
    if (minutes === undefined) throw new Error(`extendBy ${options.extendBy} is not a zonal shift expiry like 2h`);
    this.renewBeforeMs = (minutes * 60_000) / 2;
  }

  private key(name: string): string {
    return `${this.o.prefix}:zonal-shifts:${name}`;
  }

  /** One look over every run that may hold shifts; skipped while another look holds the lease. */
  async look(): Promise<KeepResult | { skipped: 'another look is under way' }> {
    const token = randomUUID();
    if ((await this.o.redis.set(this.key('lease'), token, 'PX', this.o.leaseMs, 'NX')) !== 'OK') return { skipped: 'another look is under way' };
    try {
      await this.findNewRuns();
      const result: KeepResult = { runs: 0, extended: 0, cancelled: 0 };
      for (const runId of await this.o.redis.smembers(this.key('runs'))) {
        result.runs += 1;
        try {
          const outcome = await this.keepRun(runId, result);
          if (outcome === 'drop') await this.o.redis.srem(this.key('runs'), runId);
        } catch (err) {
          // One run's target not answering must not hold back the others; the next look tries again.
          this.o.logger.warn({ runId, err: err instanceof Error ? err.message : String(err) }, 'zonal shift keeper: this run\'s shifts were not looked at; the next look tries again');
        }
      }
      return result;
    } finally {
      await this.o.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, this.key('lease'), token);
    }
  }

  /** Adds the runs created since the last scan whose plan starts zonal shifts. */
  private async findNewRuns(): Promise<void> {
    const now = this.now();
    const last = Number((await this.o.redis.get(this.key('scanned'))) ?? now - FIRST_LOOK_BACK_MS);
    for (const id of await this.o.runs.idsSince(last - SCAN_OVERLAP_MS)) {
      const run = await this.o.runs.get(id);
      if (run && !run.dryRun && run.plan.some((p) => p.use === SHIFT_STEP) && !['rejected', 'expired'].includes(run.state)) await this.o.redis.sadd(this.key('runs'), id);
    }
    await this.o.redis.set(this.key('scanned'), String(now));
  }

  private async keepRun(runId: string, result: KeepResult): Promise<Outcome> {
    const run = await this.o.runs.get(runId);
    if (!run || run.state === 'rejected' || run.state === 'expired') return 'drop';
    // Not started yet: nothing shifted.
    if (!isTerminal(run.state) && run.state !== 'running') return 'keep';
    const shifts = await this.activeShiftsOf(run);
    if (shifts.length === 0) return isTerminal(run.state) ? 'drop' : 'keep';
    const incident = run.origin.incidentId ? await this.o.incidents.get(run.origin.incidentId) : undefined;
    const where = whereToTell(run, incident);
    const say = notes(run, this.o.slash);

    if (!isTerminal(run.state)) {
      result.extended += await this.extendDue(run, shifts, 'the run is still under way', where);
      return 'keep';
    }
    if (incident?.state === 'resolved') {
      result.cancelled += await this.cancelAll(run, shifts, incident, where);
      return 'drop';
    }
    if (incident && run.state === 'succeeded') {
      await this.noteOnce(run, 'held', where, say.held(shifts, incident, this.o.extendBy));
      result.extended += await this.extendDue(run, shifts, `incident ${incident.id} is open`, where);
      return 'keep';
    }
    if (incident) {
      // Not extended after a failure or a cancel (a person decides), still cancelled when the incident ends.
      await this.noteOnce(run, 'left', where, say.left(shifts, incident));
      return 'keep';
    }
    await this.noteOnce(run, 'left', where, say.left(shifts, undefined));
    return 'drop';
  }

  /** The run's active shifts, on each target its `arc.zonal-shift` steps acted on. */
  private async activeShiftsOf(run: Run): Promise<ShiftOfRun[]> {
    const targets = new Set(run.plan.filter((p) => p.use === SHIFT_STEP).map((p) => p.place?.target ?? this.o.targets.defaultName));
    const found: ShiftOfRun[] = [];
    for (const target of targets) {
      if (!this.o.targets.has(target)) continue;
      const arc = this.arcOf(target, run.id);
      const active = await arc.listZonalShifts({ status: 'ACTIVE' });
      found.push(...active.filter((s) => startedByRun(s.comment, run.id)).map((shift) => ({ target, shift })));
    }
    return found;
  }

  private arcOf(target: string, runId: string): ArcZonalShiftClient {
    // The run's id names the assumed-role session: AWS's own logs tie each call to the run.
    return this.o.targets.access(target, runId).aws.arcZonalShift();
  }

  private async extendDue(run: Run, shifts: ShiftOfRun[], reason: string, where: Where | undefined): Promise<number> {
    let extended = 0;
    for (const { target, shift } of shifts) {
      if (shift.expiryTime.getTime() - this.now() > this.renewBeforeMs) continue;
      let updated: ZonalShift;
      try {
        updated = await this.arcOf(target, run.id).updateZonalShift(shift.zonalShiftId, { expiresIn: this.o.extendBy });
      } catch (err) {
        // Ended meanwhile (cancelled by az-restore, or expired): nothing to keep.
        if (isNotActive(err)) continue;
        throw err;
      }
      extended += 1;
      const until = updated.expiryTime.toISOString();
      await this.o.runs.appendAudit(run.id, { actor: SYSTEM_ACTOR, action: 'zonal shift extended', detail: `${describe(shift)} until ${until}: ${reason}` });
      await this.tell(where, `:arrows_counterclockwise: Extended ${describeMrkdwn(shift)} of run ${code(run.id)} until ${until}: ${reason}.`);
    }
    return extended;
  }

  private async cancelAll(run: Run, shifts: ShiftOfRun[], incident: Incident, where: Where | undefined): Promise<number> {
    let cancelled = 0;
    for (const { target, shift } of shifts) {
      try {
        await this.arcOf(target, run.id).cancelZonalShift(shift.zonalShiftId);
      } catch (err) {
        if (isNotActive(err)) continue;
        throw err;
      }
      cancelled += 1;
      await this.o.runs.appendAudit(run.id, { actor: SYSTEM_ACTOR, action: 'zonal shift cancelled', detail: `${describe(shift)}: incident ${incident.id} is resolved; traffic returns to ${shift.awayFrom}` });
      await this.tell(where, `:leftwards_arrow_with_hook: Incident ${code(incident.id)} is resolved: cancelled ${describeMrkdwn(shift)} of run ${code(run.id)}; traffic returns to ${code(shift.awayFrom)}.`);
    }
    return cancelled;
  }

  private async noteOnce(run: Run, kind: string, where: Where | undefined, text: string): Promise<void> {
    if (!(await this.o.runs.once(`zonal-shift-note:${run.id}:${kind}`))) return;
    await this.tell(where, text);
  }

  private async tell(where: Where | undefined, text: string): Promise<void> {
    if (!where) return;
    try {
      await this.o.tell(where, text);
    } catch (err) {
      // The change is made and audited: a message Slack refused is not a reason to make it again.
      this.o.logger.warn({ channel: where.channel, err: err instanceof Error ? err.message : String(err) }, 'zonal shift keeper: could not say it in Slack');
    }
  }
}

type Where = { channel: string; threadTs?: string };

/** Where the run is followed: its incident's channel, else its message's thread, else where it was asked for. */
function whereToTell(run: Run, incident: Incident | undefined): Where | undefined {
  if (incident?.channelId) return { channel: incident.channelId };
  if (run.message) return { channel: run.message.channel, threadTs: run.message.ts };
  return run.origin.channelId ? { channel: run.origin.channelId } : undefined;
}

function isNotActive(err: unknown): boolean {
  return err instanceof ZonalShiftError && err.status === 409 && err.reason === 'ZonalShiftStatusNotActive';
}

function describe(shift: ZonalShift): string {
  return `zonal shift ${shift.zonalShiftId} (${shift.resourceIdentifier}, away from ${shift.awayFrom})`;
}

function describeMrkdwn(shift: ZonalShift): string {
  return `zonal shift ${code(shift.zonalShiftId)} (${code(shift.resourceIdentifier)}, away from ${code(shift.awayFrom)})`;
}
