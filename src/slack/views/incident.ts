import type { Incident } from '../../incidents/model.ts';
import type { TemplateValues } from '../../incidents/templates.ts';
import { context, escapeMrkdwn, header, section, type SlackMessage } from './message.ts';

const STATE_EMOJI: Record<Incident['state'], string> = {
  investigating: ':mag:',
  identified: ':bulb:',
  monitoring: ':eyes:',
  resolved: ':white_check_mark:',
};

/** The pinned incident summary, kept current on every change. Pure. */
export function renderIncidentSummary(incident: Incident, values: TemplateValues): SlackMessage {
  const v = (k: keyof TemplateValues) => escapeMrkdwn(values[k] ?? '—');
  const text = `${STATE_EMOJI[incident.state]} ${incident.title}: ${incident.state}`;
  return {
    text,
    blocks: [
      header(`${incident.severity.toUpperCase()} · ${incident.title}`),
      section(
        [
          `${STATE_EMOJI[incident.state]} *Status:* ${v('status')} — ${v('current_status')}`,
          `*Scenario:* ${v('scenario')} · *Impact:* ${v('impact')} · *Affected:* ${v('affected_services')}`,
          `*Started:* ${v('started_at')} · *RTO:* ${v('rto_target')} (${incident.state === 'resolved' ? `achieved ${v('rto_achieved')}, ${v('rto_verdict')}` : `remaining ${v('rto_remaining')}`}) · *RPO:* ${v('rpo_target')}${incident.restorePoint ? ` (${v('rpo_achieved')})` : ''}`,
          `*Commander:* ${values.commander ?? '—'} · *ETR:* ${v('etr')}`,
        ].join('\n'),
      ),
      context(`Incident \`${incident.id}\` · change the status with \`/dr status <investigating|identified|monitoring|resolved> "what changed"\`${incident.public ? ' · the status page follows' : ' · private: no status page'}`),
    ],
  };
}
