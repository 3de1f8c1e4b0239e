import { SCENARIO_IDS, type ScenarioId, type ScenarioTargets } from '../incidents/scenarios.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import type { RunbookSet } from '../runbooks/load.ts';
import { RunEventConsumer } from '../runs/events.ts';
import type { AuditEntry, Run, RunEvent, RunEventType } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { errorMessage } from '../errors.ts';
import type { DrillRecord } from './model.ts';
import { scoreDrill } from './score.ts';
import type { DrillStore } from './store.ts';

/** What a drill's report file is made from. */
export interface DrillReportInput {
  drill: DrillRecord;
  run: Run;
  /** The run's audit, oldest first: the report's timeline. */
  audit: AuditEntry[];
}

/** Shares a drill's report file where the team sees it (the Slack side, injected: drills know no Slack). */
export type ShareDrillReport = (input: DrillReportInput) => Promise<void>;

export interface DrillFollowerOptions {
  /** A connection of its own: reading events blocks. */
  eventsRedis: RedisConnection;
  runs: RunStore;
  store: DrillStore;
  /** Which runbooks are drills (`drill: true`). */
  runbooks: RunbookSet;
  /** The scenarios' RTO/RPO in force (the DR plan's, with the configuration's INCIDENT_TARGETS). */
  objectives: ScenarioTargets;
  share: ShareDrillReport;
  consumerName: string;
  logger: Logger;
  /** How long one process holds the right to share a report before another may: longer than an upload's retries. */
  reportLeaseMs?: number;
  /** How often reports that could not be shared (Slack down) are tried again. */
  retryMs?: number;
  now?: () => number;
}

const ENDED: readonly RunEventType[] = ['run.succeeded', 'run.failed', 'run.cancelled'];
const REPORT_LEASE_MS = 5 * 60_000;
const RETRY_MS = 60_000;
/** A report still unshared after a week is history, not news: it is given up (the drill stays recorded). */
const REPORT_GIVE_UP_MS = 7 * 24 * 3_600_000;

/**
 * Keeps the drill record: every ended (succeeded, failed, cancelled),
 * non-dry run of a runbook with `drill: true` is scored against its
 * scenario's objectives (score.ts) and recorded once, and its report file is
 * shared once in the run's channel. Events come through a consumer group of
 * its own, so none is missed while workers restart; recording is idempotent
 * and each report is guarded by a lease and a done mark, so a redelivered
 * event or a second process records and shares nothing twice.
 *
 * A report that cannot be shared (Slack down) stays pending and is tried
 * again every minute; the drill is recorded meanwhile.
 */
export class DrillFollower {
  private readonly o: DrillFollowerOptions;
  private readonly consumer: RunEventConsumer;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** One round of sharing at a time in this process. */
  private sharing: Promise<number> | undefined;

  constructor(options: DrillFollowerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.consumer = new RunEventConsumer(options.eventsRedis, options.runs.eventsKey, 'drill-record', options.consumerName, options.logger);
  }

  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    void this.consumer.run((event) => this.handle(event));
    this.timer = setInterval(() => void this.sharePending().catch(() => undefined), this.o.retryMs ?? RETRY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.consumer.stop();
    if (this.timer) clearInterval(this.timer);
  }

  async handle(event: RunEvent): Promise<void> {
    if (!ENDED.includes(event.type)) return;
    const run = await this.o.runs.get(event.runId);
    const runbook = run ? this.o.runbooks.get(run.runbookId) : undefined;
    if (!run || !runbook?.drill) return;
    const scenario = scenarioOf(run.scenario ?? runbook.scenario);
    if (!scenario) return;
    const drill = scoreDrill(run, scenario, this.o.objectives, this.now());
    if (!drill) return;
    if (await this.o.store.record(drill)) {
      this.o.logger.info(
        { runId: run.id, runbook: run.runbookId, scenario, passed: drill.passed, achievedRtoMs: drill.achievedRtoMs, measuredRpoMs: drill.measuredRpoMs, reasons: drill.reasons },
        drill.passed ? 'drill recorded: passed' : 'drill recorded: failed',
      );
    }
    // Pending before sharing, whether or not this delivery recorded it: a crash between the two loses no report.
    await this.o.store.addPending(run.id, drill.finishedAt);
    await this.sharePending();
  }

  /** Shares every pending report, oldest first; returns how many could not be shared (they stay pending). */
  sharePending(): Promise<number> {
    this.sharing ??= this.shareRound().finally(() => {
      this.sharing = undefined;
    });
    return this.sharing;
  }

  private async shareRound(): Promise<number> {
    let failed = 0;
    for (const { runId, at } of await this.o.store.pending()) {
      if (this.now() - at > REPORT_GIVE_UP_MS) {
        this.o.logger.warn({ runId }, 'a drill report could not be shared for a week; given up (the drill stays recorded)');
        await this.o.store.dropPending(runId);
        continue;
      }
      try {
        await this.shareOnce(runId);
      } catch (err) {
        failed += 1;
        this.o.logger.warn({ runId, err: errorMessage(err) }, 'sharing a drill report failed; it is tried again');
      }
    }
    return failed;
  }

  private async shareOnce(runId: string): Promise<void> {
    const claim = await this.o.store.claimReport(runId, this.o.reportLeaseMs ?? REPORT_LEASE_MS);
    if (claim === 'done') await this.o.store.dropPending(runId);
    if (claim !== 'claimed') return;
    try {
      const [drill, run, audit] = await Promise.all([this.o.store.get(runId), this.o.runs.get(runId), this.o.runs.audit(runId)]);
      // Gone from the record (past its retention) or from the runs: nothing left to tell.
      if (drill && run) await this.o.share({ drill, run, audit });
    } catch (err) {
      await this.o.store.releaseReport(runId).catch(() => undefined);
      throw err;
    }
    await this.o.store.reportDone(runId);
    this.o.logger.info({ runId }, 'drill report shared');
  }
}

function scenarioOf(value: string | undefined): ScenarioId | undefined {
  return (SCENARIO_IDS as readonly string[]).includes(value ?? '') ? (value as ScenarioId) : undefined;
}
