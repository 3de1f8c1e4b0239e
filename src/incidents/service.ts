import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { IncidentJobSchema } from '../queue/names.ts';
import type { StatuspageOutbox } from '../statuspage/outbox.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import { PUBLIC_BODY_LIMIT, publicText } from '../util/text.ts';
import { formatDuration } from '../util/duration.ts';
import type { Run } from '../runs/model.ts';
import type { ComponentStatus } from '../statuspage/client.ts';
import { digestRuns } from './actions.ts';
import { DECLARE_FORM_TTL_MS, type DeclareCheck, type DeclareInput, isFormId, newFormId, validDeclaration } from './declaration.ts';
import { type Incident, INCIDENT_STATES, INCIDENT_TRANSITIONS, type IncidentState, mayReopen, mention, SLACK_CHANNEL_ID, SLACK_USER_ID } from './model.ts';
import { type ScenarioTargets, scenarioTargets } from './scenarios.ts';
import type { IncidentStore } from './store.ts';
import type { Templates, TemplateValues } from './templates.ts';

export interface IncidentServiceDeps {
  store: IncidentStore;
  queue: Queue;
  outbox: StatuspageOutbox;
  templates: Templates;
  /** Affected service → Statuspage component id. */
  components: Readonly<Record<string, string>>;
  /** Recovery targets per scenario (the DR plan's unless configured). */
  targets?: ScenarioTargets;
  /** Severities whose incidents go to the public status page (others are internal). */
  publicSeverities: readonly string[];
  /** The runs linked to an incident, to fill "actions taken" and "next steps". */
  readRuns: (ids: readonly string[]) => Promise<Run[]>;
  /** Told when an incident is resolved: time to recover against its RTO (metrics). */
  onResolved?: (incident: Incident) => void;
  logger: Logger;
  now?: () => number;
}

/**
 * What a front end checks around a status change: who may make it and where
 * (`authorize`, first), and flood limits (`admit`, last, once the change is
 * known to be valid). Both throw a UserError; nothing changes then.
 */
export interface TransitionCheck {
  authorize(incident: Incident, to: IncidentState): Promise<void>;
  admit?(incident: Incident, to: IncidentState): Promise<void>;
}

export type PublishResult = { first: true; incident: Incident } | { first: false; incident: Incident; by?: string; at?: number };

export const JOB_OPTIONS = { attempts: 10, backoff: { type: 'exponential', delay: 1_000 }, removeOnComplete: { age: 3_600 }, removeOnFail: { age: 7 * 24 * 3_600 } } as const;

const UPDATE_EVERY = '30 minutes';

/**
 * Declaring and moving incidents. The record and its timeline change here,
 * atomically; everything people see (channel, messages, status page) is done
 * by queued jobs from that record, so a restart loses nothing.
 */
export class IncidentService {
  private readonly d: IncidentServiceDeps;
  private readonly now: () => number;

  /** Recovery targets in force, per scenario. */
  readonly targets: ScenarioTargets;

  constructor(deps: IncidentServiceDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
    this.targets = deps.targets ?? scenarioTargets();
  }

  /**
   * A declaration form is being opened by `declarer` in `channel`: its context
   * stays here, under a random id that the form carries (a form's metadata
   * can be edited by whoever submits it).
   */
  async startDeclaration(declarer: string, channel: string): Promise<string> {
    if (!SLACK_USER_ID.test(declarer) || !SLACK_CHANNEL_ID.test(channel)) throw new UserError('This request does not name a person and a channel as Slack writes them; run `/dr declare` again.');
    const formId = newFormId();
    await this.d.store.saveDeclareForm(formId, { user: declarer, channel }, DECLARE_FORM_TTL_MS);
    return formId;
  }

