import type { RedisConnection } from '../queue/connection.ts';
import type { Logger } from '../log/logger.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { RunEventConsumer } from '../runs/events.ts';
import type { Run, RunEvent } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { formatDuration } from '../util/duration.ts';
import { restorePointOf } from './actions.ts';
import type { IncidentService } from './service.ts';
import type { IncidentStore } from './store.ts';

export interface RunFollowerOptions {
  /** A connection of its own: reading events blocks. */
  eventsRedis: RedisConnection;
  runs: RunStore;
  incidents: IncidentStore;
  service: IncidentService;
  runbooks: ReadonlyMap<string, Runbook>;
  consumerName: string;
  logger: Logger;
}

/** Run events that matter to an incident: a request, the start, a failed step, the end. */
const FOLLOWED = new Set<RunEvent['type']>(['run.created', 'run.started', 'step.failed', 'run.succeeded', 'run.failed', 'run.cancelled', 'run.rejected', 'run.expired']);

/**
 * Runs requested in an incident's channel belong to the incident: their
 * start, failed steps and end go into its timeline, the restore point they
 * used sets the achieved RPO, the summary is redrawn, and the runbook's
 * public text goes to the status page. Events are read through their own
 * consumer group, so none is missed while workers restart; every effect is
 * keyed by the event, so a redelivered one changes nothing twice.
 */
export class IncidentRunFollower {
  private readonly o: RunFollowerOptions;
  private readonly consumer: RunEventConsumer;

  constructor(options: RunFollowerOptions) {
    this.o = options;
    this.consumer = new RunEventConsumer(options.eventsRedis, options.runs.eventsKey, 'incident-timeline', options.consumerName, options.logger);
  }

  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    void this.consumer.run((event) => this.handle(event));
  }

  stop(): void {
    this.consumer.stop();
  }

  async handle(event: RunEvent): Promise<void> {
    if (!FOLLOWED.has(event.type)) return;
    const run = await this.o.runs.get(event.runId);
    const incidentId = run?.origin.incidentId;
    if (!run || !incidentId || run.dryRun) return;
    const incident = await this.o.incidents.get(incidentId);
    if (!incident) return;
    const key = `${event.runId}:${event.type}:${event.stepId ?? ''}`;
    // A run starts on its last approval: the approver started it.
    const actor = event.actor?.id ?? (event.type === 'run.started' ? run.approvals.at(-1)?.by.id : undefined) ?? run.requester.id;
    const entry = { at: event.at, actor, text: describe(event, run) };

    if (event.type === 'run.created') await this.o.incidents.addRun(incidentId, run.id, run.createdAt);
    const first = await this.o.incidents.appendOnce(incidentId, key, entry);
    if (event.type === 'run.succeeded') {
      const point = restorePointOf(run);
      if (point) await this.o.incidents.setField(incidentId, 'restorePoint', point);
    }
    // The page gets the runbook's public words only, once per event.
    const status = this.o.runbooks.get(run.runbookId)?.status;
    const phase = event.type === 'run.started' ? 'running' : event.type === 'run.succeeded' ? 'succeeded' : event.type === 'run.failed' ? 'failed' : undefined;
    const body = phase ? status?.[phase] : undefined;
    if (first && phase && body) await this.o.service.announceRunOnPage(incident, body, status?.components?.[phase]);
    await this.o.service.refresh(incidentId);
  }
}

function describe(event: RunEvent, run: Run): string {
  const what = `${run.runbookTitle} (${run.id})`;
  const took = run.startedAt !== undefined && run.finishedAt !== undefined ? ` in ${formatDuration(run.finishedAt - run.startedAt)}` : '';
  switch (event.type) {
    case 'run.created':
      return `requested ${what}`;
    case 'run.started':
      return `started ${what}`;
    case 'step.failed': {
      const step = run.plan.find((p) => p.stepId === event.stepId)?.name ?? event.stepId ?? 'a step';
      return `${what}: step "${step}" failed: ${(event.message ?? run.steps[event.stepId ?? '']?.error ?? '').slice(0, 200)}`;
    }
    case 'run.succeeded': {
      const point = restorePointOf(run);
      return `${what} succeeded${took}${point ? `, restored to ${point}` : ''}`;
    }
    case 'run.failed':
      return `${what} failed${took}: ${(run.failure?.message ?? '').slice(0, 200)}`;
    case 'run.cancelled':
      return `${what} cancelled`;
    case 'run.rejected':
      return `${what} rejected`;
    default:
      return `${what} expired before approval`;
  }
}
