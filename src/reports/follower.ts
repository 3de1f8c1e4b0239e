import type { ScenarioTargets } from '../incidents/scenarios.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { LeasedOnce } from '../queue/leased-once.ts';
import type { RunbookSet } from '../runbooks/load.ts';
import { RunEventConsumer } from '../runs/events.ts';
import type { Run, RunEvent, RunEventType } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { errorMessage } from '../errors.ts';
import { buildRecoveryReport, isReportable, type RecoveryReport } from './recovery.ts';

/** What the Slack side needs to post a report: the report and where it goes. */
export interface ReportToPost {
  report: RecoveryReport;
  /** The incident's channel when the run is an incident's, else the run's; absent: run from the terminal. */
  channel?: string;
  /** Marks that survive a crash (an upload was attempted; the file's id). */
  marks: {
    get(name: 'attempted' | 'file'): Promise<string | undefined>;
    set(name: 'attempted' | 'file', value: string): Promise<void>;
  };
}

export type PostRecoveryReport = (post: ReportToPost) => Promise<void>;

/** The incident a run belongs to, as far as its report needs it. */
export type IncidentOf = (incidentId: string) => Promise<{ id: string; startedAt: number; channelId?: string } | undefined>;

/** The IncidentOf of an incident store: what the bot and the CLI pass. */
export function incidentsFrom(store: { get(id: string): Promise<{ id: string; startedAt: number; channelId?: string } | undefined> }): IncidentOf {
  return async (id) => {
    const incident = await store.get(id);
    return incident ? { id: incident.id, startedAt: incident.startedAt, ...(incident.channelId ? { channelId: incident.channelId } : {}) } : undefined;
  };
}

export interface ReportFollowerOptions {
  /** A connection of its own: reading events blocks. */
  eventsRedis: RedisConnection;
  /** Where reports' leases and marks are kept. */
  redis: RedisConnection;
  prefix: string;
  runs: RunStore;
  /** Drill runbooks (`drill: true`) get their drill report instead (docs/reports.md). */
  runbooks: RunbookSet;
  objectives: ScenarioTargets;
  incident: IncidentOf;
  post: PostRecoveryReport;
  consumerName: string;
  logger: Logger;
  /** How long one process holds the right to post a report before another may: longer than an upload's retries. */
  leaseMs?: number;
  /** How often reports that could not be posted (Slack down) are tried again. */
  retryMs?: number;
  now?: () => number;
}

const ENDED: readonly RunEventType[] = ['run.succeeded', 'run.failed', 'run.cancelled'];
const LEASE_MS = 5 * 60_000;
const RETRY_MS = 60_000;
/** A report still unposted after a week is history, not news: given up (`/dr report` still exports it). */
const GIVE_UP_MS = 7 * 24 * 3_600_000;
const TTL_SECONDS = 30 * 24 * 3_600;

/** Whether the run gets a recovery report file: changing, ended after it started, and no drill. */
export function postsRecoveryReport(run: Run, runbooks: RunbookSet): boolean {
  return isReportable(run) && runbooks.get(run.runbookId)?.drill !== true;
}

/**
 * Posts a recovery report file once for every changing run that ends
 * (docs/reports.md). Events come through a consumer group of its own
 * (`recovery-report`), so none is missed while workers restart; each report
 * is pending until posted and guarded by a lease and a done mark
 * (queue/leased-once.ts), so a redelivered event or a second process posts
 * nothing twice. A report that cannot be posted (Slack down) is tried again
 * every minute.
 */
export class RecoveryReportFollower {
  private readonly o: ReportFollowerOptions;
  private readonly consumer: RunEventConsumer;
  private readonly once: LeasedOnce;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private posting: Promise<number> | undefined;

  constructor(options: ReportFollowerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.consumer = new RunEventConsumer(options.eventsRedis, options.runs.eventsKey, 'recovery-report', options.consumerName, options.logger);
    const base = `${options.prefix}:reports`;
    this.once = new LeasedOnce(options.redis, { keyOf: (runId) => `${base}:report:${runId}`, pendingKey: `${base}:pending`, ttlSeconds: TTL_SECONDS });
  }

  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    void this.consumer.run((event) => this.handle(event));
    this.timer = setInterval(() => void this.postPending().catch(() => undefined), this.o.retryMs ?? RETRY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.consumer.stop();
    if (this.timer) clearInterval(this.timer);
  }

  async handle(event: RunEvent): Promise<void> {
    if (!ENDED.includes(event.type)) return;
    const run = await this.o.runs.get(event.runId);
    if (!run || !postsRecoveryReport(run, this.o.runbooks)) return;
    // Pending before posting: a crash between the two loses no report.
    await this.once.addPending([[run.id, String(run.finishedAt ?? event.at)]]);
    await this.postPending();
  }

  /** Posts every pending report, oldest first; returns how many could not be posted (they stay pending). */
  postPending(): Promise<number> {
    this.posting ??= this.round().finally(() => {
      this.posting = undefined;
    });
    return this.posting;
  }

  private async round(): Promise<number> {
    let failed = 0;
    const pending = Object.entries(await this.once.pending()).sort((a, b) => Number(a[1]) - Number(b[1]));
    for (const [runId, at] of pending) {
      if (this.now() - (Number(at) || 0) > GIVE_UP_MS) {
        this.o.logger.warn({ runId }, 'a recovery report could not be posted for a week; given up (`report` still exports it)');
        await this.once.dropPending(runId);
        continue;
      }
      try {
        await this.postOnce(runId);
      } catch (err) {
        failed += 1;
        this.o.logger.warn({ runId, err: errorMessage(err) }, 'posting a recovery report failed; it is tried again');
      }
    }
    return failed;
  }

  private async postOnce(runId: string): Promise<void> {
    const claim = await this.once.claim(runId, this.o.leaseMs ?? LEASE_MS);
    if (claim === 'done') await this.once.dropPending(runId);
    if (claim !== 'claimed') return;
    try {
      const [run, audit] = await Promise.all([this.o.runs.get(runId), this.o.runs.audit(runId)]);
      if (run) {
        const incident = run.origin.incidentId ? await this.o.incident(run.origin.incidentId) : undefined;
        const report = buildRecoveryReport(run, audit, { objectives: this.o.objectives, ...(incident ? { incident } : {}), now: this.now() });
        const channel = incident?.channelId ?? run.message?.channel ?? run.origin.channelId;
        await this.o.post({
          report,
          ...(channel ? { channel } : {}),
          marks: { get: (name) => this.once.mark(runId, name), set: (name, value) => this.once.setMark(runId, name, value) },
        });
      }
    } catch (err) {
      await this.once.release(runId).catch(() => undefined);
      throw err;
    }
    await this.once.done(runId);
    this.o.logger.info({ runId }, 'recovery report posted');
  }
}
