import type { WebClient } from '@slack/web-api';
import { type Job, type Queue, Worker } from 'bullmq';
import type { RedisConnection } from '../queue/connection.ts';
import type { Logger } from '../log/logger.ts';
import { type IncidentJob, IncidentJobSchema, QUEUE_NAMES } from '../queue/names.ts';
import { closeWorker, type WorkerHandle } from '../queue/worker.ts';
import { isPermanentRefusal, slackErrorCode } from '../slack/errors.ts';
import { splitText, TEXT_RECOMMENDED_LIMIT } from '../slack/limits.ts';
import { type PostRecord, postMessageOnce } from '../slack/post-once.ts';
import { checklistParts, renderChecklist, renderIncidentSummary } from '../slack/views/incident.ts';
import { escapeMrkdwn } from '../util/mrkdwn.ts';
import type { RoleMembers } from '../access/roles.ts';
import { describePublishers } from './access.ts';
import { type Incident, SLACK_USER_ID } from './model.ts';
import { sharePostmortemOnce } from './postmortem-file.ts';
import type { IncidentService } from './service.ts';
import type { IncidentStore } from './store.ts';
import type { ChecklistKind, Templates } from './templates.ts';

export interface IncidentWorkerOptions {
  connection: RedisConnection;
  prefix: string;
  store: IncidentStore;
  service: IncidentService;
  templates: Templates;
  slack: WebClient;
  /** Invited to every incident channel besides the declarer. */
  responders: readonly string[];
  /** Where a short "incident declared" notice goes. */
  announceChannel?: string | undefined;
  /** DR_PUBLISHERS: named on the summary of a public incident waiting to be published. */
  publishers: RoleMembers;
  logger: Logger;
}

/**
 * What people see of an incident, done by a worker from the stored record:
 * the channel, invitations, the pinned summary, the template messages. Every
 * part is recorded when done, so a job re-run after a crash skips it; every
 * message carries a key in its metadata, so a re-run after a crash between
 * posting and recording finds the message instead of posting it again.
 */
export function startIncidentWorker(o: IncidentWorkerOptions): WorkerHandle {
  const log = o.logger.child({ component: 'incidents' });
  const processor = async (job: Job): Promise<unknown> => {
    if (job.name === CLOCK_JOB) return tickIncidentClock(o);
    const { incidentId, kind } = IncidentJobSchema.parse(job.data);
    return processIncidentJob(o, incidentId, kind, job.id);
  };
  const worker = new Worker(QUEUE_NAMES.incidents, processor, { connection: o.connection, prefix: o.prefix, concurrency: 4 });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, incidentId: (job?.data as { incidentId?: string } | undefined)?.incidentId, err: err.message }, 'incident job failed; will retry');
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'incident worker error');
  });
  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}

/** One incident job: what it shows in Slack, each part once however often the job runs. */
export async function processIncidentJob(o: IncidentWorkerOptions, incidentId: string, kind: IncidentJob['kind'], jobId?: string): Promise<unknown> {
  const incident = await o.store.get(incidentId);
  if (!incident) return { skipped: 'no such incident' };
  const channel = incident.channelId ?? (await ensureChannel(o, incident));
  if (kind === 'setup') {
    if (!(await o.store.isDone(incident.id, 'invited'))) {
      // User ids only, as Slack writes them: nothing else reaches the invitation.
      const users = [...new Set([incident.declaredBy, incident.commander, ...o.responders])].filter((u) => SLACK_USER_ID.test(u)).join(',');
      await o.slack.conversations.invite({ channel, users }).catch((err: unknown) => {
        if (slackErrorCode(err) !== 'already_in_channel') throw err;
      });
      await o.store.markDone(incident.id, 'invited');
    }
    await ensureSummary(o, incident, channel);
    const values = await o.service.snapshot(incident);
    await postOnce(o, incident.id, 'declared', channel, o.templates.render('declared', values));
    // The declarer did the first item of the DR plan's checklist by declaring; the bot records it (and nobody can untick it).
    await o.store.setCheck(incident.id, 'checklistDuring', 0, { by: incident.declaredBy, at: incident.startedAt, auto: true });
    await postChecklist(o, incident.id, channel, 'checklistDuring');
    if (o.announceChannel) {
      await postOnce(o, incident.id, 'announced', o.announceChannel, `:rotating_light: Incident declared: *${escapeMrkdwn(incident.title)}* (${incident.severity}) — follow it in <#${channel}>.`);
    }
    if (incident.originChannel !== channel) {
      await postOnce(o, incident.id, 'origin-notice', incident.originChannel, `:rotating_light: Declared *${escapeMrkdwn(incident.title)}*: the incident lives in <#${channel}> from now on.`);
    }
  } else if (kind === 'refresh') {
    await refreshSummary(o, incident, channel);
  } else {
    const values = await o.service.snapshot(incident);
    await postOnce(o, incident.id, jobId ?? kind, channel, o.templates.render(kind === 'resolved' ? 'resolved' : 'update', values));
    // A summary Slack will never take again must not hold back the post-mortem and checklist that follow.
    await refreshSummary(o, incident, channel).catch((err: unknown) => {
      if (!isPermanentRefusal(slackErrorCode(err))) throw err;
      o.logger.warn({ incidentId: incident.id, slackError: slackErrorCode(err) }, 'the incident summary could not be redrawn; going on with the messages');
    });
    if (kind === 'resolved') {
      // A document, not a message: it outgrows Slack's message limits at ordinary sizes.
      await sharePostmortemOnce({
        slack: o.slack,
        store: o.store,
        incidentId: incident.id,
        channel,
        title: `Post-mortem: ${incident.title}`,
        text: o.templates.render('postmortem', values),
        comment: `:memo: The post-mortem draft of *${escapeMrkdwn(incident.title)}* (\`${incident.id}\`): timeline, runs and recovery objectives filled in; root cause, lessons and action items are yours to write.`,
      });
      await postChecklist(o, incident.id, channel, 'checklistAfter');
    }
  }
  return { done: kind };
}

