import { type Check, type Incident, INCIDENT_TRANSITIONS, type IncidentState } from '../../incidents/model.ts';
import type { TemplateValues } from '../../incidents/templates.ts';
import { type Block, type Button, context, escapeMrkdwn, header, mrkdwn, section, type SlackMessage, truncate } from './message.ts';

/** Button action ids. Status buttons carry `<incident>|<state>`, checklist buttons `<incident>|<list>|<item>`. */
export const INCIDENT_ACTIONS = { status: 'incident.status', check: 'incident.check', uncheck: 'incident.uncheck' } as const;

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
export function renderIncidentSummary(incident: Incident, values: TemplateValues): SlackMessage {
  const v = (k: keyof TemplateValues) => escapeMrkdwn(values[k] ?? '—');
  const resolved = incident.state === 'resolved';
  const rto = resolved ? `achieved ${v('rto_achieved')}, ${v('rto_verdict')}` : values.rto_remaining?.startsWith('RTO exceeded') ? `:warning: *${v('rto_remaining')}*` : `${v('rto_remaining')} left`;
  const rpo = incident.restorePoint ? `${v('rpo_achieved')} (${v('rpo_verdict')})` : 'no restore yet';
  const blocks: Block[] = [
    header(`${incident.severity.toUpperCase()} · ${incident.title}`),
    section(
      [
        `${STATE_EMOJI[incident.state]} *Status:* ${v('status')} — ${v('current_status')}`,
        `*Impact:* ${v('impact')} · *Affected:* ${v('affected_services')} · *Scenario:* ${v('scenario')}`,
        `*Started:* ${v('started_at')} (${v('duration')} ${resolved ? 'in all' : 'ago'}) · *Commander:* ${values.commander ?? '—'} · *ETR:* ${v('etr')}`,
        `*RTO* ${v('rto_target')}: ${rto} · *RPO* ${v('rpo_target')}: ${rpo}`,
      ].join('\n'),
    ),
    section(`*Actions taken*\n${values.actions_taken ?? 'None yet.'}`),
    section(`*Next steps*\n${values.next_steps ?? '—'}`),
  ];
  const next = INCIDENT_TRANSITIONS[incident.state];
  if (next.length) {
    blocks.push({
      type: 'actions',
      block_id: 'incident-status',
      elements: next.map((state) => ({
        type: 'button',
        text: { type: 'plain_text', text: `${STATE_LABEL[state]}…` },
        action_id: `${INCIDENT_ACTIONS.status}.${state}`,
        value: `${incident.id}|${state}`,
        ...(state === 'resolved' ? { style: 'primary' as const } : {}),
      })),
    });
  }
  blocks.push(context(`Incident \`${incident.id}\` · or \`/dr status <investigating|identified|monitoring|resolved> "what changed"\`${incident.public ? ' · the status page follows' : ' · private: no status page'}`));
  return { text: `${STATE_EMOJI[incident.state]} ${incident.title}: ${incident.state}`, blocks };
}

/** An interactive checklist: each item ticks with who and when. Pure. */
export function renderChecklist(incidentId: string, list: string, title: string, items: readonly string[], checks: ReadonlyMap<number, Check>): SlackMessage {
  const done = items.filter((_, i) => checks.has(i)).length;
  const blocks: Block[] = [section(`*${escapeMrkdwn(title)}* — ${done} of ${items.length} done`)];
  items.slice(0, 45).forEach((item, i) => {
    const check = checks.get(i);
    const accessory: Button = check
      ? { type: 'button', text: { type: 'plain_text', text: 'Undo' }, action_id: INCIDENT_ACTIONS.uncheck, value: `${incidentId}|${list}|${String(i)}` }
      : { type: 'button', text: { type: 'plain_text', text: 'Done' }, action_id: INCIDENT_ACTIONS.check, value: `${incidentId}|${list}|${String(i)}`, style: 'primary' };
    const text = check
      ? `:ballot_box_with_check: ~${escapeMrkdwn(item)}~\n_<@${check.by}> at ${new Date(check.at).toISOString().slice(11, 16)} UTC_`
      : `:white_large_square: ${escapeMrkdwn(item)}`;
    blocks.push({ type: 'section', block_id: `item-${String(i)}`, text: mrkdwn(truncate(text, 3000)), accessory });
  });
  return { text: `${title}: ${done} of ${items.length} done`, blocks };
}

/** Modal callback ids. */
export const INCIDENT_VIEWS = { declare: 'incident.declare', status: 'incident.status' } as const;

type PlainOption = { text: { type: 'plain_text'; text: string }; value: string };
const option = (text: string, value: string): PlainOption => ({ text: { type: 'plain_text', text: truncate(text, 75) }, value });

/** `/dr declare` with no arguments: the whole declaration as a form. */
export function renderDeclareModal(opts: {
  scenarios: readonly { id: string; title: string; rto: string; rpo: string }[];
  declarer: string;
  services: readonly string[];
  originChannel: string;
}) {
  const input = (block_id: string, label: string, element: Record<string, unknown>, optional = false, hint?: string) => ({
    type: 'input' as const,
    block_id,
    label: { type: 'plain_text' as const, text: label },
    element: { action_id: 'value', ...element },
    optional,
    ...(hint ? { hint: { type: 'plain_text' as const, text: truncate(hint, 150) } } : {}),
  });
  const severities = [option('SEV1 — critical, customers down', 'sev1'), option('SEV2 — major, degraded', 'sev2'), option('SEV3 — minor, internal', 'sev3')];
  return {
    type: 'modal' as const,
    callback_id: INCIDENT_VIEWS.declare,
    private_metadata: JSON.stringify({ channel: opts.originChannel }),
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

/** The status buttons open this: a status change needs words for the team and the page. */
export function renderStatusModal(incident: Pick<Incident, 'id' | 'title'>, state: IncidentState) {
  return {
    type: 'modal' as const,
    callback_id: INCIDENT_VIEWS.status,
    private_metadata: JSON.stringify({ incidentId: incident.id, state }),
    title: { type: 'plain_text' as const, text: truncate(`Set: ${STATE_LABEL[state]}`, 24) },
    submit: { type: 'plain_text' as const, text: 'Post update' },
    close: { type: 'plain_text' as const, text: 'Cancel' },
    blocks: [
      section(`${STATE_EMOJI[state]} *${escapeMrkdwn(incident.title)}* → *${STATE_LABEL[state]}*`),
      {
        type: 'input' as const,
        block_id: 'message',
        label: { type: 'plain_text' as const, text: 'What changed' },
        element: { type: 'plain_text_input', action_id: 'value', multiline: true, min_length: 3, max_length: 1000 },
        hint: { type: 'plain_text' as const, text: 'Posted in the channel; the status page gets its public template.' },
      },
    ],
  };
}
