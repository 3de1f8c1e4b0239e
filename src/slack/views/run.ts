import { describePlace, isTerminal, placesOf, type Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import { describeMembers, isEmpty, ROLE_SETTINGS } from '../../access/roles.ts';
import { blockTextLength, CONFIRM_TEXT_LIMIT, fitBlocks, HEADER_TEXT_LIMIT, linesWithin, packLines, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { ERROR_TEXT_LIMIT } from '../../engine/limits.ts';
import { type Block, code, context, escapeMrkdwn, header, section, type SlackMessage, truncate } from './message.ts';
import { STEPS_PER_PAGE, stepPageCount, stepPageLines, stepSections } from './run-steps.ts';
import { alreadyChanged } from './run-ending.ts';
import { READINESS_REPORT_STEPS, readinessReportOf } from '../../readiness/run-report.ts';
import { readinessRunBlocks } from './readiness.ts';
import { gateBlocks } from './gate.ts';

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

/**
 * The run's one message: the plan with Approve / Reject while it awaits
 * approval, live progress with Cancel while it runs, the outcome at the end.
 * Pure: run state in, Block Kit out. Never shows step inputs (they may hold
 * values from secrets); outputs are shown as steps report them.
 */
export function renderRunMessage(run: Run, now: number, options: { live?: boolean } = {}): SlackMessage {
  const title = `${run.dryRun ? 'Dry run: ' : ''}${run.runbookTitle}`;
  const params = Object.entries(run.params).map(([k, v]) => `${escapeMrkdwn(k)}=${code(v)}`).join('  ');
  const head: Block[] = [
    header(title),
    section(capText(`${STATE_EMOJI[run.state]} *${stateText(run)}* · run \`${run.id}\` · \`${run.runbookId}\` requested by ${who(run.requester)}${params ? `\n${params}` : ''}`, STATUS_LIMIT)),
  ];
  if (run.state === 'running' || isTerminal(run.state)) head.push(section(progressLine(run, now)));
  const where = placesText(run);
  if (where) head.push(section(capText(where, WHERE_LIMIT)));
  // A question the run waits on comes first: people answer it from here (buttons on the run's own message only).
  head.push(...gateBlocks(run, `${describeMembers(run.policy)}${run.policy.allowSelfApproval ? '' : ' other than the requester'}`, options.live !== false));

  const tail: Block[] = [];
  const irreversible = run.plan.flatMap((p) => p.lines.filter((l) => l.irreversible).map((l) => `• ${escapeMrkdwn(l.detail)}`));
  if (irreversible.length && !isTerminal(run.state)) tail.push(...packLines(irreversibleLines(irreversible)).map((t) => section(t)));

  if (run.failure) {
    const failure = `:x: *Failed${run.failure.stepId ? ` at \`${run.failure.stepId}\`` : ''}:* ${escapeMrkdwn(capText(run.failure.message, ERROR_TEXT_LIMIT, 'middle'))}`;
    tail.push(section(`${failure}\n*Already changed:* ${alreadyChanged(run, CHANGED_LIMIT)}`));
  }
  if (run.decision && (run.state === 'rejected' || run.state === 'cancelled' || run.state === 'expired')) {
    const reason = run.decision.reason ? `: ${escapeMrkdwn(capText(run.decision.reason, REASON_LIMIT))}` : '';
    tail.push(section(`${run.state === 'expired' ? 'Expired' : `${capitalize(run.state)} by ${who(run.decision.by)}`} at ${clock(run.decision.at)}${reason}`));
  }
  if (run.state === 'succeeded') {
    // A readiness run shows its report as the checklist and the live RPO, not as raw JSON.
    const readiness = readinessReportOf(run);
    if (readiness) tail.push(...readinessRunBlocks(readiness.report, READINESS_LIMIT));
    const outputs = run.plan.flatMap((p) =>
      Object.entries(run.steps[p.stepId]?.outputs ?? {})
        .filter(([k]) => !(readiness && k === 'report' && READINESS_REPORT_STEPS.has(p.use)))
        .map(([k, v]) => capText(`\`${p.stepId}.${k}\` ${escapeMrkdwn(String(v))}`, RESULT_LINE_LIMIT)),
    );
    const { kept, omitted } = linesWithin(outputs, RESULTS_LIMIT);
    if (outputs.length) tail.push(section(`*Results:*\n${kept.join('\n')}${omitted ? `\n_… ${omitted} more results: \`npm run dr -- status ${run.id}\`_` : ''}`));
  }

  tail.push(context(capText(footer(run), FOOTER_LIMIT)));
  // Only the run's own message in its channel carries buttons; copies (`/dr show`) are read-only.
  const actions = options.live === false ? undefined : actionsFor(run);
  if (actions) tail.push(actions);
  else if (options.live === false && !isTerminal(run.state) && run.message) tail.push(context(`Approve, reject or cancel from the run's message in <#${run.message.channel}>.`));

  // The steps get what the rest leaves of the message's text budget.
  const stepBudget = MESSAGE_BLOCK_TEXT_BUDGET - blockTextLength([...head, ...tail]) - SAFETY_MARGIN;
  const blocks = [...head, ...stepSections(run, now, Math.max(MIN_STEP_BUDGET, stepBudget)), ...tail];
  return { text: `${STATE_EMOJI[run.state]} ${escapeMrkdwn(truncate(title, HEADER_TEXT_LIMIT))}: ${stateText(run)} (run ${run.id})`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

/**
 * `/dr show <run> page N`: one page of a plan too long for its message, every
 * step on it shown. Read-only, like every copy of a run.
 */
export function renderRunStepsPage(run: Run, page: number, now: number): SlackMessage {
  const pages = stepPageCount(run);
  const first = (page - 1) * STEPS_PER_PAGE + 1;
  const last = Math.min(run.plan.length, page * STEPS_PER_PAGE);
  const title = `${run.dryRun ? 'Dry run: ' : ''}${run.runbookTitle}`;
  const around = [page > 1 ? `previous: \`/dr show ${run.id} page ${page - 1}\`` : '', page < pages ? `next: \`/dr show ${run.id} page ${page + 1}\`` : ''].filter(Boolean);
  const blocks: Block[] = [
    header(title),
    context(`${STATE_EMOJI[run.state]} ${stateText(run)} · run \`${run.id}\` · steps ${first}–${last} of ${run.plan.length} · page ${page} of ${pages}`),
    ...packLines(stepPageLines(run, page, now)).map((t) => section(t)),
    context(around.length ? around.join(' · ') : `the whole run: \`/dr show ${run.id}\``),
  ];
  return { text: `${escapeMrkdwn(truncate(title, HEADER_TEXT_LIMIT))}: steps ${first}–${last} of ${run.plan.length} (run ${run.id})`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

/** Caps on each part of the run message, so that together they leave the steps room (MESSAGE_BLOCK_TEXT_BUDGET). */
const STATUS_LIMIT = 1_000;
const WHERE_LIMIT = 1_200;
const IRREVERSIBLE_LIMIT = 2_500;
const CHANGED_LIMIT = 800;
const REASON_LIMIT = 500;
const RESULT_LINE_LIMIT = 300;
const RESULTS_LIMIT = 1_500;
/** A readiness run's checklist and live RPO (the whole list: `/dr check status`). */
const READINESS_LIMIT = 3_500;
const FOOTER_LIMIT = 1_000;
/** Slack's count and ours may differ by a little (entities, emoji names): keep some room. */
const SAFETY_MARGIN = 100;
const MIN_STEP_BUDGET = 1_500;

/**
 * What cannot be undone, never hidden however big the plan: every line is
 * kept, shortened when they do not all fit.
 */
function irreversibleLines(lines: readonly string[]): string[] {
  const heading = ':warning: *Cannot be undone:*';
  const room = IRREVERSIBLE_LIMIT - heading.length;
  if (lines.join('\n').length + 1 <= room) return [`${heading}\n${lines[0] ?? ''}`, ...lines.slice(1)];
  // A readable stub each, even past the limit: these are never dropped.
  const each = Math.max(24, Math.floor(room / lines.length) - 1);
  const short = lines.map((l) => truncate(l, each, '…'));
  return [`${heading}\n${short[0] ?? ''}`, ...short.slice(1)];
}

/**
 * Where the run acts, which the approval covers: one place (target, region,
 * account, cluster) for the whole run, or each place with its steps.
 */
function placesText(run: Run): string | undefined {
  const places = placesOf(run.plan);
  if (places.length === 0) return undefined;
  const [only] = places;
  if (places.length === 1 && only) return `:round_pushpin: *Where:* ${escapeMrkdwn(describePlace(only.place))}`;
  return [':round_pushpin: *Where:*', ...places.map((p) => `• ${escapeMrkdwn(describePlace(p.place))}: ${p.steps.map((id) => `\`${id}\``).join(', ')}`)].join('\n');
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
        button('Approve', RUN_ACTIONS.approve, 'primary', { title: 'Approve this run?', text: truncate(`${whereShort(run)}It will ${run.plan.map((p) => escapeMrkdwn(p.name.toLowerCase())).join(', then ')}.`, CONFIRM_TEXT_LIMIT), confirm: 'Approve' }),
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

/** `In dr (us-west-2, account 222222222222) and default: ` for the approval's confirmation. */
function whereShort(run: Run): string {
  const places = placesOf(run.plan);
  if (places.length === 0) return '';
  const names = places.map(({ place }) => `${escapeMrkdwn(place.target)}${place.region ? ` (${[place.region, place.account].filter(Boolean).join(', ')})` : ''}`);
  return `In ${names.join(' and ')}: `;
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
