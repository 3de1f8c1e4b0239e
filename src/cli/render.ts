/**
 * Plain-text views for the terminal front end: state in, lines out. Pure.
 */
import { describeParam } from '../runbooks/params.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { type Actor, type AuditEntry, changedSteps, describePlace, type PlannedStep, type Run, type StepRecord } from '../runs/model.ts';
import { type Backup, completedAt } from '../steps/velero/objects.ts';
import { formatDuration } from '../util/duration.ts';
import { plural } from '../util/text.ts';

export function renderRunbooks(runbooks: Iterable<Runbook>): string[] {
  const lines: string[] = [];
  for (const rb of runbooks) {
    const approval = rb.approval.required === 0 ? 'no approval' : plural(rb.approval.required, 'approval');
    const priority = rb.priority === 'normal' ? '' : `, ${rb.priority}`;
    lines.push(`${rb.id} — ${rb.title}${rb.scenario ? ` [${rb.scenario}]` : ''} (${approval}${priority})`);
    for (const [name, spec] of Object.entries(rb.params)) {
      const need = spec.default === undefined ? 'required' : spec.default === '' ? 'optional' : `default ${String(spec.default)}`;
      lines.push(`    ${name}=<${spec.type}>  ${describeParam(spec)} (${need})`);
    }
  }
  return lines.length ? lines : ['No runbooks are loaded (COMMANDS_DIR has no *.yaml files).'];
}

/** The plan, step by step; where a step acts is shown for steps that act on a target (not a wait or an HTTP call). */
export function renderPlan(plan: readonly PlannedStep[], actsOnTarget: (use: string) => boolean): string[] {
  const lines: string[] = [];
  const firstCleanup = plan.findIndex((s) => s.always);
  plan.forEach((step, i) => {
    if (i === firstCleanup) lines.push('  Always, however the run ends (cleanup):');
    lines.push(`  ${i + 1}. ${step.stepId} (${step.use}): ${step.name}`);
    if (step.place && actsOnTarget(step.use)) lines.push(`       where   ${describePlace(step.place)}`);
    for (const l of step.lines) lines.push(`       ${l.action.padEnd(7)} ${l.detail}${l.irreversible ? '  ⚠ cannot be undone' : ''}`);
  });
  const irreversible = plan.flatMap((s) => s.lines.filter((l) => l.irreversible).map((l) => `${s.stepId}: ${l.detail}`));
  if (irreversible.length) lines.push(`  Cannot be undone: ${irreversible.join('; ')}`);
  return lines;
}

export function renderRun(run: Run, now: number): string[] {
  const params = Object.entries(run.params).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const lines = [
    `Run ${run.id}: ${run.runbookId} — ${run.state.replace('_', ' ')}${run.dryRun ? ' (dry run)' : ''}`,
    `  requested by ${whoFull(run.requester)} at ${utc(run.createdAt)}${params ? ` with ${params}` : ''}`,
  ];
  if (run.state === 'awaiting_approval') {
    lines.push(`  approvals ${run.approvals.length} of ${run.policy.required}; the request expires at ${utc(run.expiresAt)}`);
  }
  for (const a of run.approvals) lines.push(`  approved by ${whoFull(a.by)} at ${utc(a.at)}`);
  if (run.decision) lines.push(`  ${run.state} by ${whoFull(run.decision.by)} at ${utc(run.decision.at)}${run.decision.reason ? `: ${run.decision.reason}` : ''}`);
  if (run.startedAt) {
    lines.push(`  started ${utc(run.startedAt)}, ${run.finishedAt ? `took ${formatDuration(run.finishedAt - run.startedAt)}` : `running for ${formatDuration(now - run.startedAt)}`}`);
  }
  for (const p of run.plan) lines.push(`  ${p.always ? '(always) ' : ''}${stepLine(p, run.steps[p.stepId], now)}`);
  if (run.failure) {
    lines.push(`  FAILED${run.failure.stepId ? ` at ${run.failure.stepId}` : ''}: ${run.failure.message}`);
    const changed = changedSteps(run).filter((s) => s.state === 'succeeded').map((s) => s.stepId);
    lines.push(`  already changed: ${changed.length ? changed.join(', ') : 'nothing'}`);
  }
  return lines;
}

