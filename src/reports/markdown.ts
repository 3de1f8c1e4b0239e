import { mdCode, mdText, utcSeconds } from '../drills/report.ts';
import { formatDuration } from '../util/duration.ts';
import type { RecoveryReport, ReportPerson, ReportStep } from './recovery.ts';

/**
 * A recovery report as Markdown (pure; docs/reports.md). Every value from the
 * run (names, parameters, plan lines, errors, audit) is escaped, so nothing
 * in it is read as Markdown or HTML.
 */

/** Audit entries shown at most; the rest are counted (the JSON export has them all). */
const TIMELINE_LIMIT = 200;

/** The report file's name: unique per run, so a retry finds it in the channel. */
export function recoveryReportFilename(runId: string): string {
  return `recovery-${runId}.md`;
}

export function renderRecoveryMarkdown(r: RecoveryReport): string {
  const lines: string[] = [
    `# Recovery report: ${mdText(r.runbookTitle)}`,
    '',
    '| | |',
    '| --- | --- |',
    `| Run | ${mdCode(r.runId)} (runbook ${mdCode(r.runbookId)}) |`,
    `| Outcome | **${r.outcome.toUpperCase()}**${r.ending ? `: ${mdText(r.ending)}` : ''} |`,
    `| Scenario | ${r.scenario ? `${mdText(r.scenario.title)} (${mdCode(r.scenario.id)})` : 'none named by the runbook'} |`,
    ...(r.incidentId ? [`| Incident | ${mdCode(r.incidentId)} |`] : []),
    `| Requested | ${who(r.requestedBy)} |`,
    `| Approved | ${r.approvedBy.length ? r.approvedBy.map(who).join('; ') : '—'} |`,
    `| Started | ${utcSeconds(r.startedAt)} |`,
    `| Ended | ${r.finishedAt === undefined ? '—' : utcSeconds(r.finishedAt)} |`,
    ...(Object.keys(r.params).length ? [`| Parameters | ${Object.entries(r.params).map(([k, v]) => `${mdText(k)}=${mdText(String(v))}`).join(' ')} |`] : []),
    '',
    ...recoverySections(r, '##'),
    '',
    '## Steps',
    '',
    '| # | step | what | state | started | ended | took | tries |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.steps.map(stepRow),
  ];
  const errors = r.steps.filter((s) => s.error);
  if (errors.length) lines.push('', ...errors.map((s) => `- ${mdCode(s.stepId)} ${s.state}: ${mdText(s.error ?? '')}`));
  lines.push('', '## Timeline', '');
  const shown = r.audit.slice(0, TIMELINE_LIMIT);
  for (const e of shown) lines.push(`- ${utcSeconds(e.at)}: ${mdText(e.who)} (${e.via}): ${mdText(e.action)}${e.detail ? `: ${mdText(e.detail)}` : ''}`);
  if (r.audit.length > shown.length) lines.push(`- … and ${String(r.audit.length - shown.length)} more entries (the JSON export has them all)`);
  if (r.audit.length === 0) lines.push('- No audit entries were found.');
  lines.push('', `Generated ${utcSeconds(r.generatedAt)}.`);
  return `${lines.join('\n')}\n`;
}

/**
 * What a drill's report adds from the recovery report (docs/reports.md): a
 * drill keeps its one file, and it carries the same recovery fields.
 */
export function renderRecoveryAppendix(r: RecoveryReport): string {
  const lines = [
    '## Recovery record',
    '',
    `Requested by ${who(r.requestedBy)}; approved by ${r.approvedBy.length ? r.approvedBy.map(who).join('; ') : 'nobody'}.`,
    '',
    ...recoverySections(r, '###'),
  ];
  return `${lines.join('\n')}\n`;
}

