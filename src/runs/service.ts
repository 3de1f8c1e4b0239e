import { UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { planRun } from '../engine/plan.ts';
import type { RunQueue } from '../queue/run-queue.ts';
import { bindParams } from '../runbooks/params.ts';
import type { RunbookSet } from '../runbooks/load.ts';
import type { Scalar } from '../runbooks/refs.ts';
import type { Runbook, RunPriority } from '../runbooks/schema.ts';
import type { StepRegistry } from '../steps/registry.ts';
import type { Targets } from '../targets/targets.ts';
import { closestMatch } from '../util/closest.ts';
import type { RunObserver } from '../observe/metrics.ts';
import { type ScenarioTargets, scenarioTargets } from '../incidents/scenarios.ts';
import { newRunId } from '../util/ids.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';
import { NOBODY, type RoleMembers, ROLE_SETTINGS } from '../access/roles.ts';
import { changesProduction, checkDecider, checkPlace, checkRequester, groupsToAsk, type Identity, type RequestPlace, type RunChannels } from './admission.ts';
import { type Actor, type Decision, isTerminal, type PlannedStep, priorityOf, type Run, type RunDoc, type RunState, SYSTEM_ACTOR } from './model.ts';
import type { RunStore } from './store.ts';
import { decideGate, type GateDecision } from './gate-decisions.ts';
import type { GateChoice } from './gate-model.ts';

export interface CreateRunInput {
  runbookId: string;
  /** As typed by the user (text) or already typed; validated against the runbook's parameters. */
  params: Readonly<Record<string, Scalar>>;
  /** Who asks; for a changing runbook, with the groups of `requesterGroupsToAsk` when the front end can ask Slack. */
  requester: Identity;
  /** The Slack conversation the request was made in; absent outside Slack (the CLI). */
  place?: RequestPlace;
  origin?: RunDoc['origin'];
  /** Plan only: nothing changes; runs at once without approval. */
  dryRun?: boolean;
  /** Where steps that name no target act (the CLI's --target); the configured default otherwise. */
  target?: string;
  /** The run's id, when the caller must find the same run again on a retry (a schedule's fire); a new one otherwise. */
  id?: string;
  /** The queue priority instead of the runbook's: a scheduled run is background, whatever its runbook says. */
  priority?: RunPriority;
}

/** What a schedule's fire brings to RunService.createPreapproved: its approval, and what it covers. */
export interface Preapproval {
  scheduleId: string;
  /** Who approved the schedule, and when: the run's approvals. */
  approvals: readonly Decision[];
  /** Undefined when the schedule's approval covers this plan of this runbook; else why not (nothing is stored). */
  covers(runbook: Runbook, plan: readonly PlannedStep[]): string | undefined;
}

/** Who decides on a run; with the groups of `run.policy` they are in (`groupsToAsk`), when the front end can ask Slack. */
export type ApproverIdentity = Identity;

export interface RunServiceDeps {
  store: RunStore;
  queue: RunQueue;
  runbooks: RunbookSet;
  registry: StepRegistry;
  /** Where steps act (docs/targets.md). */
  targets: Targets;
  logger: Logger;
  /** Recovery objectives in force (the DR plan's unless configured); a run keeps its scenario's RTO. */
  objectives?: ScenarioTargets;
  /** Who approves runbooks that name no approvers of their own (DR_APPROVERS); nobody when unset. */
  approvers?: RoleMembers;
  /** Who may request runbooks that change production (DR_REQUESTERS); every full member when unset, as configured by default. */
  requesters?: RoleMembers;
  /** Where changing runbooks may be requested in Slack (SLACK_RUN_CHANNELS); any channel, no DM, when unset. */
  runChannels?: RunChannels;
  /** Told when a run ends before it started (rejected, expired, cancelled). */
  observer?: Pick<RunObserver, 'runFinished'>;
  now?: () => number;
}

/**
 * What front ends (Slack, CLI) do with runs: request (plan), approve, reject,
 * cancel, read. Every refusal is a UserError whose message says why and what
 * to do; a refused request changes nothing.
 */
export class RunService {
  private readonly deps: RunServiceDeps;
  private readonly now: () => number;

  constructor(deps: RunServiceDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  get runbooks(): RunbookSet {
    return this.deps.runbooks;
  }

  /** Where steps act: the configured targets. */
  get targets(): Targets {
    return this.deps.targets;
  }

  /** The runbook, or a UserError naming the closest one. */
  runbook(id: string): Runbook {
    const runbook = this.deps.runbooks.get(id);
    if (!runbook) throw new UserError(unknownRunbookMessage(id, [...this.deps.runbooks.keys()]));
    return runbook;
  }

  /** Who may request runbooks that change production (DR_REQUESTERS). */
  get requesters(): RoleMembers {
    return this.deps.requesters ?? EVERY_MEMBER;
  }

  /** The requesters role's user groups a front end should ask Slack about for this person and runbook (none when they would not matter). */
  requesterGroupsToAsk(runbook: Runbook, userId: string): readonly string[] {
    return changesProduction(runbook) ? groupsToAsk(this.requesters, userId) : [];
  }

  /**
   * Checks a request without planning it: who asks, then where, then the
   * parameters, in that order, so a person refused learns nothing of the
   * runbook's parameters or targets. A UserError says what is wrong.
   */
  check(input: Omit<CreateRunInput, 'dryRun' | 'origin'>): { runbook: Runbook; params: Record<string, Scalar>; runTarget?: string } {
    const runbook = this.runbook(input.runbookId);
    checkRequester(runbook, this.requesters, input.requester);
    checkPlace(runbook, this.deps.runChannels ?? '*', input.place);
    return { runbook, ...this.bind(runbook, input) };
  }

  /**
   * Checks the request (`check`), plans every step (read-only calls), and
   * stores the run awaiting approval, or starts it at once when the runbook
   * needs no approval or this is a dry run. Nothing is stored or queued when
   * anything is refused or invalid.
   */
  async create(input: CreateRunInput): Promise<Run> {
    const checked = this.check(input);
    const id = await this.freeId(input.id);
    return this.record(id, input, checked, await this.plan(checked, id, input.origin?.incidentId));
  }

  /**
   * A run that a schedule's approval covers (src/schedules/): planned like
   * any, then `preapproval.covers(runbook, plan)` says whether the approval
   * covers that plan (a reason when not: nothing is stored). Stored approved
   * by the schedule's approvers, whose approvals (when they approved the
   * schedule) the run and its audit keep with the schedule's id, and queued
   * at once. Only a schedule's fire calls this: no front end reaches it. Who
   * may request it was checked when the schedule was added.
   */
  async createPreapproved(input: Omit<CreateRunInput, 'dryRun' | 'place' | 'target'>, preapproval: Preapproval): Promise<{ run: Run } | { refused: string }> {
    const runbook = this.runbook(input.runbookId);
    const bound = this.bind(runbook, input);
    const id = await this.freeId(input.id);
    const plan = await this.plan({ runbook, ...bound }, id, input.origin?.incidentId);
    const refused = preapproval.covers(runbook, plan);
    if (refused !== undefined) return { refused };
    return { run: await this.record(id, input, { runbook, ...bound }, plan, preapproval) };
  }

  /** A given id that is taken would overwrite that run. */
  private async freeId(given: string | undefined): Promise<string> {
    if (given !== undefined && (await this.deps.store.field(given, 'state')) !== null) throw new Error(`run id ${given} is taken`);
    return given ?? newRunId();
  }

  /** Stores a planned run awaiting approval, or starting at once (no approval needed, a dry run, a schedule's approval), and queues it. */
  private async record(id: string, input: CreateRunInput, { runbook, params }: { runbook: Runbook; params: Record<string, Scalar> }, plan: PlannedStep[], preapproval?: Preapproval): Promise<Run> {
    const { store, queue, logger } = this.deps;
    const now = this.now();
    const priority = input.priority ?? runbook.priority;
    const dryRun = input.dryRun === true;
    const startsAtOnce = dryRun || runbook.approval.required === 0 || preapproval !== undefined;
    const approvedHow = dryRun ? 'dry run: no approval needed' : preapproval ? preapprovedDetail(preapproval) : 'runbook needs no approval';
    const doc: RunDoc = {
      id,
      runbookId: runbook.id,
      runbookTitle: runbook.title,
      ...(runbook.scenario ? { scenario: runbook.scenario, rtoMs: (this.deps.objectives ?? scenarioTargets())[runbook.scenario].rtoMs } : {}),
      params,
      requester: actorOf(input.requester),
      origin: { ...input.origin, ...(preapproval ? { scheduleId: preapproval.scheduleId } : {}) },
      dryRun,
      priority,
      plan,
      policy: { ...this.approversOf(runbook), required: runbook.approval.required, allowSelfApproval: runbook.approval.allowSelfApproval, expiresInMs: runbook.approval.expiresIn },
      createdAt: now,
      expiresAt: now + runbook.approval.expiresIn,
      timeoutMs: runbook.timeout,
    };
    const state: RunState = startsAtOnce ? 'approved' : 'awaiting_approval';
    const paramText = Object.entries(params).map(([k, v]) => `${k}=${String(v)}`).join(' ');
    await store.create(
      doc,
      state,
      [{ type: 'run.created', actor: actorOf(input.requester) }, ...(startsAtOnce ? [{ type: 'run.approved' as const }] : [])],
      [
        { actor: actorOf(input.requester), action: 'requested', detail: `${runbook.id}${dryRun ? ' (dry run)' : ''} ${paramText}`.trim() },
        { actor: SYSTEM_ACTOR, action: 'planned', detail: plan.flatMap((p) => p.lines.map((l) => `${p.stepId}: ${l.detail}`)).join(' | ') },
        // Each of the schedule's approvers, as having approved this run through the schedule.
        ...(preapproval?.approvals ?? []).map((a) => ({ actor: a.by, action: 'approved', detail: `schedule ${preapproval?.scheduleId ?? ''}, approved ${new Date(a.at).toISOString()}` })),
        ...(startsAtOnce ? [{ actor: SYSTEM_ACTOR, action: 'approved', detail: approvedHow }] : []),
      ],
      preapproval?.approvals ?? [],
    );
    logger.info({ runId: id, runbook: runbook.id, state, dryRun }, 'run created');
    if (startsAtOnce) await queue.enqueueExecution(id, priority);
    else await queue.scheduleExpiry(id, doc.expiresAt - now);
    return this.mustGet(id);
  }

  /** The plan a request would get, stored nowhere: `npm run dr -- plan`. */
  async preview(input: Pick<CreateRunInput, 'runbookId' | 'params' | 'target'>): Promise<{ runbook: Runbook; plan: PlannedStep[] }> {
    const runbook = this.runbook(input.runbookId);
    return { runbook, plan: await this.plan({ runbook, ...this.bind(runbook, input) }, newRunId()) };
  }

  /** Every step's plan (read-only calls); `incidentId` fills `${{ run.incidentId }}`. */
  private plan({ runbook, params, runTarget }: { runbook: Runbook; params: Record<string, Scalar>; runTarget?: string }, runId: string, incidentId?: string): Promise<PlannedStep[]> {
    return planRun({ runbook, params, runId, incidentId, registry: this.deps.registry, targets: this.deps.targets, target: runTarget, logger: this.deps.logger });
  }

  /** Binds the parameters (and --target): refused (a UserError) before anything is planned or stored. */
  private bind(runbook: Runbook, input: Pick<CreateRunInput, 'params' | 'target'>): { params: Record<string, Scalar>; runTarget?: string } {
    const { targets } = this.deps;
    const { given, runTarget } = withTarget(runbook, input.params, input.target);
    const params = bindParams(runbook, given, this.now(), targets.names());
    // A mistyped --target names the configured ones.
    if (runTarget !== undefined) targets.spec(runTarget);
    return { params, ...(runTarget !== undefined ? { runTarget } : {}) };
  }

  /**
   * Records an approval. Exactly one caller sees `approved` (the Lua script
   * moves the state once); only that caller enqueues, and the job id makes even
   * a duplicate enqueue a no-op.
   */
  async approve(runId: string, approver: ApproverIdentity): Promise<{ outcome: 'approved' | 'recorded'; run: Run }> {
    const run = await this.mustGet(runId);
    this.checkAuthorized(run, approver, 'approve');
    const actor = actorOf(approver);
    const result = await this.deps.store.approve(runId, actor, this.now());
    if (result.outcome === 'refused') throw new UserError(refusalMessage(run, result.reason));
    if (result.outcome === 'approved') {
      this.deps.logger.info({ runId, approver: approver.id }, 'run approved');
      await this.deps.queue.enqueueExecution(runId, priorityOf(run));
    }
    return { outcome: result.outcome, run: await this.mustGet(runId) };
  }

  async reject(runId: string, by: ApproverIdentity, reason?: string): Promise<Run> {
    const run = await this.mustGet(runId);
    if (by.id !== run.requester.id) this.checkAuthorized(run, by, 'reject');
    const actor = actorOf(by);
    const decision = { by: actor, at: this.now(), ...(reason ? { reason } : {}) };
    const res = await this.deps.store.transition(runId, 'rejected', {
      event: { type: 'run.rejected', actor, ...(reason ? { message: reason } : {}) },
      audit: { actor, action: 'rejected', ...(reason ? { detail: reason } : {}) },
      fields: { decision: JSON.stringify(decision), finishedAt: String(decision.at) },
      at: decision.at,
    });
    if (!res.ok) throw new UserError(stateMessage(run, res.current, 'rejected'));
    this.deps.observer?.runFinished(run.runbookId, 'rejected');
    return this.mustGet(runId);
  }

  /**
   * Cancels a run. Before it starts: at once. While running: the worker stops
   * between steps and interrupts waits (a parked wait is woken at once);
   * steps already done stay done (listed).
   */
  async cancel(runId: string, by: ApproverIdentity, reason?: string): Promise<Run> {
    const run = await this.mustGet(runId);
    if (by.id !== run.requester.id) this.checkAuthorized(run, by, 'cancel');
    const actor = actorOf(by);
    const at = this.now();
    const decision = JSON.stringify({ by: actor, at, ...(reason ? { reason } : {}) });
    const audit = { actor, action: 'cancel requested', ...(reason ? { detail: reason } : {}) };
    if (isTerminal(run.state)) throw new UserError(stateMessage(run, run.state, 'cancelled'));
    if (run.state === 'running') {
      const res = await this.deps.store.update(runId, 'running', {
        event: { type: 'run.cancel_requested', actor },
        audit,
        fields: { cancelRequested: decision },
        at,
      });
      if (res.ok) {
        // A run parked in a long wait holds no worker: wake it, so the cancel acts now rather than at its next look.
        await this.deps.queue.wake(runId).catch((err: unknown) => {
          this.deps.logger.warn({ runId, err: err instanceof Error ? err.message : String(err) }, 'could not wake the parked run; the cancel acts at its next look');
        });
        return this.mustGet(runId);
      }
    }
    const res = await this.deps.store.transition(runId, 'cancelled', {
      event: { type: 'run.cancelled', actor },
      audit: { ...audit, action: 'cancelled' },
      fields: { decision, finishedAt: String(at) },
      at,
    });
    if (!res.ok) {
      // It started meanwhile: ask the worker to stop it.
      if (res.current === 'running') return this.cancel(runId, by, reason);
      throw new UserError(stateMessage(run, res.current, 'cancelled'));
    }
    this.deps.observer?.runFinished(run.runbookId, 'cancelled');
    return this.mustGet(runId);
  }

  /** Answers a run's open gate (approval.gate): the same people and rules as approve; see gate-decisions.ts. */
  async decideGate(runId: string, gateId: string, decider: ApproverIdentity, choice: GateChoice, reason?: string): Promise<GateDecision> {
    const { store, queue, logger } = this.deps;
    return decideGate({ store, queue, logger, now: this.now }, await this.mustGet(runId), gateId, decider, actorOf(decider), choice, reason);
  }

  /** Marks a run expired if it is still awaiting approval (scheduled at creation). */
  async expire(runId: string): Promise<boolean> {
    const at = this.now();
    const res = await this.deps.store.transition(runId, 'expired', {
      event: { type: 'run.expired' },
      audit: { actor: SYSTEM_ACTOR, action: 'expired', detail: 'nobody approved it in time' },
      fields: {
        decision: JSON.stringify({ by: SYSTEM_ACTOR, at, reason: 'the approval request expired' }),
        finishedAt: String(at),
      },
      at,
    });
    if (res.ok) this.deps.observer?.runFinished((await this.get(runId))?.runbookId ?? 'unknown', 'expired');
    return res.ok;
  }

  async get(runId: string): Promise<Run | undefined> {
    return this.deps.store.get(runId);
  }

  async mustGet(runId: string): Promise<Run> {
    const run = await this.deps.store.get(runId);
    if (!run) throw new UserError(`There is no run \`${runId.slice(0, 64)}\`. List recent runs with \`runs\`.`);
    return run;
  }

  /**
   * Who may approve a run of this runbook: its own list when it names one,
   * else the approvers role. Kept on the run, so the plan says who may approve
   * and later edits of the config or the runbook do not change it.
   */
  approversOf(runbook: Runbook): Pick<Run['policy'], 'anyone' | 'users' | 'groups' | 'source'> {
    const { users, groups } = runbook.approval;
    if (users.length > 0 || groups.length > 0) return { anyone: false, users, groups, source: `runbook ${runbook.id}` };
    const role = this.deps.approvers ?? NOBODY;
    return { anyone: role.anyone, users: [...role.users], groups: [...role.groups], source: ROLE_SETTINGS.approvers };
  }

  private checkAuthorized(run: Run, who: ApproverIdentity, action: string): void {
    checkDecider(run.runbookId, run.policy, who, action);
  }
}

const EVERY_MEMBER: RoleMembers = { anyone: true, users: [], groups: [] };

/** The person as recorded: the front end's group answers are not kept. */
function actorOf(who: Identity): Actor {
  return { id: who.id, via: who.via, ...(who.name ? { name: who.name } : {}), ...(who.osUser ? { osUser: who.osUser } : {}), ...(who.host ? { host: who.host } : {}) };
}

function preapprovedDetail(p: Preapproval): string {
  return `schedule ${p.scheduleId}, approved by ${p.approvals.map((a) => `${a.by.name ?? a.by.id} (${new Date(a.at).toISOString()})`).join(' and ')}: no approval asked for this run`;
}

function refusalMessage(run: Run, reason: string): string {
  switch (reason) {
    case 'self':
      return 'You requested this run: the two-person rule needs someone else to approve it. Nothing changed.';
    case 'duplicate':
      return `You already approved this run; it needs ${run.policy.required} approvals from different people (has ${run.approvals.length}).`;
    case 'expired':
      return `This approval request expired at ${new Date(run.expiresAt).toISOString()}. Request the run again to get a fresh plan.`;
    case 'missing':
      return `There is no run \`${run.id}\`.`;
    default:
      return stateMessage(run, reason, 'approved');
  }
}

function stateMessage(run: Run, current: string, wanted: string): string {
  if (current === 'missing') return `There is no run \`${run.id}\`.`;
  return `Run \`${run.id}\` is ${current.replace('_', ' ')}, so it cannot be ${wanted}. Nothing changed.`;
}

/** `There is no runbook x. Did you mean y?`, with the runbooks there are. */
export function unknownRunbookMessage(id: string, known: string[]): string {
  const close = closestMatch(id, known) ?? known.find((k) => k.includes(id) || id.includes(k));
  return `There is no runbook ${code(truncate(id, 64, ''))}.${close ? ` Did you mean \`${close}\`?` : ''} Runbooks: ${known.join(', ') || 'none'}.`;
}


/**
 * The CLI's `--target`: the value of the runbook's target parameter (the one
 * named `target`, or its only one: `restore-cluster --target prod`), else
 * where its steps that name no target act.
 */
function withTarget(runbook: Runbook, params: Readonly<Record<string, Scalar>>, target: string | undefined): { given: Readonly<Record<string, Scalar>>; runTarget?: string } {
  if (target === undefined) return { given: params };
  const targetParams = Object.entries(runbook.params).filter(([, spec]) => spec.type === 'target').map(([name]) => name);
  // The parameter named `target`, else the only one of type target.
  const name = targetParams.includes('target') ? 'target' : targetParams.length === 1 ? targetParams[0] : undefined;
  if (targetParams.length === 0) return { given: params, runTarget: target };
  if (name === undefined) throw new UserError(`${runbook.id} has several target parameters (${targetParams.join(', ')}): give each as key=value instead of --target.`);
  const typed = params[name];
  if (typed !== undefined && String(typed) !== target) throw new UserError(`--target ${target} and ${name}=${String(typed)} disagree: give one of them.`);
  return { given: { ...params, [name]: target } };
}
