import type { ScenarioTargets } from '../incidents/scenarios.ts';
import { restorePointOf } from '../incidents/actions.ts';
import { MEASURED_RPO_OUTPUT } from '../drills/model.ts';
import { type AuditEntry, changedSteps, describePlace, type Run, type StepState } from '../runs/model.ts';
import { capText } from '../util/text.ts';
import { withoutUrlCredentials } from '../util/url-credentials.ts';

/**
 * The recovery report of a changing run (docs/reports.md): the record an
 * auditor asks for after a recovery. Built from the run, its audit and the
 * scenario's objectives; pure (no Slack, no Redis). `markdown.ts` renders it;
 * `/dr report`, the CLI's `report --json` and the follower's file all come
 * from this one object.
 */

/** Which runs get a report: changing (they needed approval), not dry, and started (something may have changed). */
export function isReportable(run: Pick<Run, 'dryRun' | 'policy' | 'startedAt' | 'state'>): boolean {
  return !run.dryRun && run.policy.required > 0 && run.startedAt !== undefined && (run.state === 'succeeded' || run.state === 'failed' || run.state === 'cancelled');
}

/** The step that shows the service is healthy again: its end is when recovery was achieved. */
export const HEALTH_CHECK_STEP = 'http.check';

export const REPORT_VERSION = 1;

const ERROR_LIMIT = 300;
const DETAIL_LIMIT = 500;

export interface ReportPerson {
  id: string;
  name?: string;
  via: string;
  at: number;
}

export interface ReportPlanLine {
  action: string;
  resource: string;
  detail: string;
  irreversible?: boolean;
}

export interface ReportStep {
  stepId: string;
  name: string;
  use: string;
  /** A cleanup step (the runbook's `always:`): not part of the recovery. */
  cleanup: boolean;
  /** Where it acts, as the plan showed it. */
  place?: string;
  /** Its plan lines, as approved. */
  lines: ReportPlanLine[];
  state: StepState;
  attempts: number;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  error?: string;
}

export interface RecoveryTime {
  /** From the request (the run's createdAt). */
  fromAt: number;
  /** Until the health check passed (`health-check`: the last succeeded http.check), else the last main step ended. */
  until?: 'health-check' | 'last-main-step';
  untilAt?: number;
  /** The step whose end it is. */
  stepId?: string;
  /** Absent: not achieved (a main step did not succeed). */
  achievedMs?: number;
  objectiveMs?: number;
  withinObjective?: boolean;
}

export interface RecoveryPoint {
  /** Absent: not known (no step measured it, no restore point). */
  achievedMs?: number;
  /** `measured`: a step's measuredRpoSeconds; `restore-point`: from the restore point a restore step reported to the loss. */
  source?: 'measured' | 'restore-point';
  stepId?: string;
  restorePoint?: string;
  /** What the restore point is measured to: the incident's start, or the run's request. */
  lossAt?: number;
  objectiveMs?: number;
  withinObjective?: boolean;
}

export interface RecoveryReport {
  version: number;
  runId: string;
  runbookId: string;
  runbookTitle: string;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  /** Why it did not succeed, when it did not. */
  ending?: string;
  scenario?: { id: string; title: string };
  incidentId?: string;
  params: Record<string, string | number | boolean>;
  requestedBy: ReportPerson;
  approvedBy: ReportPerson[];
  startedAt: number;
  finishedAt?: number;
  steps: ReportStep[];
  /** The steps that changed something, or may have (failed or cancelled while acting). */
  changed: { stepId: string; name: string; state: StepState }[];
  recoveryTime: RecoveryTime;
  rpo: RecoveryPoint;
  /** The run's audit, oldest first. */
  audit: { at: number; who: string; via: string; action: string; detail?: string }[];
  generatedAt: number;
}

export interface ReportContext {
  /** The scenarios' objectives in force (RunService's). */
  objectives: ScenarioTargets;
  /** The incident the run belongs to: its start is when data was lost, for a restore point's RPO. */
  incident?: { id: string; startedAt: number };
  now: number;
}

export function buildRecoveryReport(run: Run, audit: readonly AuditEntry[], context: ReportContext): RecoveryReport {
  const objective = scenarioObjective(run.scenario, context.objectives);
  const steps = run.plan.map((p): ReportStep => {
    const record = run.steps[p.stepId];
    const startedAt = record?.startedAt;
    const finishedAt = record?.finishedAt;
    return {
      stepId: p.stepId,
      name: p.name,
      use: p.use,
      cleanup: p.always === true,
      ...(p.place ? { place: describePlace(p.place) } : {}),
      lines: p.lines.map((l) => ({ action: l.action, resource: l.resource, detail: clean(l.detail, DETAIL_LIMIT), ...(l.irreversible ? { irreversible: true } : {}) })),
      state: record?.state ?? 'pending',
      attempts: record?.attempts ?? 0,
      ...(startedAt === undefined ? {} : { startedAt }),
      ...(finishedAt === undefined ? {} : { finishedAt }),
      ...(startedAt !== undefined && finishedAt !== undefined ? { durationMs: Math.max(0, finishedAt - startedAt) } : {}),
      ...(record?.error ? { error: clean(record.error, ERROR_LIMIT) } : {}),
    };
  });
  const outcome = run.state === 'succeeded' || run.state === 'failed' ? run.state : 'cancelled';
  const ending = endingOf(run);
  return {
    version: REPORT_VERSION,
    runId: run.id,
    runbookId: run.runbookId,
    runbookTitle: run.runbookTitle,
    outcome,
    ...(ending ? { ending } : {}),
    ...(objective ? { scenario: { id: objective.id, title: objective.title } } : {}),
    ...(run.origin.incidentId ? { incidentId: run.origin.incidentId } : {}),
    params: run.params,
    requestedBy: person(run.requester, run.createdAt),
    approvedBy: run.approvals.map((a) => person(a.by, a.at)),
    startedAt: run.startedAt ?? run.createdAt,
    ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
    steps,
    changed: changedSteps(run),
    recoveryTime: recoveryTime(run, steps, objective?.rtoMs),
    rpo: recoveryPoint(run, context.incident?.startedAt ?? run.createdAt, objective?.rpoMs),
    audit: audit.map((e) => ({ at: e.at, who: e.actor.name ?? e.actor.id, via: e.actor.via, action: e.action, ...(e.detail ? { detail: clean(e.detail, DETAIL_LIMIT) } : {}) })),
    generatedAt: context.now,
  };
}

