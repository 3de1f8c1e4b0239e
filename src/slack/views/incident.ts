import { type Check, type Incident, INCIDENT_TRANSITIONS, type IncidentState } from '../../incidents/model.ts';
import type { TemplateValues } from '../../incidents/templates.ts';
import { CONFIRM_TEXT_LIMIT, fitBlocks, HINT_TEXT_LIMIT, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, MODAL_TITLE_LIMIT, OPTION_TEXT_LIMIT, SECTION_TEXT_LIMIT } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { type Block, type Button, context, escapeMrkdwn, header, mrkdwn, section, type SlackMessage, truncate } from './message.ts';

/**
 * Button action ids. Status buttons carry `<incident>|<state>`, checklist
 * buttons `<incident>|<list>|<item>`, the publish button `<incident>`.
 */
export const INCIDENT_ACTIONS = { status: 'incident.status', check: 'incident.check', uncheck: 'incident.uncheck', publish: 'incident.publish' } as const;

/** What the summary says about a public incident's status page. */
export interface SummaryPublication {
  /** The held creation: exactly what goes public when a publisher confirms. */
  pending?: { name: string; body: string } | undefined;
  /** Who may publish (`describePublishers`). */
  publishers: { nobody: boolean; who: string };
}

/** Caps on the summary's free-text parts, so that together they stay within MESSAGE_BLOCK_TEXT_BUDGET. */
const FACTS_LIMIT = 1_500;
const ACTIONS_TAKEN_LIMIT = 2_500;
const NEXT_STEPS_LIMIT = 1_200;

const STATE_EMOJI: Record<IncidentState, string> = {
  investigating: ':mag:',
  identified: ':bulb:',
  monitoring: ':eyes:',
  resolved: ':white_check_mark:',
};

const STATE_LABEL: Record<IncidentState, string> = {
  investigating: 'Investigating',
  identified: 'Identified',
  monitoring: 'Monitoring',
  resolved: 'Resolved',
};

/**
 * The pinned incident summary, kept current on every change and by the
 * incident clock. `values` come from the service's snapshot (bot-built
 * markup for commander, actions and next steps). Pure.
 */
