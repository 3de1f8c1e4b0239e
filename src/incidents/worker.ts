import type { WebClient } from '@slack/web-api';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.ts';
import { IncidentJobSchema, QUEUE_NAMES } from '../queue/names.ts';
import { closeWorker, type WorkerHandle } from '../queue/worker.ts';
import { renderIncidentSummary } from '../slack/views/incident.ts';
import type { Incident } from './model.ts';
import type { IncidentService } from './service.ts';
import type { IncidentStore } from './store.ts';
import type { Templates } from './templates.ts';

export interface IncidentWorkerOptions {
  connection: Redis;
  prefix: string;
  store: IncidentStore;
  service: IncidentService;
  templates: Templates;
  slack: WebClient;
  /** Invited to every incident channel besides the declarer. */
  responders: readonly string[];
  /** Where a short "incident declared" notice goes. */
  announceChannel?: string | undefined;
  logger: Logger;
}

/**
 * What people see of an incident, done by a worker from the stored record:
 * the channel, invitations, the pinned summary, the template messages. Every
 * part is recorded when done, so a job re-run after a crash skips it.
 */
export function startIncidentWorker(o: IncidentWorkerOptions): WorkerHandle {
  const log = o.logger.child({ component: 'incidents' });
  const processor = async (job: Job): Promise<unknown> => {
    const { incidentId, kind } = IncidentJobSchema.parse(job.data);
    const incident = await o.store.get(incidentId);
    if (!incident) return { skipped: 'no such incident' };
    const channel = incident.channelId ?? (await ensureChannel(o, incident));
    if (kind === 'setup') {
      if (!(await o.store.isDone(incident.id, 'invited'))) {
        const users = [...new Set([incident.declaredBy, ...o.responders])].join(',');
        await o.slack.conversations.invite({ channel, users }).catch((err: unknown) => {
          if (slackError(err) !== 'already_in_channel') throw err;
        });
        await o.store.markDone(incident.id, 'invited');
      }
      await ensureSummary(o, incident, channel);
      await postOnce(o, incident.id, 'declared', channel, o.templates.render('declared', o.service.values(incident)));
      if (o.announceChannel) {
        await postOnce(o, incident.id, 'announced', o.announceChannel, `:rotating_light: Incident declared: *${incident.title}* (${incident.severity}) — follow it in <#${channel}>.`);
      }
      if (incident.originChannel !== channel) {
        await postOnce(o, incident.id, 'origin-notice', incident.originChannel, `:rotating_light: Declared *${incident.title}*: the incident lives in <#${channel}> from now on.`);
      }
    } else {
      const fresh = (await o.store.get(incident.id)) ?? incident;
      await postOnce(o, incident.id, job.id ?? kind, channel, o.templates.render(kind === 'resolved' ? 'resolved' : 'update', o.service.values(fresh)));
      await refreshSummary(o, fresh, channel);
      if (kind === 'resolved') {
        const timeline = (await o.store.timeline(incident.id)).map((e) => `• ${new Date(e.at).toISOString().slice(11, 16)} UTC <@${e.actor}> ${e.text}`);
        await postOnce(o, incident.id, 'postmortem', channel, `*Timeline*\n${timeline.join('\n')}\n\n*After recovery (DR plan)*\n• Services fully restored and validated\n• Stakeholders notified of resolution\n• Post-mortem scheduled\n• Root cause identified\n• Action items created\n• DR plan updated based on lessons learned`);
      }
    }
    return { done: kind };
  };
  const worker = new Worker(QUEUE_NAMES.incidents, processor, { connection: o.connection, prefix: o.prefix, concurrency: 4 });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, err: err.message }, 'incident job failed; will retry');
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'incident worker error');
  });
  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}

async function ensureChannel(o: IncidentWorkerOptions, incident: Incident): Promise<string> {
  let id: string | undefined;
  try {
    id = (await o.slack.conversations.create({ name: incident.channelName, is_private: false })).channel?.id;
  } catch (err) {
    // Created by an earlier attempt that died before recording it: find it by its (unique) name.
    if (slackError(err) !== 'name_taken') throw err;
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
  if ((await o.store.get(incident.id))?.summaryTs) return;
  const summary = renderIncidentSummary(incident, o.service.values(incident));
  const posted = await o.slack.chat.postMessage({ channel, text: summary.text, blocks: summary.blocks ?? [] });
  if (!posted.ts) throw new Error('Slack returned no ts for the summary');
  await o.store.setField(incident.id, 'summaryTs', posted.ts);
  await o.slack.pins.add({ channel, timestamp: posted.ts }).catch((err: unknown) => {
    if (slackError(err) !== 'already_pinned') throw err;
  });
}

async function refreshSummary(o: IncidentWorkerOptions, incident: Incident, channel: string): Promise<void> {
  if (!incident.summaryTs) return;
  const summary = renderIncidentSummary(incident, o.service.values(incident));
  await o.slack.chat.update({ channel, ts: incident.summaryTs, text: summary.text, blocks: summary.blocks ?? [] });
}

/** Posts a message once per incident and key, even if the job runs again. */
async function postOnce(o: IncidentWorkerOptions, incidentId: string, key: string, channel: string, text: string): Promise<void> {
  if (await o.store.isDone(incidentId, `posted:${key}`)) return;
  await o.slack.chat.postMessage({ channel, text });
  await o.store.markDone(incidentId, `posted:${key}`);
}

function slackError(err: unknown): string | undefined {
  const data = (err as { data?: { error?: unknown } } | null)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}