export const CLOCK_JOB = 'clock';

/**
 * The incident clock: a repeatable job (one schedule, whatever the number of
 * workers) that redraws open incidents' summaries so "time since start" and
 * "RTO remaining" stay true, and says once in the channel when the RTO is
 * exceeded.
 */
export async function scheduleIncidentClock(queue: Queue, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(CLOCK_JOB, { every: everyMs }, { name: CLOCK_JOB, data: {}, opts: { removeOnComplete: true, removeOnFail: true } });
}

/**
 * One clock tick over every open incident. Each incident is on its own: one
 * whose summary cannot be updated is logged and the others still refresh.
 */
export async function tickIncidentClock(o: IncidentWorkerOptions): Promise<{ refreshed: number; failed: number }> {
  let refreshed = 0;
  let failed = 0;
  for (const id of await o.store.openIds()) {
    try {
      const incident = await o.store.get(id);
      if (!incident?.channelId || incident.state === 'resolved') continue;
      await refreshSummary(o, incident, incident.channelId);
      refreshed += 1;
      const values = o.service.values(incident);
      if (values.rto_remaining?.startsWith('RTO exceeded')) {
        await postOnce(o, incident.id, 'rto-exceeded', incident.channelId, `:warning: <!here> The RTO of ${values.rto_target ?? ''} for ${escapeMrkdwn(values.scenario ?? 'this scenario')} is exceeded (started ${values.started_at ?? ''}). Tell the stakeholders a new ETR with \`/dr status\`.`);
      }
    } catch (err) {
      failed += 1;
      o.logger.warn({ incidentId: id, slackError: slackErrorCode(err), err: err instanceof Error ? err.message : String(err) }, 'incident clock: this incident\'s summary was not refreshed; the next tick tries again');
    }
  }
  return { refreshed, failed };
}

/**
 * Posts a checklist once (across crashes too), in as many messages as it
 * needs (`checklistParts`), each once; keeps their message ts so ticks redraw them.
 */
export async function postChecklist(o: Pick<IncidentWorkerOptions, 'store' | 'templates' | 'slack'>, incidentId: string, channel: string, kind: ChecklistKind): Promise<void> {
  const items = o.templates.checklist(kind);
  for (let part = 0; part < checklistParts(items.length); part++) {
    const name = part === 0 ? kind : `${kind}:part${String(part + 1)}`;
    if (await o.store.messageTs(incidentId, name)) continue;
    const message = renderChecklist(incidentId, kind, o.templates.checklistTitle(kind), items, await o.store.checks(incidentId, kind), part);
    const record: PostRecord = {
      ...attempts(o.store, incidentId, name),
      posted: () => o.store.messageTs(incidentId, name),
      markPosted: (ts) => o.store.setMessageTs(incidentId, name, ts),
    };
    await postMessageOnce(o.slack, record, channel, `${incidentId}:${name}`, { text: message.text, blocks: message.blocks ?? [] });
  }
}

