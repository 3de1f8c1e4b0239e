import type { RecoveryReport } from '../../reports/recovery.ts';
import { formatDuration } from '../../util/duration.ts';
import { code, escapeMrkdwn, type SlackMessage } from './message.ts';

const OUTCOME_EMOJI: Record<RecoveryReport['outcome'], string> = { succeeded: ':white_check_mark:', failed: ':x:', cancelled: ':black_square_for_stop:' };

/** The message that comes with the file: the outcome and the recovery time against the RTO, in one line. */
export function recoveryReportComment(r: RecoveryReport): string {
  const t = r.recoveryTime;
  const rto = t.achievedMs === undefined
    ? 'recovery not achieved'
    : `recovered in ${formatDuration(t.achievedMs)} from the request${t.until === 'health-check' ? ' to the health check passing' : ''}${t.objectiveMs === undefined ? '' : ` (RTO ${formatDuration(t.objectiveMs)}: ${t.withinObjective ? 'within' : 'missed'})`}`;
  const rpo = r.rpo.achievedMs === undefined ? 'data loss not known' : `data loss ${r.rpo.achievedMs === 0 ? '0s' : formatDuration(r.rpo.achievedMs)}${r.rpo.objectiveMs === undefined ? '' : ` (RPO ${r.rpo.objectiveMs === 0 ? '0s' : formatDuration(r.rpo.objectiveMs)}: ${r.rpo.withinObjective ? 'within' : 'missed'})`}`;
  return `${OUTCOME_EMOJI[r.outcome]} Recovery report: *${escapeMrkdwn(r.runbookTitle)}* (\`${r.runId}\`) ${r.outcome}: ${rto}; ${rpo}. The plan as approved, who approved when, every step and what changed are attached.`;
}

/** Changed steps listed at most in the private answer (the file lists them all). */
const CHANGED_SHOWN = 15;

function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * `/dr report <run>` answered privately: the outcome, the recovery time and
 * data loss against the objectives, who requested and approved when, and
 * what changed; the whole report is `/dr report <run> file`. Pure.
 */
export function renderRecoveryReportAnswer(r: RecoveryReport, slash: string): SlackMessage {
  const who = (p: RecoveryReport['requestedBy']) => `${escapeMrkdwn(p.name ?? p.id)} at ${when(p.at)}`;
  const changed = r.changed.slice(0, CHANGED_SHOWN).map((c) => `• ${code(c.stepId)} ${escapeMrkdwn(c.name)}${c.state === 'succeeded' ? '' : ` (${c.state}: may have changed something)`}`);
  const lines = [
    recoveryReportComment(r).replace(/ The plan as approved.*$/, ''),
    `Requested by ${who(r.requestedBy)}; approved by ${r.approvedBy.length ? r.approvedBy.map(who).join(', ') : 'nobody'}.`,
    `Ran ${when(r.startedAt)}${r.finishedAt === undefined ? '' : ` to ${when(r.finishedAt)} (${formatDuration(r.finishedAt - r.startedAt)})`}; ${r.steps.length} steps.`,
    '*What changed*',
    ...(changed.length ? changed : ['• Nothing: no step that acts ran to its end.']),
    ...(r.changed.length > CHANGED_SHOWN ? [`• … and ${r.changed.length - CHANGED_SHOWN} more`] : []),
    `The whole report (the plan as approved, every step's start, end and outcome, the timeline): \`${slash} report ${r.runId} file\`, or \`npm run dr -- report ${r.runId} [--json]\`.`,
  ];
  return { text: lines.join('\n') };
}
