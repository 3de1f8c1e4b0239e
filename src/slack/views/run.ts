import { changedSteps, isTerminal, type PlannedStep, type Run, type StepRecord } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { describeMembers, isEmpty, ROLE_SETTINGS } from '../../access/roles.ts';
import { type Block, code, context, escapeMrkdwn, header, SECTION_TEXT_LIMIT, section, type SlackMessage, truncate } from './message.ts';

/** Button action ids; the value of every button is the run id. */
export const RUN_ACTIONS = { approve: 'run.approve', reject: 'run.reject', cancel: 'run.cancel', dryRun: 'run.dry-run' } as const;

const STATE_EMOJI: Record<Run['state'], string> = {
  planned: ':memo:',
  awaiting_approval: ':hourglass_flowing_sand:',
  approved: ':white_check_mark:',
  running: ':arrows_counterclockwise:',
  succeeded: ':large_green_circle:',
  failed: ':red_circle:',
  cancelled: ':black_square_for_stop:',
  expired: ':alarm_clock:',
  rejected: ':no_entry:',
};

const STEP_EMOJI: Record<StepRecord['state'], string> = {
  pending: ':white_small_square:',
  running: ':arrow_forward:',
  succeeded: ':heavy_check_mark:',
  failed: ':x:',
  skipped: ':fast_forward:',
  cancelled: ':black_square_for_stop:',
};

/** Slack allows 50 blocks; the run message uses at most this many. */
const MAX_BLOCKS = 50;

/**
 * The run's one message: the plan with Approve / Reject while it awaits
 * approval, live progress with Cancel while it runs, the outcome at the end.
 * Pure: run state in, Block Kit out. Never shows step inputs (they may hold
 * values from secrets); outputs are shown as steps report them.
 */
export function renderRunMessage(run: Run, now: number, options: { live?: boolean } = {}): SlackMessage {
  const blocks: Block[] = [];
  const title = `${run.dryRun ? 'Dry run: ' : ''}${run.runbookTitle}`;
  blocks.push(header(title));
  const params = Object.entries(run.params).map(([k, v]) => `${escapeMrkdwn(k)}=${code(v)}`).join('  ');
  blocks.push(section(`${STATE_EMOJI[run.state]} *${stateText(run)}* · run \`${run.id}\` · \`${run.runbookId}\` requested by ${who(run.requester)}${params ? `\n${params}` : ''}`));

  if (run.state === 'running' || isTerminal(run.state)) blocks.push(section(progressLine(run, now)));
  blocks.push(...stepSections(run, now));

  const irreversible = run.plan.flatMap((p) => p.lines.filter((l) => l.irreversible).map((l) => `• ${escapeMrkdwn(l.detail)}`));
  if (irreversible.length && !isTerminal(run.state)) blocks.push(section(`:warning: *Cannot be undone:*\n${irreversible.join('\n')}`));

  if (run.failure) {
    const done = changedSteps(run).filter((s) => s.state === 'succeeded').map((s) => `\`${s.stepId}\``);
    blocks.push(section(`:x: *Failed${run.failure.stepId ? ` at \`${run.failure.stepId}\`` : ''}:* ${escapeMrkdwn(run.failure.message)}\n*Already changed:* ${done.join(', ') || 'nothing'}`));
  }
  if (run.decision && (run.state === 'rejected' || run.state === 'cancelled' || run.state === 'expired')) {
    blocks.push(section(`${run.state === 'expired' ? 'Expired' : `${capitalize(run.state)} by ${who(run.decision.by)}`} at ${clock(run.decision.at)}${run.decision.reason ? `: ${escapeMrkdwn(run.decision.reason)}` : ''}`));
  }
  if (run.state === 'succeeded') {
    const outputs = run.plan.flatMap((p) => Object.entries(run.steps[p.stepId]?.outputs ?? {}).map(([k, v]) => `\`${p.stepId}.${k}\` ${escapeMrkdwn(String(v))}`));
    if (outputs.length) blocks.push(section(`*Results:*\n${outputs.join('\n')}`));
  }

  blocks.push(context(footer(run)));
  // Only the run's own message in its channel carries buttons; copies (`/dr show`) are read-only.
  const actions = options.live === false ? undefined : actionsFor(run);
  if (actions) blocks.push(actions);
  else if (options.live === false && !isTerminal(run.state) && run.message) blocks.push(context(`Approve, reject or cancel from the run's message in <#${run.message.channel}>.`));
  return { text: `${STATE_EMOJI[run.state]} ${escapeMrkdwn(title)}: ${stateText(run)} (run ${run.id})`, blocks: fit(blocks) };
}

function stateText(run: Run): string {
  switch (run.state) {
    case 'awaiting_approval':
      return `awaiting approval (${run.approvals.length} of ${run.policy.required})`;
    case 'running':
      return run.cancelRequested ? 'running — cancel requested' : 'running';
    default:
      return run.state.replace('_', ' ');
  }
}

/** `▓▓▓░░░ 3/6 steps · 4m 10s elapsed · RTO 2h (3 %)` */
function progressLine(run: Run, now: number): string {
  const total = run.plan.length;
  const done = run.plan.filter((p) => ['succeeded', 'skipped'].includes(run.steps[p.stepId]?.state ?? '')).length;
  const width = 12;
  const filled = total ? Math.round((done / total) * width) : 0;
  const bar = `${'▓'.repeat(filled)}${'░'.repeat(width - filled)}`;
  const elapsed = (run.finishedAt ?? now) - (run.startedAt ?? now);
  const rto = run.rtoMs ? ` · RTO ${formatDuration(run.rtoMs)} (${Math.round((elapsed / run.rtoMs) * 100)} % used)` : '';
  return `\`${bar}\` ${done}/${total} steps · ${formatDuration(elapsed)} ${run.finishedAt ? 'total' : 'elapsed'}${rto}`;
}

