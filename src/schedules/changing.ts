/**
 * Schedules of changing runbooks (docs/schedules.md, "Schedules of changing
 * runbooks"): approved once, as a schedule, by two people at least; every
 * fire checks that what was approved is what would run (the runbook as
 * loaded, its parameters, the cadence, each step's place), and suspends the
 * schedule when it is not; each run it makes acts on drill targets only.
 */
import { errorMessage, isUserError, UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { runbookDigest } from '../runbooks/digest.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { checkDecider, type Identity } from '../runs/admission.ts';
import type { Actor, Run } from '../runs/model.ts';
import type { RunService } from '../runs/service.ts';
import { code } from '../util/mrkdwn.ts';
import { plural } from '../util/text.ts';
import { coversChange, coversOf, describeApproval, drillProblem, requiredApprovals } from './approval.ts';
import type { Covers, ScheduleApprovalState } from './approval-model.ts';
import { originOf, type Schedule, type ScheduleDoc } from './model.ts';
import type { ScheduleQueue } from './queue.ts';
import type { ApprovalFields, ScheduleStore } from './store.ts';

export interface ChangingDeps {
  store: ScheduleStore;
  queue: ScheduleQueue;
  runs: RunService;
  logger: Logger;
  now: () => number;
  /** Tells the schedule's channel something once (its suspension); absent: only the schedule says it. */
  tell?: ((schedule: Schedule, text: string) => Promise<void>) | undefined;
}

/** What a fire of a changing schedule did when it made no run. */
export type ChangingFireOutcome = 'suspended' | 'unapproved';

type Spec = Pick<ScheduleDoc, 'id' | 'runbookId' | 'params' | 'cadence'>;

export class ChangingSchedules {
  private readonly deps: ChangingDeps;

  constructor(deps: ChangingDeps) {
    this.deps = deps;
  }

  /**
   * The approval a new schedule of `runbook` starts with, awaiting its
   * approvals: the run planned now (read-only calls), every step's place a
   * drill target, or a UserError naming the step and target that is not.
   */
  async initial(spec: Omit<Spec, 'id'>, runbook: Runbook): Promise<ApprovalFields> {
    const { plan } = await this.deps.runs.preview({ runbookId: runbook.id, params: spec.params });
    const problem = drillProblem(plan, this.deps.runs.targets);
    if (problem) throw new UserError(`${problem} Nothing was scheduled.`);
    const required = requiredApprovals(runbook);
    return { covers: coversOf(spec, runbook, plan), required, allowSelf: runbook.approval.allowSelfApproval, why: `it needs ${plural(required, 'approval')} from different people before it fires`, since: this.deps.now() };
  }

  /**
   * Records `who`'s approval of what the schedule covers now. Who may: the
   * approvers of its runbook's runs (the same check as a run's approval);
   * two different people at least, never its creator unless the runbook
   * allows self approval. A schedule that covers something else than when
   * it was shown loses its approvals and refuses this one, saying what changed.
   */
  async approve(schedule: Schedule, who: Identity): Promise<{ outcome: 'approved' | 'recorded'; count: number; required: number }> {
    const { runs, store } = this.deps;
    const approval = schedule.approval;
    if (!approval) throw new UserError(`Schedule \`${schedule.id}\` runs \`${schedule.runbookId}\`, which changes nothing: it needs no approval.`);
    const runbook = runs.runbook(schedule.runbookId);
    checkDecider(runbook.id, runs.approversOf(runbook), who, 'approve');
    if (approval.state === 'approved') throw new UserError(`Schedule \`${schedule.id}\` is approved already (${describeApproval(approval)}). Nothing changed.`);
    const now = await this.coversNow(schedule, runbook);
    if (now.problem) throw new UserError(`Schedule \`${schedule.id}\` cannot be approved: ${now.problem} Nothing changed.`);
    const result = await store.approve(schedule.id, { by: actorOf(who), at: this.deps.now() }, now.covers.digest, schedule.createdBy.id);
    if (result.outcome !== 'refused') return result;
    switch (result.reason) {
      case 'changed': {
        const change = coversChange(approval.covers, now.covers) ?? 'what it covers changed';
        await store.resetApproval(schedule.id, ['awaiting', 'suspended'], undefined, { ...this.fields(runbook, now.covers), why: `${change}; approve it again` });
        throw new UserError(`Schedule \`${schedule.id}\` changed since it was shown: ${change}. Its approvals were cleared and yours was not recorded: look at it again (\`schedule list\`) and approve it if it is right.`);
      }
      case 'self':
        throw new UserError(`You made schedule \`${schedule.id}\`: the two-person rule needs ${plural(approval.required, 'approval')} from others. Nothing changed.`);
      case 'duplicate':
        throw new UserError(`You already approved schedule \`${schedule.id}\`; it needs ${plural(approval.required, 'approval')} from different people (${describeApproval(approval)}).`);
      case 'approved':
        throw new UserError(`Schedule \`${schedule.id}\` was approved meanwhile. Nothing changed.`);
      case 'read-only':
        throw new UserError(`Schedule \`${schedule.id}\` needs no approval.`);
      case 'missing':
        throw new UserError(`Schedule \`${schedule.id}\` was deleted meanwhile. Nothing changed.`);
    }
  }

  /**
   * A fire of a schedule whose runbook changes production: a run created
   * already approved by the schedule's approvers when everything it covers
   * is as approved and every place a drill target; otherwise the schedule is
   * suspended (its approvals cleared, its channel told once) and no run is made.
   */
  async fire(schedule: Schedule, runbook: Runbook, runId: string, skip: () => Promise<string | undefined>): Promise<Run | ChangingFireOutcome | { skipped: string }> {
    const approval = schedule.approval;
    // A read-only runbook's schedule whose runbook now changes production: it was approved by nobody.
    if (!approval) return this.suspend(schedule, runbook, ['none'], `runbook ${code(runbook.id)} now changes production (its runs need approval), so the schedule needs ${plural(requiredApprovals(runbook), 'approval')} first`);
    if (approval.state !== 'approved') {
      // Not firing until approved: a fire left over from before the suspension does nothing.
      await this.deps.queue.remove(schedule.id);
      return 'unapproved';
    }
    if (runbookDigest(runbook) !== approval.covers.runbookDigest) {
      return this.suspend(schedule, runbook, ['approved'], `runbook ${code(runbook.id)} changed since the schedule was approved (its file was edited and the bot loaded it at its restart)`);
    }
    const skipped = await skip();
    if (skipped !== undefined) return { skipped };
    let moved: string | undefined;
    const made = await this.deps.runs.createPreapproved(
      {
        id: runId,
        runbookId: schedule.runbookId,
        params: schedule.params,
        requester: schedule.createdBy,
        origin: { ...originOf(schedule), scheduleId: schedule.id },
        priority: 'background',
      },
      {
        scheduleId: schedule.id,
        approvals: approval.approvals,
        covers: (planned, plan) => {
          moved = drillProblem(plan, this.deps.runs.targets) ?? coversChange(approval.covers, coversOf(schedule, planned, plan));
          return moved;
        },
      },
    );
    if ('run' in made) return made.run;
    return this.suspend(schedule, runbook, ['approved'], moved ?? made.refused);
  }

  /**
   * Moves the schedule to suspended, once however many fires see it: its
   * approvals cleared, covering what it would do now, saying why; stops its
   * fires and tells its channel (the caller that suspended it, only).
   */
  private async suspend(schedule: Schedule, runbook: Runbook, from: readonly (ScheduleApprovalState | 'none')[], why: string): Promise<ChangingFireOutcome> {
    const { store, queue, logger } = this.deps;
    const now = await this.coversNow(schedule, runbook);
    const fields = { ...this.fields(runbook, now.covers), why: now.problem ? `${why}. ${now.problem}` : why };
    const suspended = await store.resetApproval(schedule.id, from, 'suspended', fields);
    await queue.remove(schedule.id);
    if (!suspended) return 'unapproved';
    logger.warn({ scheduleId: schedule.id, reason: why }, 'schedule suspended: it needs its approvals again');
    if (schedule.channel && this.deps.tell) {
      const text = `:double_vertical_bar: Schedule \`${schedule.id}\` (\`${schedule.runbookId}\`) is suspended and made no run: ${why}. It runs again once approved by ${plural(fields.required, 'approver')}: \`schedule approve ${schedule.id}\`.`;
      await this.deps.tell(schedule, text).catch((err: unknown) => {
        logger.warn({ scheduleId: schedule.id, err: errorMessage(err) }, 'could not tell the schedule\'s channel it is suspended');
      });
    }
    return 'suspended';
  }

  /**
   * What approving the schedule would cover now, planned as a run would be,
   * and why it could not be approved as it is (a place that is not a drill
   * target, a plan refused), if so.
   */
  private async coversNow(schedule: Spec, runbook: Runbook): Promise<{ covers: Covers; problem?: string }> {
    try {
      const { plan } = await this.deps.runs.preview({ runbookId: runbook.id, params: schedule.params });
      const problem = drillProblem(plan, this.deps.runs.targets);
      return { covers: coversOf(schedule, runbook, plan), ...(problem ? { problem } : {}) };
    } catch (err) {
      if (!isUserError(err)) throw err;
      // What it covers is unknown: no places, so no approval matches it until it plans again.
      return { covers: coversOf(schedule, runbook, []), problem: `It cannot be planned now: ${err.message}` };
    }
  }

  private fields(runbook: Runbook, covers: Covers): Omit<ApprovalFields, 'why'> {
    return { covers, required: requiredApprovals(runbook), allowSelf: runbook.approval.allowSelfApproval, since: this.deps.now() };
  }
}

/** The person as recorded: the front end's group answers are not kept. */
export function actorOf(who: Identity): Actor {
  return { id: who.id, via: who.via, ...(who.name ? { name: who.name } : {}), ...(who.osUser ? { osUser: who.osUser } : {}), ...(who.host ? { host: who.host } : {}) };
}