export function renderIncidentSummary(incident: Incident, values: TemplateValues, publication?: SummaryPublication): SlackMessage {
  const v = (k: keyof TemplateValues) => escapeMrkdwn(values[k] ?? '—');
  const resolved = incident.state === 'resolved';
  const rto = resolved ? `achieved ${v('rto_achieved')}, ${v('rto_verdict')}` : values.rto_remaining?.startsWith('RTO exceeded') ? `:warning: *${v('rto_remaining')}*` : `${v('rto_remaining')} left`;
  const rpo = incident.restorePoint ? `${v('rpo_achieved')} (${v('rpo_verdict')})` : 'no restore yet';
  const blocks: Block[] = [
    header(`${incident.severity.toUpperCase()} · ${incident.title}`),
    section(
      capText([
        `${STATE_EMOJI[incident.state]} *Status:* ${v('status')} — ${v('current_status')}`,
        `*Impact:* ${v('impact')} · *Affected:* ${v('affected_services')} · *Scenario:* ${v('scenario')}`,
        `*Started:* ${v('started_at')} (${v('duration')} ${resolved ? 'in all' : 'ago'}) · *Commander:* ${values.commander ?? '—'} · *ETR:* ${v('etr')}`,
        `*RTO* ${v('rto_target')}: ${rto} · *RPO* ${v('rpo_target')}: ${rpo}`,
      ].join('\n'), FACTS_LIMIT),
    ),
    section(`*Actions taken*\n${capText(values.actions_taken ?? 'None yet.', ACTIONS_TAKEN_LIMIT)}`),
    section(`*Next steps*\n${capText(values.next_steps ?? '—', NEXT_STEPS_LIMIT)}`),
  ];
  if (incident.public && incident.publication === 'held') blocks.push(...publishBlocks(incident, publication));
  const next = INCIDENT_TRANSITIONS[incident.state];
  if (next.length) {
    blocks.push({
      type: 'actions',
      block_id: 'incident-status',
      elements: next.map((state) => ({
        type: 'button',
        // Out of resolved the only way is reopening, the commander's call.
        text: { type: 'plain_text', text: resolved ? 'Reopen…' : `${STATE_LABEL[state]}…` },
        action_id: `${INCIDENT_ACTIONS.status}.${state}`,
        value: `${incident.id}|${state}`,
        ...(state === 'resolved' ? { style: 'primary' as const } : {}),
      })),
    });
  }
  const page = !incident.public
    ? ' · private: no status page'
    : incident.publication === 'held'
      ? ' · status page: not published yet'
      : incident.publishedBy
        ? ` · status page published by <@${incident.publishedBy}>${incident.publishedAt ? ` at ${new Date(incident.publishedAt).toISOString().slice(11, 16)} UTC` : ''}; it follows`
        : ' · the status page follows';
  const who = resolved ? ' · only the commander may reopen it' : ' · status changes: the commander or DR_RESPONDERS, in this channel';
  blocks.push(context(`Incident \`${incident.id}\` · or \`/dr status <investigating|identified|monitoring|resolved> "what changed"\`${who}${page}`));
  return { text: `${STATE_EMOJI[incident.state]} ${escapeMrkdwn(incident.title)}: ${incident.state}`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

/**
 * A public incident not on the status page yet: the exact text that will go
 * out, who may publish it, and the button (with Slack's confirmation showing
 * that text). Nothing is sent before; status changes queue meanwhile.
 */
function publishBlocks(incident: Incident, publication: SummaryPublication | undefined): Block[] {
  const publishers = publication?.publishers ?? { nobody: true, who: 'nobody may publish yet: set DR_PUBLISHERS' };
  const pending = publication?.pending;
  const quoted = pending ? `\n>*${escapeMrkdwn(pending.name)}*\n${pending.body.split('\n').map((l) => `>${escapeMrkdwn(l)}`).join('\n')}` : '';
  const blocks: Block[] = [
    section(
      `:newspaper: *Status page: not published yet.* Nothing is public until a publisher confirms; status changes are kept and follow in order once it is out. ${
        publishers.nobody ? `:warning: ${capitalizeFirst(publishers.who)}.` : `May publish: ${publishers.who}.`
      }${quoted}`,
    ),
  ];
  if (publishers.nobody) return blocks;
  const button: Button = {
    type: 'button',
    text: { type: 'plain_text', text: 'Publish to status page' },
    action_id: INCIDENT_ACTIONS.publish,
    value: incident.id,
    style: 'danger',
    confirm: {
      title: { type: 'plain_text', text: 'Publish to the status page?' },
      text: mrkdwn(confirmText(pending ? `${pending.name}: ${pending.body}` : 'The declaration notice shown in the summary.')),
      confirm: { type: 'plain_text', text: 'Publish' },
      deny: { type: 'plain_text', text: 'Cancel' },
    },
  };
  blocks.push({ type: 'actions', block_id: 'incident-publish', elements: [button] });
  return blocks;
}

/** The public text for the confirmation dialog, escaped, within Slack's 300 characters (the summary shows it whole). */
export function confirmText(text: string): string {
  const prefix = 'This goes public now: ';
  let room = CONFIRM_TEXT_LIMIT - prefix.length;
  let shown = escapeMrkdwn(prefix + truncate(text, room, '…'));
  // Escaping lengthens (& → &amp;): cut more until the escaped text fits.
  while (shown.length > CONFIRM_TEXT_LIMIT && room > 1) {
    room -= 10;
    shown = escapeMrkdwn(prefix + truncate(text, Math.max(1, room), '…'));
  }
  return shown;
}

function capitalizeFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Items in one checklist message: a block each, beside the heading, well
 * within MESSAGE_BLOCKS_LIMIT, and about 330 characters of text each within
 * MESSAGE_BLOCK_TEXT_BUDGET. A longer checklist is posted as several
 * messages (parts), every item with its own button.
 */
export const CHECKLIST_ITEMS_PER_MESSAGE = 25;

/** How many messages a checklist of `count` items takes. */
export function checklistParts(count: number): number {
  return Math.max(1, Math.ceil(count / CHECKLIST_ITEMS_PER_MESSAGE));
}

/** The part (0-based) that shows item `index`. */
export function checklistPartOf(index: number): number {
  return Math.floor(index / CHECKLIST_ITEMS_PER_MESSAGE);
}

/**
 * One message of an interactive checklist (`part`, 0-based, of
 * `checklistParts`): each item ticks with who and when. Buttons carry the
 * item's index in the whole list. Pure.
 */
export function renderChecklist(incidentId: string, list: string, title: string, items: readonly string[], checks: ReadonlyMap<number, Check>, part = 0): SlackMessage {
  const parts = checklistParts(items.length);
  const first = Math.min(part, parts - 1) * CHECKLIST_ITEMS_PER_MESSAGE;
  const shown = items.slice(first, first + CHECKLIST_ITEMS_PER_MESSAGE);
  const done = shown.filter((_, i) => checks.has(first + i)).length;
  // One message: the whole list's count. Several: each counts its own items (the others are not redrawn on a tick).
  const heading = parts === 1 ? escapeMrkdwn(title) : `${escapeMrkdwn(title)} (part ${String(part + 1)} of ${String(parts)}, items ${String(first + 1)}–${String(first + shown.length)})`;
  const blocks: Block[] = [section(`*${heading}* — ${done} of ${shown.length} done`)];
  // Each item gets its share of the message's text budget (a button's text included).
  const itemLimit = Math.min(SECTION_TEXT_LIMIT, Math.floor((MESSAGE_BLOCK_TEXT_BUDGET - CHECKLIST_FRAME_ROOM) / Math.max(1, shown.length)) - 10);
  shown.forEach((item, at) => {
    const i = first + at;
    const check = checks.get(i);
    // What the bot recorded itself (the declaration's own item) has no Undo.
    const accessory: Button | undefined = check?.auto
      ? undefined
      : check
        ? { type: 'button', text: { type: 'plain_text', text: 'Undo' }, action_id: INCIDENT_ACTIONS.uncheck, value: `${incidentId}|${list}|${String(i)}` }
        : { type: 'button', text: { type: 'plain_text', text: 'Done' }, action_id: INCIDENT_ACTIONS.check, value: `${incidentId}|${list}|${String(i)}`, style: 'primary' };
    const text = check
      ? `:ballot_box_with_check: ~${escapeMrkdwn(item)}~\n_<@${check.by}> at ${new Date(check.at).toISOString().slice(11, 16)} UTC${check.auto ? ' · recorded by the bot' : ''}_`
      : `:white_large_square: ${escapeMrkdwn(item)}`;
    blocks.push({ type: 'section', block_id: `item-${String(i)}`, text: mrkdwn(truncate(text, itemLimit)), ...(accessory ? { accessory } : {}) });
  });
  return { text: `${heading}: ${done} of ${shown.length} done`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

const CHECKLIST_FRAME_ROOM = 400;

/** Modal callback ids. */
export const INCIDENT_VIEWS = { declare: 'incident.declare', status: 'incident.status' } as const;

type PlainOption = { text: { type: 'plain_text'; text: string }; value: string };
const option = (text: string, value: string): PlainOption => ({ text: { type: 'plain_text', text: truncate(text, OPTION_TEXT_LIMIT) }, value });

/** `/dr declare` with no arguments: the whole declaration as a form. */
export function renderDeclareModal(opts: {
  scenarios: readonly { id: string; title: string; rto: string; rpo: string }[];
  declarer: string;
  services: readonly string[];
  /** The id of the form's context on the server: all its metadata. */
  form: string;
}) {
  const input = (block_id: string, label: string, element: Record<string, unknown>, optional = false, hint?: string) => ({
    type: 'input' as const,
    block_id,
    label: { type: 'plain_text' as const, text: label },
    element: { action_id: 'value', ...element },
    optional,
    ...(hint ? { hint: { type: 'plain_text' as const, text: truncate(hint, HINT_TEXT_LIMIT) } } : {}),
  });
  const severities = [option('SEV1 — critical, customers down', 'sev1'), option('SEV2 — major, degraded', 'sev2'), option('SEV3 — minor, internal', 'sev3')];
  return {
    type: 'modal' as const,
    callback_id: INCIDENT_VIEWS.declare,
    private_metadata: JSON.stringify({ form: opts.form }),
    title: { type: 'plain_text' as const, text: 'Declare an incident' },
    submit: { type: 'plain_text' as const, text: 'Declare' },
    close: { type: 'plain_text' as const, text: 'Cancel' },
    blocks: [
      input('scenario', 'Scenario (DR plan)', { type: 'static_select', options: opts.scenarios.map((s) => option(`${s.title} (RTO ${s.rto}, RPO ${s.rpo})`, s.id)) }),
      input('title', 'Title', { type: 'plain_text_input', min_length: 3, max_length: 150, placeholder: { type: 'plain_text', text: 'API down in us-east-1' } }),
      input('severity', 'Severity', { type: 'static_select', options: severities, initial_option: severities[0] }),
      input('services', 'Affected services', { type: 'plain_text_input', max_length: 300 }, true, opts.services.length ? `Comma-separated; on the status page: ${opts.services.join(', ')}` : 'Comma-separated, e.g. api, db'),
      input('impact', 'User impact', { type: 'plain_text_input', multiline: true, max_length: 500 }, true, 'Who is affected and how'),
      input('commander', 'Incident commander', { type: 'users_select', initial_user: opts.declarer }),
      input('visibility', 'Status page', { type: 'checkboxes', options: [option('Private: no status page (drill or internal incident)', 'private')] }, true),
    ],
  };
}

/**
 * The status buttons open this: a status change needs words for the team and
 * the page. The channel the button was clicked in (checked then) is checked
 * again on submission.
 */
export function renderStatusModal(incident: Pick<Incident, 'id' | 'title' | 'state'>, state: IncidentState, channel: string) {
  const reopen = incident.state === 'resolved';
  return {
    type: 'modal' as const,
    callback_id: INCIDENT_VIEWS.status,
    private_metadata: JSON.stringify({ incidentId: incident.id, state, channel }),
    title: { type: 'plain_text' as const, text: truncate(reopen ? 'Reopen the incident' : `Set: ${STATE_LABEL[state]}`, MODAL_TITLE_LIMIT) },
    submit: { type: 'plain_text' as const, text: 'Post update' },
    close: { type: 'plain_text' as const, text: 'Cancel' },
    blocks: [
      section(`${STATE_EMOJI[state]} *${escapeMrkdwn(incident.title)}* → *${STATE_LABEL[state]}*`),
      {
        type: 'input' as const,
        block_id: 'message',
        label: { type: 'plain_text' as const, text: reopen ? 'Why reopen it?' : 'What changed' },
        element: { type: 'plain_text_input', action_id: 'value', multiline: true, min_length: 3, max_length: 1000 },
        hint: { type: 'plain_text' as const, text: 'Posted in the channel; the status page gets its public template.' },
      },
    ],
  };
}