async function ensureChannel(o: IncidentWorkerOptions, incident: Incident): Promise<string> {
  let id: string | undefined;
  try {
    id = (await o.slack.conversations.create({ name: incident.channelName, is_private: false })).channel?.id;
  } catch (err) {
    // Created by an earlier attempt that died before recording it: find it by its (unique) name.
    if (slackErrorCode(err) !== 'name_taken') throw err;
    let cursor: string | undefined;
    do {
      const page = await o.slack.conversations.list({ types: 'public_channel', limit: 1000, exclude_archived: true, ...(cursor ? { cursor } : {}) });
      id = page.channels?.find((c) => c.name === incident.channelName)?.id;
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (!id && cursor);
  }
  if (!id) throw new Error(`could not create or find channel #${incident.channelName}`);
  await o.store.setField(incident.id, 'channelId', id);
  return id;
}

async function ensureSummary(o: IncidentWorkerOptions, incident: Incident, channel: string): Promise<void> {
  let ts = (await o.store.get(incident.id))?.summaryTs;
  if (!ts) {
    const summary = await renderSummary(o, incident);
    const record: PostRecord = {
      ...attempts(o.store, incident.id, 'summary'),
      posted: async () => (await o.store.get(incident.id))?.summaryTs,
      markPosted: (posted) => o.store.setField(incident.id, 'summaryTs', posted),
    };
    ts = await postMessageOnce(o.slack, record, channel, `${incident.id}:summary`, { text: summary.text, blocks: summary.blocks ?? [] });
    if (!ts) throw new Error('Slack returned no ts for the summary');
  }
  // Pinning is its own step: a retry after a failed pin pins the summary it already posted.
  if (await o.store.isDone(incident.id, 'pinned')) return;
  await o.slack.pins.add({ channel, timestamp: ts }).catch((err: unknown) => {
    if (slackErrorCode(err) !== 'already_pinned') throw err;
  });
  await o.store.markDone(incident.id, 'pinned');
}

/** Refusals after which the summary message can never be redrawn: it is posted (and pinned) afresh. */
const SUMMARY_GONE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

async function refreshSummary(o: IncidentWorkerOptions, incident: Incident, channel: string): Promise<void> {
  const stale = incident.summaryTs;
  if (!stale) return;
  const summary = await renderSummary(o, incident);
  try {
    await o.slack.chat.update({ channel, ts: stale, text: summary.text, blocks: summary.blocks ?? [] });
    return;
  } catch (err) {
    if (!SUMMARY_GONE.has(slackErrorCode(err) ?? '')) throw err;
    o.logger.warn({ incidentId: incident.id, slackError: slackErrorCode(err) }, 'the incident summary can no longer be updated; posting it afresh');
  }
  // Once per lost message, across crashes too: the key names the message it replaces.
  const record: PostRecord = {
    ...attempts(o.store, incident.id, `summary:${stale}`),
    posted: async () => {
      const current = (await o.store.get(incident.id))?.summaryTs;
      return current && current !== stale ? current : undefined;
    },
    markPosted: (ts) => o.store.setField(incident.id, 'summaryTs', ts),
  };
  const ts = await postMessageOnce(o.slack, record, channel, `${incident.id}:summary:${stale}`, { text: summary.text, blocks: summary.blocks ?? [] });
  if (!ts) return;
  await o.slack.pins.add({ channel, timestamp: ts }).catch((err: unknown) => {
    if (slackErrorCode(err) !== 'already_pinned') throw err;
  });
}

/** The summary as it reads now, with the status page's publication state for a public incident. */
async function renderSummary(o: IncidentWorkerOptions, incident: Incident) {
  const values = await o.service.snapshot(incident);
  if (!incident.public) return renderIncidentSummary(incident, values);
  return renderIncidentSummary(incident, values, { pending: await o.service.pendingPublication(incident), publishers: describePublishers(o.publishers) });
}

/**
 * Posts a message once per incident and key, even if the job runs again or
 * died right after posting. A text longer than Slack advises goes out in
 * numbered parts, each posted once.
 */
async function postOnce(o: IncidentWorkerOptions, incidentId: string, key: string, channel: string, text: string): Promise<void> {
  const parts = splitText(text, TEXT_RECOMMENDED_LIMIT);
  for (const [i, part] of parts.entries()) {
    const partKey = i === 0 ? key : `${key}:part${String(i + 1)}`;
    const record: PostRecord = {
      ...attempts(o.store, incidentId, partKey),
      posted: async () => (await o.store.isDone(incidentId, `posted:${partKey}`)) || undefined,
      markPosted: async () => {
        await o.store.markDone(incidentId, `posted:${partKey}`);
      },
    };
    await postMessageOnce(o.slack, record, channel, `${incidentId}:${partKey}`, { text: part });
  }
}

/** "An attempt may have posted this": set just before posting, so a retry knows to look in the channel first. */
function attempts(store: IncidentStore, incidentId: string, key: string): Pick<PostRecord, 'attempted' | 'markAttempted'> {
  return {
    attempted: () => store.isDone(incidentId, `attempt:${key}`),
    markAttempted: async () => {
      await store.markDone(incidentId, `attempt:${key}`);
    },
  };
}