function scenarioObjective(scenario: string | undefined, objectives: ScenarioTargets): { id: string; title: string; rtoMs: number; rpoMs: number } | undefined {
  if (scenario === undefined || !Object.hasOwn(objectives, scenario)) return undefined;
  const o = objectives[scenario as keyof ScenarioTargets];
  return { id: scenario, title: o.title, rtoMs: o.rtoMs, rpoMs: o.rpoMs };
}

function person(actor: Run['requester'], at: number): ReportPerson {
  return { id: actor.id, ...(actor.name ? { name: actor.name } : {}), via: actor.via, at };
}

/** Text from a run, one line, without credentials in URLs, capped. */
function clean(text: string, limit: number): string {
  return capText(withoutUrlCredentials(text), limit);
}

/**
 * From the request to when the service was healthy again: the end of the last
 * succeeded http.check among the main steps, or, without one, the end of the
 * last main step. Not achieved when a main step did not succeed.
 */
function recoveryTime(run: Run, steps: readonly ReportStep[], objectiveMs: number | undefined): RecoveryTime {
  const main = steps.filter((s) => !s.cleanup);
  const base: RecoveryTime = { fromAt: run.createdAt, ...(objectiveMs === undefined ? {} : { objectiveMs }) };
  if (main.length === 0 || !main.every((s) => s.state === 'succeeded')) return base;
  const check = main.filter((s) => s.use === HEALTH_CHECK_STEP).at(-1);
  const last = main.reduce((a, b) => ((b.finishedAt ?? 0) >= (a.finishedAt ?? 0) ? b : a));
  const end = check ?? last;
  const untilAt = end.finishedAt ?? run.finishedAt ?? run.createdAt;
  const achievedMs = Math.max(0, untilAt - run.createdAt);
  return {
    ...base,
    until: check ? 'health-check' : 'last-main-step',
    untilAt,
    stepId: end.stepId,
    achievedMs,
    ...(objectiveMs === undefined ? {} : { withinObjective: achievedMs <= objectiveMs }),
  };
}

/** The largest measuredRpoSeconds a step gave; else from the restore point a restore step reported to the loss. */
function recoveryPoint(run: Run, lossAt: number, objectiveMs: number | undefined): RecoveryPoint {
  const base: RecoveryPoint = objectiveMs === undefined ? {} : { objectiveMs };
  const within = (ms: number) => (objectiveMs === undefined ? {} : { withinObjective: ms <= objectiveMs });
  const measured = measuredRpo(run);
  if (measured) return { ...base, achievedMs: measured.ms, source: 'measured', stepId: measured.stepId, ...within(measured.ms) };
  const point = restorePointOf(run);
  const t = point === undefined ? Number.NaN : Date.parse(point);
  if (point === undefined || !Number.isFinite(t)) return base;
  const ms = Math.max(0, lossAt - t);
  const stepId = [...run.plan].reverse().find((p) => run.steps[p.stepId]?.outputs?.restorePoint === point)?.stepId;
  return { ...base, achievedMs: ms, source: 'restore-point', restorePoint: point, lossAt, ...(stepId ? { stepId } : {}), ...within(ms) };
}

/** The largest RPO a step measured (`measuredRpoSeconds`, seconds ≥ 0), and which step; as the drill record scores it. */
export function measuredRpo(run: Pick<Run, 'plan' | 'steps'>): { ms: number; stepId: string } | undefined {
  let found: { ms: number; stepId: string } | undefined;
  for (const p of run.plan) {
    const raw = run.steps[p.stepId]?.outputs?.[MEASURED_RPO_OUTPUT];
    const seconds = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(seconds) || seconds < 0) continue;
    const ms = Math.round(seconds * 1_000);
    if (!found || ms > found.ms) found = { ms, stepId: p.stepId };
  }
  return found;
}

function endingOf(run: Run): string | undefined {
  if (run.state === 'failed') return clean(`failed${run.failure?.stepId ? ` at step ${run.failure.stepId}` : ''}: ${run.failure?.message ?? 'no reason was recorded'}`, ERROR_LIMIT);
  if (run.state !== 'cancelled') return undefined;
  const decision = run.decision ?? run.cancelRequested;
  const step = run.ending?.outcome === 'cancelled' ? run.ending.stepId : undefined;
  return clean(`cancelled${step ? ` at step ${step}` : ''}${decision ? ` by ${decision.by.name ?? decision.by.id}` : ''}${decision?.reason ? ` (${decision.reason})` : ''}`, ERROR_LIMIT);
}