  async declare(input: DeclareInput, check: DeclareCheck): Promise<Incident> {
    const { scenario, title, severity, impact, commander } = validDeclaration(input);
    const originChannel = await this.originOf(input);
    await check.mayCommand(commander);
    // Limits last: a refused or mistaken declaration uses none of them.
    await check.admit(input);

    const at = this.now();
    const day = new Date(at).toISOString().slice(0, 10).replace(/-/g, '');
    const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'incident';
    const id = `inc-${day}-${slug}-${randomBytes(2).toString('hex')}`.replace(/--+/g, '-');
    const incident: Incident = {
      id,
      scenario,
      title,
      severity,
      public: input.public && this.d.publicSeverities.includes(severity),
      declaredBy: input.requester,
      commander,
      originChannel,
      channelName: id.slice(0, 80),
      affectedServices: input.affectedServices?.length ? input.affectedServices : Object.keys(this.d.components),
      impact: impact || 'under investigation',
      startedAt: at,
      rtoMs: this.targets[scenario].rtoMs,
      rpoMs: this.targets[scenario].rpoMs,
      state: 'investigating',
      currentStatus: 'We are investigating.',
      runs: [],
    };
    // The first public post waits for a publisher's confirmation (`publish`); declaring sends nothing.
    if (incident.public) incident.publication = 'held';
    const { id: heldId, created } = await this.d.store.create(incident, input.dedupeKey, { at, actor: input.requester, text: `declared (${this.targets[incident.scenario].title}, ${severity})` });
    const stored = await this.d.store.get(heldId);
    if (!stored) throw new Error(`incident ${heldId} vanished right after it was created`);
    if (!created) return stored;
    if (stored.public) {
      // Held before anything is queued: the creation and every later update wait for `publish`.
      await this.d.outbox.hold(stored.id);
      await this.d.outbox.enqueue(stored.id, {
        kind: 'create',
        name: this.publicName(stored),
        status: 'investigating',
        body: this.d.templates.render('statuspageDeclared', this.values(stored)),
        components: this.componentStatus(stored, 'major_outage'),
      });
    }
    // After the creation is queued: the summary shows exactly the text a publisher will confirm.
    await this.queueJob(stored, 'setup');
    this.d.logger.info({ incidentId: stored.id, scenario, public: stored.public }, 'incident declared');
    return stored;
  }

  /** Where a declaration comes from: the command's channel, or the form's, as stored when the form opened, for the person who opened it. */
  private async originOf(input: DeclareInput): Promise<string> {
    if (input.form === undefined) {
      if (input.originChannel === undefined || !SLACK_CHANNEL_ID.test(input.originChannel)) throw new UserError('This request does not say which channel it comes from; nothing was declared.');
      return input.originChannel;
    }
    const form = isFormId(input.form) ? await this.d.store.declareForm(input.form) : undefined;
    if (!form || form.user !== input.requester) throw new UserError('This form has expired or was not opened by you; close it and run /dr declare again. Nothing was declared.', 'title');
    return form.channel;
  }

  /** The incident of a channel (its own, or where it was declared). */
  async byChannel(channel: string): Promise<Incident | undefined> {
    return this.d.store.byChannel(channel);
  }

  /**
   * `/dr status <state> <message>`: only in the incident's own channel (not
   * the one it was declared from, whose incident is there to be read).
   */
  async transition(channel: string, to: string, message: string, actor: string, check: TransitionCheck): Promise<Incident> {
    const incident = await this.d.store.byChannel(channel);
    if (!incident) throw new UserError('This channel has no incident. Use `/dr status` in the incident\'s channel, or declare one with `/dr declare <scenario> <title>`.');
    if (incident.channelId !== channel) {
      throw new UserError(
        incident.channelId
          ? `*${escapeMrkdwn(incident.title)}* was declared here, but its status changes only in its own channel, <#${incident.channelId}>: use \`/dr status\` there. Nothing changed.`
          : `The channel of *${escapeMrkdwn(incident.title)}* is still being created; change its status there in a moment. Nothing changed.`,
      );
    }
    return this.transitionIncident(incident, to, message, actor, check);
  }

  /** The status form (from the summary's buttons) names the incident. */
  async transitionById(id: string, to: string, message: string, actor: string, check: TransitionCheck): Promise<Incident> {
    const incident = await this.d.store.get(id);
    if (!incident) throw new UserError('That incident no longer exists.');
    return this.transitionIncident(incident, to, message, actor, check);
  }

