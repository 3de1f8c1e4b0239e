import { isUserError, UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { RoleMembers } from '../access/roles.ts';
import type { LatestReadiness } from '../readiness/store.ts';
import type { Scalar } from '../runbooks/refs.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { changesProduction, type Identity, type RequestPlace } from '../runs/admission.ts';
import { type Run, SYSTEM_ACTOR } from '../runs/model.ts';
import type { RunService } from '../runs/service.ts';
import { closestMatch } from '../util/closest.ts';
import { newRunId } from '../util/ids.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';
import { checkScheduleDecider } from './access.ts';
import { actorOf, ChangingSchedules } from './changing.ts';
import { CHANNEL_ID, type ConfigSchedule, MIN_EVERY_MS, newScheduleId, originOf, parseCadence, READINESS_SCHEDULE_ID, type Schedule, type ScheduleDoc, type ScheduleView, SkipWhenRedSchema } from './model.ts';
import type { ScheduleQueue } from './queue.ts';
import { redItems } from './skip.ts';
import type { ApprovalFields, ScheduleStore } from './store.ts';

export interface ScheduleServiceDeps {
  store: ScheduleStore;
  queue: ScheduleQueue;
  runs: RunService;
  /** DR_APPROVERS: who may pause, resume or delete a schedule whose runbook is gone (else the runbook's approvers). */
  approvers: RoleMembers;
  logger: Logger;
  /**
   * Told when a fire created its run (or found it created by an earlier
   * attempt), for a schedule with a channel: posts the run's message there.
   * A UserError is a refusal for good (recorded on the schedule); anything
   * else fails the fire, which is tried again.
   */
  announce?: (run: Run, schedule: Schedule) => Promise<void>;
  /** Tells a schedule's channel it was suspended (once); absent: only the schedule says it. */
  tell?: (schedule: Schedule, text: string) => Promise<void>;
  /** The latest readiness results, read at each fire of a schedule that skips when items are red. */
  readiness?: { latest(): Promise<LatestReadiness> };
  /** The shortest `every` (a minute); tests lower it. */
  minEveryMs?: number;
  /** Most schedules at once (each one a standing request). */
  maxSchedules?: number;
  now?: () => number;
}

export interface AddScheduleInput {
  runbookId: string;
  /** `every 30m` or a five-field cron expression in UTC, as written. */
  cadence: string;
  /** As written: bound again at every fire. */
  params: Readonly<Record<string, Scalar>>;
  /** Where each run's message is posted; `private` when Slack says the channel is. */
  channel?: { id: string; private?: boolean };
  requester: Identity;
  /** The Slack conversation it was asked in (the run rules' place); absent outside Slack. */
  place?: RequestPlace;
  source: 'slack' | 'cli';
  /** Readiness item ids: a fire while one of them fails makes no run. */
  skipWhenRed?: readonly string[];
}

/** `suspended`: what a changing schedule's approval covers changed (no run); `unapproved`: it awaits approvals; `skipped`: a readiness item it depends on is red. */
export type FireOutcome = 'created' | 'found' | 'refused' | 'paused' | 'gone' | 'suspended' | 'unapproved' | 'skipped';

/**
 * Schedules of runbooks: add, list, pause, resume, delete, and what a fire
 * does. Every refusal is a UserError whose message says why and how to write
 * it; a refused request changes nothing. Runs are created only through the
 * RunService, with its checks.
 */
export class ScheduleService {
  private readonly deps: ScheduleServiceDeps;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly changing: ChangingSchedules;

  constructor(deps: ScheduleServiceDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'schedules' });
    this.changing = new ChangingSchedules({ store: deps.store, queue: deps.queue, runs: deps.runs, logger: this.log, now: this.now, tell: deps.tell });
  }

  /** Every schedule, oldest first, with its last run's state and its next fire. */
  async list(): Promise<ScheduleView[]> {
    const [schedules, next] = await Promise.all([this.deps.store.list(), this.deps.queue.nextFires()]);
    return Promise.all(schedules.map((s) => this.view(s, next)));
  }

  /** One schedule as `list` shows it; a UserError naming the closest id when there is none. */
  async get(id: string): Promise<ScheduleView> {
    const schedule = await this.mustGet(id);
    return this.view(schedule, await this.deps.queue.nextFires());
  }

  /**
   * Adds a schedule: the runbook must exist, the person may request it from
   * here, and its parameters bind now (a run request's checks); it fires
   * first one interval from now (a cron: at its next match). A changing
   * runbook's schedule is planned now, must act on drill targets only, and
   * awaits its approvals (`approve`) before it fires.
   */
  async add(input: AddScheduleInput): Promise<ScheduleView> {
    const { runs, store, queue } = this.deps;
    const runbook = runs.runbook(input.runbookId);
    // Who asks, then where, then the parameters: the checks of a request of this runbook.
    runs.check({ runbookId: runbook.id, params: input.params, requester: input.requester, ...(input.place ? { place: input.place } : {}) });
    const cadence = parseCadence(input.cadence, this.deps.minEveryMs ?? MIN_EVERY_MS);
    if (input.channel && !CHANNEL_ID.test(input.channel.id)) throw new UserError(`${code(truncate(input.channel.id, 40, ''))} is not a channel id: give one like C0123ABCD. Nothing was scheduled.`);
    const skip = SkipWhenRedSchema.safeParse(input.skipWhenRed ?? []);
    if (!skip.success) throw new UserError(`skip-when-red ${skip.error.issues[0]?.message ?? 'is not valid'}: write \`skip-when-red=<item id>,<item id>\` with ids as \`/dr check status\` shows them. Nothing was scheduled.`);
    const approval: ApprovalFields | undefined = changesProduction(runbook) ? await this.changing.initial({ runbookId: runbook.id, params: { ...input.params }, cadence }, runbook) : undefined;
    const max = this.deps.maxSchedules ?? 200;
    if ((await store.count()) >= max) throw new UserError(`There are ${max} schedules already, the most the bot keeps: delete one first (\`schedule list\` shows them). Nothing was scheduled.`);
    const now = this.now();
    const doc: Omit<ScheduleDoc, 'id'> = {
      runbookId: runbook.id,
      params: { ...input.params },
      cadence,
      ...(input.channel ? { channel: input.channel } : {}),
      createdBy: actorOf(input.requester),
      createdAt: now,
      source: input.source,
      ...(skip.data.length ? { skipWhenRed: [...new Set(skip.data)] } : {}),
    };
    let id: string | undefined;
    for (let tries = 0; id === undefined && tries < 5; tries++) {
      const candidate = newScheduleId();
      if (await store.create({ id: candidate, ...doc }, false, approval)) id = candidate;
    }
    if (id === undefined) throw new Error('no free schedule id after 5 tries');
    if (approval) {
      this.log.info({ scheduleId: id, runbook: runbook.id, by: input.requester.id, source: input.source }, 'schedule of a changing runbook added, awaiting its approvals');
      return this.get(id);
    }
    try {
      await queue.upsert(id, cadence, now);
    } catch (err) {
      // Not firing: not kept either.
      await store.delete(id).catch(() => undefined);
      throw err;
    }
    this.log.info({ scheduleId: id, runbook: runbook.id, by: input.requester.id, source: input.source }, 'schedule added');
    return this.get(id);
  }

  /**
   * Records an approval of a changing runbook's schedule (ChangingSchedules.approve);
   * the last one needed makes it fire, unless it is paused.
   */
  async approve(id: string, who: Identity): Promise<{ schedule: ScheduleView; outcome: 'approved' | 'recorded'; count: number; required: number }> {
    const schedule = await this.mustGet(id);
    const result = await this.changing.approve(schedule, who);
    this.log.info({ scheduleId: id, by: who.id, outcome: result.outcome, count: result.count }, 'schedule approval recorded');
    if (result.outcome === 'approved' && !(await this.deps.store.get(id))?.paused) await this.deps.queue.upsert(id, schedule.cadence, this.now());
    return { schedule: await this.get(id), ...result };
  }

  /** Who besides its creator may pause, resume or delete it: the runbook's approvers (DR_APPROVERS when the runbook is gone). */
  async approversFor(id: string): Promise<RoleMembers> {
    return this.approversOf(await this.mustGet(id));
  }

  /** Stops firing, keeping the schedule. `changed` is false when it was paused already. */
  async pause(id: string, who: Identity): Promise<{ schedule: ScheduleView; changed: boolean }> {
    const schedule = await this.mustGet(id);
    checkScheduleDecider(schedule, this.approversOf(schedule), who, 'pause');
    if (schedule.paused) return { schedule: await this.get(id), changed: false };
    // Paused first: a fire already due then finds it paused and creates nothing.
    await this.deps.store.setPaused(id, true);
    await this.deps.queue.remove(id);
    this.log.info({ scheduleId: id, by: who.id }, 'schedule paused');
    return { schedule: await this.get(id), changed: true };
  }

  /**
   * Fires again: an `every` schedule one interval from now, a cron one at its
   * next match. A changing runbook's schedule fires only while approved: its
   * next fire checks that nothing changed meanwhile.
   */
  async resume(id: string, who: Identity): Promise<{ schedule: ScheduleView; changed: boolean }> {
    const schedule = await this.mustGet(id);
    checkScheduleDecider(schedule, this.approversOf(schedule), who, 'resume');
    if (!schedule.paused) return { schedule: await this.get(id), changed: false };
    if (!schedule.approval || schedule.approval.state === 'approved') await this.deps.queue.upsert(id, schedule.cadence, this.now());
    if (!(await this.deps.store.setPaused(id, false))) {
      await this.deps.queue.remove(id);
      throw new UserError(`Schedule \`${id}\` was deleted meanwhile. Nothing was resumed.`);
    }
    this.log.info({ scheduleId: id, by: who.id }, 'schedule resumed');
    return { schedule: await this.get(id), changed: true };
  }

  /** Removes the schedule and its next fire. The runs it created stay. Config schedules are removed from the config. */
  async delete(id: string, who: Identity): Promise<Schedule> {
    const schedule = await this.mustGet(id);
    checkScheduleDecider(schedule, this.approversOf(schedule), who, 'delete');
    if (schedule.source === 'config') {
      const where = schedule.id === READINESS_SCHEDULE_ID ? 'readiness.every (DR_READINESS_EVERY=off)' : 'the config file\'s schedules:';
      throw new UserError(`Schedule \`${id}\` comes from the configuration: remove it in ${where}, or pause it here. Nothing was deleted.`);
    }
    await this.deps.queue.remove(id);
    await this.deps.store.delete(id);
    this.log.info({ scheduleId: id, by: who.id }, 'schedule deleted');
    return schedule;
  }

  /**
   * One fire (a BullMQ job): creates the schedule's run once, however often
   * the job is tried. The run's id is claimed for the fire before the run is
   * created, so an attempt after a crash finds that run instead of creating a
   * second one. A refusal (the runbook is gone, its parameters no longer
   * bind) is recorded on the schedule and not retried; so is a fire skipped
   * because a readiness item it depends on is red. A changing runbook's
   * schedule makes its run already approved, or is suspended
   * (ChangingSchedules.fire).
   */
  async fire(scheduleId: string, fireId: string): Promise<FireOutcome> {
    const { store, runs } = this.deps;
    const schedule = await store.get(scheduleId);
    const log = this.log.child({ scheduleId, fireId });
    // Deleted or paused while this fire was due: it does nothing.
    if (!schedule) return 'gone';
    if (schedule.paused) return 'paused';
    const runId = await store.claimFire(fireId, newRunId());
    let run = await runs.get(runId);
    const outcome: FireOutcome = run ? 'found' : 'created';
    if (!run) {
      try {
        const runbook = runs.runbook(schedule.runbookId);
        if (schedule.approval || changesProduction(runbook)) {
          const made = await this.changing.fire(schedule, runbook, runId, () => this.redReason(schedule));
          if (made === 'unapproved') return made;
          if (made === 'suspended') {
            const why = (await store.get(scheduleId))?.approval?.why ?? 'it needs its approvals again';
            await store.recordFire(scheduleId, { at: this.now(), fireId, problem: `suspended, no run: ${why}` });
            return made;
          }
          if ('skipped' in made) return await this.skip(scheduleId, fireId, made.skipped);
          run = made;
        } else {
          const red = await this.redReason(schedule);
          if (red !== undefined) return await this.skip(scheduleId, fireId, red);
          run = await runs.create({ id: runId, runbookId: schedule.runbookId, params: schedule.params, requester: schedule.createdBy, origin: { ...originOf(schedule), scheduleId }, priority: 'background' });
        }
      } catch (err) {
        const at = this.now();
        if (isUserError(err)) {
          await store.recordFire(scheduleId, { at, fireId, problem: err.message });
          log.warn({ reason: err.message }, 'schedule fire refused: no run created');
          return 'refused';
        }
        await store.recordFire(scheduleId, { at, fireId, problem: 'the run could not be created (an internal error; the fire is tried again, the worker log has the details)' });
        throw err;
      }
      log.info({ runId, runbook: schedule.runbookId }, 'schedule fired');
    }
    await store.recordFire(scheduleId, { at: run.createdAt, fireId, runId });
    if (schedule.channel && this.deps.announce) {
      try {
        await this.deps.announce(run, schedule);
      } catch (err) {
        if (!isUserError(err)) throw err;
        await store.recordFire(scheduleId, { at: run.createdAt, fireId, runId, problem: err.message });
        log.warn({ runId, reason: err.message }, 'the scheduled run\'s message was not posted');
      }
    }
    return outcome;
  }

  /**
   * Makes the stored config schedules those of the configuration: each one
   * written and firing (a paused one stays paused), those no longer in it
   * removed. Idempotent, so every worker process may run it at start: BullMQ
   * keeps the next fire it already planned.
   */
  async syncConfig(specs: readonly ConfigSchedule[]): Promise<{ upserted: string[]; removed: string[] }> {
    const { store, queue } = this.deps;
    const existing = new Map((await store.list()).filter((s) => s.source === 'config').map((s) => [s.id, s]));
    const now = this.now();
    for (const spec of specs) {
      const old = existing.get(spec.id);
      await store.upsert({
        id: spec.id,
        runbookId: spec.runbookId,
        params: spec.params,
        cadence: spec.cadence,
        ...(spec.channel ? { channel: { id: spec.channel } } : {}),
        ...(spec.skipWhenRed?.length ? { skipWhenRed: [...new Set(spec.skipWhenRed)] } : {}),
        createdBy: SYSTEM_ACTOR,
        createdAt: old?.createdAt ?? now,
        source: 'config',
      });
      if (!old?.paused) await queue.upsert(spec.id, spec.cadence, now);
    }
    const wanted = new Set(specs.map((s) => s.id));
    const removed = [...existing.keys()].filter((id) => !wanted.has(id));
    for (const id of removed) {
      await queue.remove(id);
      await store.delete(id);
    }
    return { upserted: specs.map((s) => s.id), removed };
  }

  /** Why this fire is skipped: a readiness item the schedule depends on failed in the latest check; undefined otherwise. */
  private async redReason(schedule: Schedule): Promise<string | undefined> {
    if (!schedule.skipWhenRed?.length || !this.deps.readiness) return undefined;
    return redItems(schedule.skipWhenRed, await this.deps.readiness.latest());
  }

  private async skip(scheduleId: string, fireId: string, reason: string): Promise<'skipped'> {
    await this.deps.store.recordFire(scheduleId, { at: this.now(), fireId, problem: reason, skipped: true });
    this.log.info({ scheduleId, fireId, reason }, 'schedule fire skipped: a readiness item it depends on is red');
    return 'skipped';
  }

  private async mustGet(id: string): Promise<Schedule> {
    const schedule = await this.deps.store.get(id);
    if (schedule) return schedule;
    const close = closestMatch(id, (await this.deps.store.list()).map((s) => s.id));
    throw new UserError(`There is no schedule ${code(truncate(id, 40, ''))}.${close ? ` Did you mean \`${close}\`?` : ''} List them with \`schedule list\`.`);
  }

  private approversOf(schedule: Schedule): RoleMembers & { source?: string | undefined } {
    const runbook: Runbook | undefined = this.deps.runs.runbooks.get(schedule.runbookId);
    return runbook ? this.deps.runs.approversOf(runbook) : { ...this.deps.approvers, source: 'DR_APPROVERS' };
  }

  private async view(schedule: Schedule, next: ReadonlyMap<string, number>): Promise<ScheduleView> {
    const lastRun = schedule.last?.runId ? await this.deps.runs.get(schedule.last.runId) : undefined;
    const due = schedule.paused ? undefined : next.get(schedule.id);
    return { ...schedule, ...(lastRun ? { lastState: lastRun.state } : {}), ...(due !== undefined ? { next: due } : {}) };
  }
}
