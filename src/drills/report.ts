import type { AuditEntry, Run } from '../runs/model.ts';
import { formatDuration } from '../util/duration.ts';
import { capText } from '../util/text.ts';
import type { DrillRecord, DrillStep } from './model.ts';
import { MEASURED_RPO_OUTPUT } from './model.ts';

/**
 * A drill's report as a Markdown file (pure): the result, the RTO and RPO
 * against the objectives, why it failed, each step with its duration, and the
 * timeline from the run's audit. Every value from the run (names, messages,
 * who) is escaped, so nothing in it is read as Markdown or HTML.
 */

/** Audit entries shown at most; the rest are counted. */
const TIMELINE_LIMIT = 200;
const DETAIL_LIMIT = 300;

/** Text from a run, inert in Markdown: one line, every character Markdown or HTML would read escaped. */
export function mdText(value: string): string {
  return value.replace(/[\r\n\u2028\u2029\t]+/g, ' ').replace(/[\\`*_{}[\]<>|#~!&]/g, (c) => `\\${c}`);
}

/** An identifier as inline code (run and step ids are plain, but a backtick must not end the span). */
export function mdCode(value: string): string {
  return `\`${value.replace(/[`\r\n]/g, '')}\``;
}

export function utcSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function took(ms: number | undefined): string {
  return ms === undefined ? '—' : formatDuration(ms);
}

/** The report file's name: unique per run, so a retry finds it in the channel. */
export function drillReportFilename(runId: string): string {
  return `drill-${runId}.md`;
}

export function renderDrillReport(drill: DrillRecord, run: Pick<Run, 'requester' | 'approvals'>, audit: readonly AuditEntry[]): string {
  const lines: string[] = [
    `# Drill report: ${mdText(drill.runbookTitle)}`,
    '',
    '| | |',
    '| --- | --- |',
    `| Result | **${drill.passed ? 'PASSED' : 'FAILED'}** |`,
    `| Run | ${mdCode(drill.runId)} (runbook ${mdCode(drill.runbookId)}), ${drill.outcome} |`,
    `| Scenario | ${mdText(drill.scenarioTitle)} (${mdCode(drill.scenario)}) |`,
    `| Requested by | ${mdText(run.requester.name ?? run.requester.id)} (${run.requester.via}) |`,
    ...(run.approvals.length ? [`| Approved by | ${run.approvals.map((a) => mdText(a.by.name ?? a.by.id)).join(', ')} |`] : []),
    `| Started | ${utcSeconds(drill.startedAt)} |`,
    `| Ended | ${utcSeconds(drill.finishedAt)} |`,
    `| Took | ${formatDuration(drill.durationMs)} (cleanup included) |`,
    '',
    '## RTO and RPO against the objectives',
    '',
    '| | achieved | objective | |',
    '| --- | --- | --- | --- |',
    rtoRow(drill),
    rpoRow(drill),
    '',
    'RTO: from the run\'s start to the end of its last main step (cleanup steps excluded: recovery was done then).',
    `RPO: the largest \`${MEASURED_RPO_OUTPUT}\` a step reported (the data the recovery did not bring back).`,
  ];
  if (drill.reasons.length) lines.push('', drill.passed ? '## Problems' : '## Why it failed', '', ...drill.reasons.map((r) => `- ${mdText(r)}`));
  if (drill.notes.length) lines.push('', '## Notes', '', ...drill.notes.map((n) => `- ${mdText(n)}`));
  lines.push('', '## Steps', '', '| # | step | what | state | started | took |', '| --- | --- | --- | --- | --- | --- |');
  drill.steps.forEach((s, i) => lines.push(stepRow(s, i)));
  const errors = drill.steps.filter((s) => s.error);
  if (errors.length) lines.push('', ...errors.map((s) => `- ${mdCode(s.stepId)} ${s.state}: ${mdText(s.error ?? '')}`));
  lines.push('', '## Timeline', '');
  const shown = audit.slice(0, TIMELINE_LIMIT);
  for (const entry of shown) {
    const who = entry.actor.name ?? entry.actor.id;
    lines.push(`- ${utcSeconds(entry.at)}: ${mdText(who)} (${entry.actor.via}): ${mdText(entry.action)}${entry.detail ? `: ${mdText(capText(entry.detail, DETAIL_LIMIT))}` : ''}`);
  }
  if (audit.length > shown.length) lines.push(`- … and ${audit.length - shown.length} more entries (\`audit ${drill.runId}\` lists them all)`);
  if (audit.length === 0) lines.push('- No audit entries were found.');
  return `${lines.join('\n')}\n`;
}

function rtoRow(d: DrillRecord): string {
  const objective = formatDuration(d.rtoObjectiveMs);
  if (d.achievedRtoMs === undefined) return `| RTO | not achieved (a main step did not succeed) | ${objective} | missed |`;
  return `| RTO | ${formatDuration(d.achievedRtoMs)} | ${objective} | ${d.achievedRtoMs <= d.rtoObjectiveMs ? 'within' : 'missed'} |`;
}

function rpoRow(d: DrillRecord): string {
  const objective = d.rpoObjectiveMs === 0 ? '0s (no data loss)' : formatDuration(d.rpoObjectiveMs);
  if (d.measuredRpoMs === undefined) return `| RPO | not measured | ${objective} | — |`;
  const value = d.measuredRpoMs === 0 ? '0s' : formatDuration(d.measuredRpoMs);
  return `| RPO | ${value} (step ${mdCode(d.rpoStepId ?? '?')}) | ${objective} | ${d.measuredRpoMs <= d.rpoObjectiveMs ? 'within' : 'missed'} |`;
}

function stepRow(s: DrillStep, index: number): string {
  const name = `${mdText(s.name)}${s.cleanup ? ' (cleanup)' : ''}`;
  return `| ${index + 1} | ${mdCode(s.stepId)} | ${name} | ${s.state} | ${s.startedAt === undefined ? '—' : clock(s.startedAt)} | ${took(s.durationMs)} |`;
}