  private async transitionIncident(incident: Incident, to: string, message: string, actor: string, check: TransitionCheck): Promise<Incident> {
    const state = to.toLowerCase();
    if (!(INCIDENT_STATES as readonly string[]).includes(state)) {
      throw new UserError(`\`${to.slice(0, 30)}\` is not a status: use investigating, identified, monitoring or resolved, e.g. \`/dr status identified "Bad migration; restoring the database"\`.`);
    }
    const target = state as IncidentState;
    // Who may, and where, before anything about the change itself.
    await check.authorize(incident, target);
    if (message.trim().length < 3) throw new UserError('Say what changed, e.g. `/dr status monitoring "Restore done, error rates back to normal"`.');
    if (message.length > 1_000) throw new UserError('Keep the status message under 1000 characters; details belong in the thread.');
    const reopen = incident.state === 'resolved';
    if (incident.state === target) throw new UserError(`The incident is already ${target}; say what changed with another status. Nothing changed.`);
    if (!INCIDENT_TRANSITIONS[incident.state].includes(target)) throw new UserError(resolvedRefusal(incident, target));
    if (reopen && !mayReopen(incident, actor)) throw new UserError(resolvedRefusal(incident, target));
    // Limits last: a refused or mistaken change uses none of them.
    await check.admit?.(incident, target);
    const at = this.now();
    const text = reopen ? `reopened (${target}): ${message.trim()}` : `${target}: ${message.trim()}`;
    // Only the commander moves it out of resolved, even if it was resolved after the checks above.
    const onlyFrom = mayReopen(incident, actor) ? undefined : INCIDENT_STATES.filter((s) => s !== 'resolved');
    const res = await this.d.store.transition(incident.id, target, { at, actor, text }, {
      currentStatus: message.trim(),
      ...(target === 'resolved' ? { resolvedAt: String(at) } : {}),
    }, onlyFrom);
    if (!res.ok) {
      throw new UserError(
        res.current === 'resolved'
          ? resolvedRefusal(incident, target)
          : `The incident is already ${res.current}; say what changed with another status. Nothing changed.`,
      );
    }
    const updated = await this.d.store.get(incident.id);
    if (!updated) throw new Error(`incident ${incident.id} vanished`);
    if (state === 'resolved') this.d.onResolved?.(updated);
    this.d.logger.info({ incidentId: updated.id, from: incident.state, to: state, actor, reopened: reopen }, 'incident status changed');
    await this.queueJob(updated, state === 'resolved' ? 'resolved' : 'update', at);
    if (updated.public) {
      await this.d.outbox.enqueue(updated.id, {
        kind: 'update',
        name: this.publicName(updated),
        status: state as IncidentState,
        body: this.d.templates.render(state === 'resolved' ? 'statuspageResolved' : 'statuspageUpdate', this.values(updated)),
        components: this.componentStatus(updated, state === 'resolved' ? 'operational' : state === 'monitoring' ? 'degraded_performance' : 'major_outage'),
      });
    }
    return updated;
  }

  /**
   * A publisher confirmed the first status page post: the held creation goes
   * out, then the updates queued since (in order, coalesced). Once: a second
   * press finds it published, and only finishes a release a crash interrupted.
   * Who may press is the front end's check.
   */
  async publish(incidentId: string, actor: string): Promise<PublishResult> {
    const incident = await this.d.store.get(incidentId);
    if (!incident) throw new UserError('That incident no longer exists.');
    if (!incident.public) throw new UserError('This incident is private: it never goes to the status page.');
    const at = this.now();
    const res = await this.d.store.markPublished(incident.id, actor, { at, actor, text: 'published the incident to the status page' });
    if (res.first || res.publication === 'published') await this.d.outbox.release(incident.id);
    const updated = (await this.d.store.get(incident.id)) ?? incident;
    if (res.first) {
      this.d.logger.info({ incidentId: incident.id, actor }, 'incident published to the status page');
      await this.refresh(incident.id);
      return { first: true, incident: updated };
    }
    return { first: false, incident: updated, ...(res.by ? { by: res.by } : {}), ...(res.at ? { at: res.at } : {}) };
  }

  /** The held creation of a public incident: exactly what a publisher's confirmation sends first. */
  async pendingPublication(incident: Incident): Promise<{ name: string; body: string } | undefined> {
    if (incident.publication !== 'held') return undefined;
    const create = (await this.d.outbox.pending(incident.id)).find((u) => u.kind === 'create');
    return create ? { name: create.name, body: create.body } : undefined;
  }

  /**
   * A runbook's public text (and component status, where the runbook says)
   * on the status page while the incident keeps its state. Public incidents
   * only; never after resolution.
   */
  async announceRunOnPage(incident: Incident, body: string, components: ComponentStatus | undefined): Promise<void> {
    if (!incident.public || incident.state === 'resolved') return;
    await this.d.outbox.enqueue(incident.id, {
      kind: 'update',
      name: this.publicName(incident),
      status: incident.state,
      body: publicText(body, { max: PUBLIC_BODY_LIMIT, multiline: true }),
      components: components ? this.componentStatus(incident, components) : {},
    });
  }

  /**
   * Redraws the summary at the end of the current second: every change within
   * that second shares one job, which reads the state as it is by then, and a
   * change after the job started falls into the next second's job.
   */
  async refresh(incidentId: string): Promise<void> {
    const data = IncidentJobSchema.parse({ incidentId, kind: 'refresh' });
    const now = Date.now();
    const second = Math.floor(now / 1_000);
    await this.d.queue.add('refresh', data, { ...JOB_OPTIONS, removeOnComplete: true, jobId: `refresh-${incidentId}-${String(second)}`, delay: (second + 1) * 1_000 - now });
  }