/** The recovery time and data loss against the objectives, what changed, and the plan as approved. */
function recoverySections(r: RecoveryReport, level: '##' | '###'): string[] {
  const lines = [
    `${level} Recovery time and data loss against the objectives`,
    '',
    '| | achieved | objective | |',
    '| --- | --- | --- | --- |',
    rtoRow(r),
    rpoRow(r),
    '',
    rtoNote(r),
    rpoNote(r),
    '',
    `${level} What changed`,
    '',
    ...(r.changed.length
      ? r.changed.map((c) => `- ${mdCode(c.stepId)} ${mdText(c.name)}: ${c.state === 'succeeded' ? 'done' : `${c.state} (may have changed something)`}`)
      : ['- Nothing: no step that acts ran to its end.']),
    '',
    `${level} The plan as approved`,
    '',
  ];
  r.steps.forEach((s, i) => {
    lines.push(`${String(i + 1)}. **${mdText(s.name)}** ${mdCode(s.stepId)} (${mdCode(s.use)})${s.cleanup ? ', cleanup' : ''}${s.place ? `, on ${mdText(s.place)}` : ''}`);
    for (const l of s.lines) lines.push(`    - ${l.action} ${mdText(l.resource)}: ${mdText(l.detail)}${l.irreversible ? ' **(irreversible)**' : ''}`);
  });
  return lines;
}

function who(p: ReportPerson): string {
  return `${mdText(p.name ?? p.id)} (${p.via}) at ${utcSeconds(p.at)}`;
}

function verdict(within: boolean | undefined): string {
  return within === undefined ? '—' : within ? 'within' : 'missed';
}

function objectiveText(ms: number | undefined, zero = '0s'): string {
  return ms === undefined ? 'none (no scenario)' : ms === 0 ? zero : formatDuration(ms);
}

function rtoRow(r: RecoveryReport): string {
  const t = r.recoveryTime;
  const objective = objectiveText(t.objectiveMs);
  if (t.achievedMs === undefined) return `| Recovery time (RTO) | not achieved (a main step did not succeed) | ${objective} | ${t.objectiveMs === undefined ? '—' : 'missed'} |`;
  return `| Recovery time (RTO) | ${formatDuration(t.achievedMs)} | ${objective} | ${verdict(t.withinObjective)} |`;
}

function rpoRow(r: RecoveryReport): string {
  const p = r.rpo;
  const objective = objectiveText(p.objectiveMs, '0s (no data loss)');
  if (p.achievedMs === undefined) return `| Data loss (RPO) | not known | ${objective} | — |`;
  return `| Data loss (RPO) | ${p.achievedMs === 0 ? '0s' : formatDuration(p.achievedMs)} | ${objective} | ${verdict(p.withinObjective)} |`;
}

function rtoNote(r: RecoveryReport): string {
  const t = r.recoveryTime;
  const from = `from the request (${utcSeconds(t.fromAt)})`;
  if (t.until === undefined || t.untilAt === undefined) return `Recovery time: ${from}; not achieved, since a main step did not succeed.`;
  const until = t.until === 'health-check' ? `until the health check passed (step ${mdCode(t.stepId ?? '?')}` : `until the last main step ended (step ${mdCode(t.stepId ?? '?')}; the run has no health check`;
  return `Recovery time: ${from} ${until}, ${utcSeconds(t.untilAt)}).`;
}

function rpoNote(r: RecoveryReport): string {
  const p = r.rpo;
  if (p.source === 'measured') return `Data loss: measured by step ${mdCode(p.stepId ?? '?')} (measuredRpoSeconds).`;
  if (p.source === 'restore-point') {
    return `Data loss: from the restore point ${mdText(p.restorePoint ?? '')}${p.stepId ? ` (step ${mdCode(p.stepId)})` : ''} to ${r.incidentId ? "the incident's start" : 'the request'} (${utcSeconds(p.lossAt ?? 0)}).`;
  }
  return 'Data loss: not known (no step measured it and no restore point was reported).';
}

function stepRow(s: ReportStep, i: number): string {
  const time = (ms: number | undefined) => (ms === undefined ? '—' : utcSeconds(ms).slice(11, 19));
  const took = s.durationMs === undefined ? '—' : formatDuration(s.durationMs);
  return `| ${String(i + 1)} | ${mdCode(s.stepId)} | ${mdText(s.name)}${s.cleanup ? ' (cleanup)' : ''} | ${s.state} | ${time(s.startedAt)} | ${time(s.finishedAt)} | ${took} | ${String(s.attempts)} |`;
}
