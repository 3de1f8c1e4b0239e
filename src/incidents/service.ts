import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { IncidentJobSchema } from '../queue/names.ts';
import type { StatuspageOutbox } from '../statuspage/outbox.ts';
import { closestMatch } from '../util/closest.ts';
import { formatDuration } from '../util/duration.ts';
import { type Incident, INCIDENT_STATES, type IncidentState, SEVERITIES } from './model.ts';
import { SCENARIO_IDS, SCENARIOS, type ScenarioId } from './scenarios.ts';
import type { IncidentStore } from './store.ts';
import type { Templates, TemplateValues } from './templates.ts';

export interface IncidentServiceDeps {
  store: IncidentStore;
  queue: Queue;
  outbox: StatuspageOutbox;
  templates: Templates;
  /** Affected service → Statuspage component id. */
  components: Readonly<Record<string, string>>;
  logger: Logger;
  now?: () => number;
}

export interface DeclareInput {
  scenario: string;
  title: string;
  severity?: string;
  public: boolean;
  requester: string;
  originChannel: string;
  /** Slack's trigger id: a retried command declares once. */
  dedupeKey: string;
  affectedServices?: string[];
  impact?: string;
}

const UPDATE_EVERY = '30 minutes';

/**
 * Declaring and moving incidents. The record and its timeline change here,
 * atomically; everything people see (channel, messages, status page) is done
 * by queued jobs from that record, so a restart loses nothing.
 */
export class IncidentService {
  private readonly d: IncidentServiceDeps;
  private readonly now: () => number;

  constructor(deps: IncidentServiceDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
  }