/** Above a runbook's `always` steps, in plans and live messages. */
const CLEANUP_HEADING = '*Always, however the run ends (cleanup):*';

function stepSections(run: Run, now: number): Block[] {
  const firstCleanup = run.plan.findIndex((p) => p.always);
  const lines = run.plan.map((p, i) => `${i === firstCleanup ? `${CLEANUP_HEADING}\n` : ''}${stepLine(p, run.steps[p.stepId], run, now)}`);
  // Pack step lines into as few sections as Slack's text limit allows.
  const sections: string[] = [];
  for (const line of lines) {
    const last = sections.at(-1);
    if (last !== undefined && last.length + line.length + 1 <= SECTION_TEXT_LIMIT) sections[sections.length - 1] = `${last}\n${line}`;
    else sections.push(truncate(line, SECTION_TEXT_LIMIT));
  }
  return sections.map((s) => section(s));
}

function stepLine(p: PlannedStep, s: StepRecord | undefined, run: Run, now: number): string {
  const state = s?.state ?? 'pending';
  const name = `*${escapeMrkdwn(p.name)}*`;
  let detail: string;
  switch (state) {
    case 'pending':
      detail = isTerminal(run.state) ? 'not run' : p.lines.map((l) => escapeMrkdwn(l.detail)).join('; ');
      break;
    case 'running':
      detail = `${formatDuration(now - (s?.startedAt ?? now))}${s?.progress ? ` — ${escapeMrkdwn(s.progress.message)}` : ''}${s && s.attempts > 1 ? ` (attempt ${s.attempts})` : ''}`;
      break;
    case 'succeeded':
      detail = `done in ${formatDuration((s?.finishedAt ?? now) - (s?.startedAt ?? now))}`;
      break;
    case 'skipped':
      detail = s?.wouldDo ? `would ${s.wouldDo.map((l) => escapeMrkdwn(l.detail)).join('; ')}` : 'skipped';
      break;
    default:
      detail = escapeMrkdwn(s?.error ?? state);
  }
  return truncate(`${STEP_EMOJI[state]} ${name} — ${detail}`, 600);
}

function footer(run: Run): string {
  const parts: string[] = [];
  if (run.state === 'awaiting_approval') {
    parts.push(`${approversLine(run)} · expires ${clock(run.expiresAt)}`);
  }
  for (const a of run.approvals) parts.push(`approved by ${who(a.by)} at ${clock(a.at)}`);
  parts.push(`audit: \`/dr audit ${run.id}\``);
  return parts.join(' · ');
}

/** Who may approve, as the plan states it; says plainly when nobody can yet. */
export function approversLine(run: Pick<Run, 'policy'>): string {
  const { policy } = run;
  const count = `${policy.required} approval${policy.required > 1 ? 's' : ''}`;
  if (isEmpty(policy)) return `:no_entry: Needs ${count}, but nobody may approve yet: set ${policy.source ?? ROLE_SETTINGS.approvers} (docs/security.md)`;
  return `Needs ${count} from ${describeMembers(policy)}${policy.allowSelfApproval ? '' : ' other than the requester'}`;
}

function actionsFor(run: Run): Block | undefined {
  const button = (text: string, actionId: string, style?: 'primary' | 'danger', confirm?: { title: string; text: string; confirm: string }) => ({
    type: 'button' as const,
    text: { type: 'plain_text' as const, text },
    action_id: actionId,
    value: run.id,
    ...(style ? { style } : {}),
    ...(confirm
      ? { confirm: { title: { type: 'plain_text' as const, text: confirm.title }, text: { type: 'mrkdwn' as const, text: confirm.text }, confirm: { type: 'plain_text' as const, text: confirm.confirm }, deny: { type: 'plain_text' as const, text: 'Back' } } }
      : {}),
  });
  if (run.state === 'awaiting_approval') {
    return {
      type: 'actions',
      block_id: `run-${run.id}`,
      elements: [
        button('Approve', RUN_ACTIONS.approve, 'primary', { title: 'Approve this run?', text: truncate(`It will ${run.plan.map((p) => escapeMrkdwn(p.name.toLowerCase())).join(', then ')}.`, 300), confirm: 'Approve' }),
        button('Reject', RUN_ACTIONS.reject, 'danger'),
        button('Dry run', RUN_ACTIONS.dryRun),
      ],
    };
  }
  if (run.state === 'running' && !run.cancelRequested) {
    return {
      type: 'actions',
      block_id: `run-${run.id}`,
      elements: [button('Cancel', RUN_ACTIONS.cancel, 'danger', { title: 'Cancel this run?', text: 'It stops at the current step; steps already done stay done.', confirm: 'Cancel run' })],
    };
  }
  return undefined;
}

/** Keeps the message inside Slack's block limit, dropping step sections from the middle with a note. */
function fit(blocks: Block[]): Block[] {
  if (blocks.length <= MAX_BLOCKS) return blocks;
  const keepHead = 3;
  const keepTail = MAX_BLOCKS - keepHead - 1;
  return [...blocks.slice(0, keepHead), context(`… ${blocks.length - keepHead - keepTail} more sections not shown; \`/dr show\` has them all`), ...blocks.slice(-keepTail)];
}

function who(actor: { id: string; name?: string | undefined; via: string }): string {
  return actor.via === 'slack' ? `<@${actor.id}>` : escapeMrkdwn(actor.name ?? actor.id);
}

function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