  /** Every placeholder's value, with what the incident's runs did and the timeline. */
  async snapshot(incident: Incident, now = this.now()): Promise<TemplateValues> {
    const runs = await this.d.readRuns(incident.runs);
    const { actionsTaken, nextSteps } = digestRuns(runs, incident.state, now);
    const timeline = await this.d.store.timeline(incident.id);
    const during = await this.d.store.checks(incident.id, 'checklistDuring');
    return {
      ...this.values(incident, now),
      actions_taken: actionsTaken.length ? actionsTaken.map((l) => `• ${l}`).join('\n') : 'None yet.',
      next_steps: nextSteps.map((l) => `• ${l}`).join('\n'),
      timeline: timeline.map((e) => `• ${iso(e.at).slice(11, 16)} ${mention(e.actor)} ${escapeMrkdwn(e.text)}`).join('\n'),
      during_checklist: this.d.templates
        .checklist('checklistDuring')
        .map((item, i) => {
          const check = during.get(i);
          return check ? `• :ballot_box_with_check: ${escapeMrkdwn(item)} — <@${check.by}>, ${iso(check.at).slice(11, 16)}` : `• :white_large_square: ${escapeMrkdwn(item)}`;
        })
        .join('\n'),
    };
  }

  /** Every placeholder's value for this incident, as of `now`. */
  values(incident: Incident, now = this.now()): TemplateValues {
    const { rtoMs, rpoMs } = incident;
    const scenarioTitle = this.targets[incident.scenario].title;
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
      commander: mention(incident.commander),
      incident_id: incident.id,
      severity: incident.severity.toUpperCase(),
      rto_target: formatDuration(rtoMs),
      rpo_target: rpoMs === 0 ? 'zero data loss' : formatDuration(rpoMs),
      rto_remaining: elapsed <= rtoMs ? formatDuration(rtoMs - elapsed) : `RTO exceeded by ${formatDuration(elapsed - rtoMs)}`,
      resolved_at: incident.resolvedAt ? iso(incident.resolvedAt) : '—',
      // Whole seconds: the summary is redrawn every minute, not every millisecond.
      duration: formatDuration(Math.max(1_000, Math.round(elapsed / 1_000) * 1_000)),
      rto_achieved: formatDuration(elapsed),
      rto_verdict: elapsed <= rtoMs ? 'met' : `missed by ${formatDuration(elapsed - rtoMs)}`,
      rpo_achieved: rpo === undefined ? 'no data restored' : rpo === 0 ? 'no data lost' : `${formatDuration(rpo)} of data lost (restored to ${incident.restorePoint ?? ''})`,
      rpo_verdict: rpo === undefined || rpo <= rpoMs ? 'met' : `missed by ${formatDuration(rpo - rpoMs)}`,
    };
  }

  /**
   * The page incident's name: the `statuspage-name.txt` template (`{{title}}`
   * unless overridden), cleaned like all public text. The title goes public
   * only this way; bodies come from the other `statuspage-*` templates and
   * runbooks' `status` text, never from what people typed as "what changed".
   */
  private publicName(incident: Incident): string {
    return this.d.templates.render('statuspageName', this.values(incident));
  }

  private componentStatus(incident: Incident, status: ComponentStatus) {
    return Object.fromEntries(incident.affectedServices.flatMap((s) => (this.d.components[s] ? [[this.d.components[s], status] as const] : [])));
  }

  private async queueJob(incident: Incident, kind: 'setup' | 'update' | 'resolved', at?: number): Promise<void> {
    const data = IncidentJobSchema.parse({ incidentId: incident.id, kind, ...(at ? { seq: at } : {}) });
    await this.d.queue.add(kind, data, { ...JOB_OPTIONS, jobId: `${kind}-${incident.id}${at ? `-${String(at)}` : ''}` });
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

/** Why a resolved incident cannot move (or be reopened by this person). */
function resolvedRefusal(incident: Incident, to: IncidentState): string {
  return to === 'investigating'
    ? `The incident is resolved; only its commander, <@${incident.commander}>, may reopen it (\`/dr status investigating "why"\` in its channel). Nothing changed.`
    : `The incident is resolved; it cannot become ${to}. Its commander, <@${incident.commander}>, may reopen it with \`/dr status investigating "why"\`, or declare a new incident. Nothing changed.`;
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