  async declare(input: DeclareInput): Promise<Incident> {
    const scenario = input.scenario.toLowerCase();
    if (!(SCENARIO_IDS as readonly string[]).includes(scenario)) {
      const close = closestMatch(scenario, SCENARIO_IDS);
      throw new UserError(`There is no scenario \`${input.scenario.slice(0, 40)}\`.${close ? ` Did you mean \`${close}\`?` : ''} Scenarios (from the DR plan): ${SCENARIO_IDS.join(', ')}.`);
    }
    const title = input.title.trim();
    if (title.length < 3 || title.length > 150) throw new UserError('The title must be 3 to 150 characters, e.g. `"API down in us-east-1"`.');
    const severity = input.severity ?? 'sev1';
    if (!(SEVERITIES as readonly string[]).includes(severity)) throw new UserError(`Severity is one of ${SEVERITIES.join(', ')}.`);

    const at = this.now();
    const day = new Date(at).toISOString().slice(0, 10).replace(/-/g, '');
    const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'incident';
    const id = `inc-${day}-${slug}-${randomBytes(2).toString('hex')}`.replace(/--+/g, '-');
    const incident: Incident = {
      id,
      scenario: scenario as ScenarioId,
      title,
      severity: severity as Incident['severity'],
      public: input.public,
      declaredBy: input.requester,
      commander: input.requester,
      originChannel: input.originChannel,
      channelName: id.slice(0, 80),
      affectedServices: input.affectedServices?.length ? input.affectedServices : Object.keys(this.d.components),
      impact: input.impact ?? 'under investigation',
      startedAt: at,
      state: 'investigating',
      currentStatus: 'We are investigating.',
      runs: [],
    };
    const { id: heldId, created } = await this.d.store.create(incident, input.dedupeKey, { at, actor: input.requester, text: `declared (${SCENARIOS[incident.scenario].title}, ${severity})` });
    const stored = await this.d.store.get(heldId);
    if (!stored) throw new Error(`incident ${heldId} vanished right after it was created`);
    if (!created) return stored;
    await this.queueJob(stored, 'setup');
    if (stored.public) {
      await this.d.outbox.enqueue(stored.id, {
        kind: 'create',
        name: stored.title,
        status: 'investigating',
        body: this.d.templates.render('statuspageDeclared', this.values(stored)),
        components: this.componentStatus(stored, 'major_outage'),
      });
    }
    this.d.logger.info({ incidentId: stored.id, scenario, public: stored.public }, 'incident declared');
    return stored;
  }

  /** `/dr status <state> <message>` in the incident's channel. */
  async transition(channel: string, to: string, message: string, actor: string): Promise<Incident> {
    const incident = await this.d.store.byChannel(channel);
    if (!incident) throw new UserError('This channel has no incident. Use `/dr status` in the incident\'s channel, or declare one with `/dr declare <scenario> <title>`.');
    const state = to.toLowerCase();
    if (!(INCIDENT_STATES as readonly string[]).includes(state)) {
      throw new UserError(`\`${to.slice(0, 30)}\` is not a status: use investigating, identified, monitoring or resolved, e.g. \`/dr status identified "Bad migration; restoring the database"\`.`);
    }
    if (message.trim().length < 3) throw new UserError('Say what changed, e.g. `/dr status monitoring "Restore done, error rates back to normal"`.');
    const at = this.now();
    const res = await this.d.store.transition(incident.id, state as IncidentState, { at, actor, text: `${state}: ${message.trim()}` }, {
      currentStatus: message.trim(),
      ...(state === 'resolved' ? { resolvedAt: String(at) } : {}),
    });
    if (!res.ok) {
      throw new UserError(
        res.current === 'resolved'
          ? `The incident is resolved; it cannot become ${state}. Declare a new incident if the problem is back.`
          : `The incident is already ${res.current}; say what changed with another status. Nothing changed.`,
      );
    }
    const updated = await this.d.store.get(incident.id);
    if (!updated) throw new Error(`incident ${incident.id} vanished`);
    await this.queueJob(updated, state === 'resolved' ? 'resolved' : 'update', at);
    if (updated.public) {
      await this.d.outbox.enqueue(updated.id, {
        kind: 'update',
        name: updated.title,
        status: state as IncidentState,
        body: this.d.templates.render(state === 'resolved' ? 'statuspageResolved' : 'statuspageUpdate', this.values(updated)),
        components: this.componentStatus(updated, state === 'resolved' ? 'operational' : state === 'monitoring' ? 'degraded_performance' : 'major_outage'),
      });
    }
    return updated;
  }

  /** Every placeholder's value for this incident, as of `now`. */
  values(incident: Incident, now = this.now()): TemplateValues {
    const { rtoMs, rpoMs, title: scenarioTitle } = SCENARIOS[incident.scenario];
    const end = incident.resolvedAt ?? now;
    const elapsed = end - incident.startedAt;
    const rpo = achievedRpo(incident);
    return {
      title: incident.title,
      status: capitalize(incident.state),
      scenario: scenarioTitle,
      impact: incident.impact,
      affected_services: incident.affectedServices.join(', ') || 'our services',
      started_at: iso(incident.startedAt),
      current_status: incident.currentStatus,
      public_message: publicMessage(incident.state),
      next_steps: incident.state === 'resolved' ? 'Post-mortem.' : 'Continue the recovery runbooks; next update as promised.',
      etr: incident.state === 'resolved' ? 'resolved' : `within the RTO: by ${iso(incident.startedAt + rtoMs)}`,
      next_update_in: UPDATE_EVERY,
      commander: `<@${incident.commander}>`,
      rto_target: formatDuration(rtoMs),
      rpo_target: rpoMs === 0 ? 'zero data loss' : formatDuration(rpoMs),
      rto_remaining: elapsed <= rtoMs ? formatDuration(rtoMs - elapsed) : `RTO exceeded by ${formatDuration(elapsed - rtoMs)}`,
      resolved_at: incident.resolvedAt ? iso(incident.resolvedAt) : '—',
      duration: formatDuration(elapsed),
      rto_achieved: formatDuration(elapsed),
      rto_verdict: elapsed <= rtoMs ? 'met' : `missed by ${formatDuration(elapsed - rtoMs)}`,
      rpo_achieved: rpo === undefined ? 'no data restored' : rpo === 0 ? 'no data lost' : `${formatDuration(rpo)} of data lost (restored to ${incident.restorePoint ?? ''})`,
      rpo_verdict: rpo === undefined || rpo <= rpoMs ? 'met' : `missed by ${formatDuration(rpo - rpoMs)}`,
    };
  }

  private componentStatus(incident: Incident, status: 'operational' | 'degraded_performance' | 'major_outage') {
    return Object.fromEntries(incident.affectedServices.flatMap((s) => (this.d.components[s] ? [[this.d.components[s], status] as const] : [])));
  }

  private async queueJob(incident: Incident, kind: 'setup' | 'update' | 'resolved', at?: number): Promise<void> {
    const data = IncidentJobSchema.parse({ incidentId: incident.id, kind, ...(at ? { seq: at } : {}) });
    await this.d.queue.add(kind, data, { jobId: `${kind}-${incident.id}${at ? `-${String(at)}` : ''}`, attempts: 10, backoff: { type: 'exponential', delay: 1_000 } });
  }
}

/**
 * Data lost: from the restore point a run used to the incident's start (what
 * happened after the restore point is gone). No restore: nothing restored.
 */
export function achievedRpo(incident: Incident): number | undefined {
  if (!incident.restorePoint) return undefined;
  const t = Date.parse(incident.restorePoint);
  return Number.isNaN(t) ? undefined : Math.max(0, incident.startedAt - t);
}

function publicMessage(state: IncidentState): string {
  switch (state) {
    case 'investigating':
      return 'We are investigating the issue.';
    case 'identified':
      return 'We have identified the cause and are working on a fix.';
    case 'monitoring':
      return 'A fix has been applied and we are monitoring the results.';
    case 'resolved':
      return 'This incident has been resolved.';
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