export function stepLine(p: PlannedStep, s: StepRecord | undefined, now: number): string {
  const state = s?.state ?? 'pending';
  const mark = { pending: '·', running: '▶', succeeded: '✔', failed: '✖', skipped: '↷', cancelled: '■' }[state];
  let detail = '';
  if (state === 'running' && s?.startedAt) detail = ` for ${formatDuration(now - s.startedAt)}${s.progress ? `: ${s.progress.message}` : ''}`;
  if (state === 'succeeded' && s?.startedAt && s.finishedAt) {
    // An empty output says nothing (eks.wait-cluster on a kubeconfig target has no cluster name or endpoint to give).
    const outputs = Object.entries(s.outputs ?? {})
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${k}=${String(v).slice(0, 80)}`)
      .join(', ');
    detail = ` in ${formatDuration(s.finishedAt - s.startedAt)}${outputs ? ` (${outputs})` : ''}`;
  }
  if ((state === 'failed' || state === 'cancelled') && s?.error) detail = `: ${s.error}`;
  if (state === 'skipped' && s?.wouldDo) detail = `: would ${s.wouldDo.map((l) => l.detail).join('; ')}`;
  const attempts = s && s.attempts > 1 ? ` [${s.attempts} attempts]` : '';
  return `${mark} ${p.stepId} ${state}${detail}${attempts}`;
}

export function renderRuns(runs: readonly Run[]): string[] {
  if (runs.length === 0) return ['No runs yet.'];
  return runs.map((r) => {
    const took = r.startedAt && r.finishedAt ? formatDuration(r.finishedAt - r.startedAt) : '';
    return [r.id, r.runbookId.padEnd(28), r.state.padEnd(17), who(r.requester).padEnd(20), utc(r.createdAt), took].join('  ').trimEnd();
  });
}

export function renderAudit(run: Run, entries: readonly AuditEntry[]): string[] {
  return [
    `Audit of run ${run.id} (${run.runbookId}), ${plural(entries.length, 'entry', 'entries')}:`,
    ...entries.map((e) => `  ${utc(e.at)}  ${whoFull(e.actor)}  ${e.action}${e.detail ? ` — ${e.detail}` : ''}`),
  ];
}

export function renderBackups(backups: readonly Backup[], now: number): string[] {
  if (backups.length === 0) return ['No Velero backups found.'];
  return backups.map((b) => {
    const done = completedAt(b);
    const expiry = b.status.expiration ? Date.parse(b.status.expiration) : NaN;
    const expires = Number.isNaN(expiry) ? 'no expiry' : `expires ${utc(expiry)}`;
    return [
      b.metadata.name.padEnd(40),
      (b.status.phase ?? '?').padEnd(16),
      done ? `${formatDuration(now - done)} old`.padEnd(14) : ''.padEnd(14),
      expires,
      `namespaces: ${(b.spec.includedNamespaces ?? ['*']).join(',')}`,
    ].join('  ');
  });
}

/** Short, for lists: `alice (cli)`, `U0123ABCD (slack)`. */
function who(actor: Actor): string {
  return actor.name ? `${actor.name} (${actor.via})` : `${actor.id} (${actor.via})`;
}

/**
 * In full, for the audit and a run's details. A CLI operator shows as their
 * Slack user and where the command was typed: `alice U0ALICE001 via cli (ops@bastion-1)`.
 */
export function whoFull(actor: Actor): string {
  if (actor.via !== 'cli' || (actor.osUser === undefined && actor.host === undefined)) return who(actor);
  const name = actor.name && actor.name !== actor.id ? `${actor.name} ${actor.id}` : actor.id;
  return `${name} via cli (${actor.osUser ?? '?'}@${actor.host ?? '?'})`;
}

/** Every time the CLI shows: UTC, to the second, `2026-11-25T02:00:00Z`. */
export function utc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
