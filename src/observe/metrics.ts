import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DrillResult } from '../drills/model.ts';
import type { LatestReadiness } from '../readiness/store.ts';
import type { SlackCallObserver } from '../slack/client.ts';
import type { ItemStatus } from '../steps/readiness/report.ts';

/** What the engine reports as runs and steps end (kept narrow so the engine does not depend on Prometheus). */
export interface RunObserver {
  stepFinished(use: string, outcome: 'succeeded' | 'failed' | 'cancelled', seconds: number): void;
  runFinished(runbookId: string, outcome: string): void;
}

/** Where the readiness gauges are read from when scraped (the readiness store, shared by every process). */
export interface ReadinessSource {
  latest(): Promise<LatestReadiness>;
}

/** Where the drill gauges are read from when scraped (the drill record, shared by every process). */
export interface DrillSource {
  latestPerScenario(): Promise<DrillResult[]>;
}

/** A readiness status as a gauge value (docs/readiness.md, "Metrics"): `unknown` is below every measured status. */
export const READINESS_STATUS_VALUE: Readonly<Record<ItemStatus, number>> = { pass: 1, warn: 0.5, fail: 0, unknown: -1 };

/** The gauges of one scrape read the store once: prom-client collects them all at the same time. */
const READINESS_READ_REUSE_MS = 1_000;

/**
 * The process's Prometheus metrics, served on `/metrics`. One registry per
 * process (not prom-client's global one), so several bots in one test process
 * do not share counters. Every process (bot or worker) exposes what it does;
 * Prometheus sums across pods.
 */
export class Metrics implements RunObserver, SlackCallObserver {
  readonly registry = new Registry();
  private readonly queues: { name: string; queue: Queue }[] = [];
  private readiness: ReadinessSource | undefined;
  private readinessRead: { at: number; value: Promise<LatestReadiness | undefined> } | undefined;
  private drills: DrillSource | undefined;
  private drillsRead: { at: number; value: Promise<DrillResult[] | undefined> } | undefined;

  readonly commands = new Counter({ name: 'dr_commands_total', help: '/dr commands by subcommand and outcome (ok, refused, error)', labelNames: ['command', 'outcome'] as const, registers: [this.registry] });
  readonly ackSeconds = new Histogram({
    name: 'dr_command_ack_seconds',
    help: 'Time from receiving a /dr command to acknowledging it (Slack allows 3 s)',
    labelNames: ['command'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3],
    registers: [this.registry],
  });
  readonly runs = new Counter({ name: 'dr_runs_total', help: 'Runs ended, by runbook and outcome', labelNames: ['runbook', 'outcome'] as const, registers: [this.registry] });
  readonly stepSeconds = new Histogram({
    name: 'dr_step_duration_seconds',
    help: 'Step duration from first start to end, by step type and outcome',
    labelNames: ['step', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200],
    registers: [this.registry],
  });
  readonly slackRateLimited = new Counter({ name: 'dr_slack_rate_limited_total', help: 'Slack Web API answers 429 (retried after Retry-After), by method', labelNames: ['method'] as const, registers: [this.registry] });
  readonly slackErrors = new Counter({ name: 'dr_slack_api_errors_total', help: 'Slack Web API answers that were errors (ok:false or 5xx), by method and error', labelNames: ['method', 'error'] as const, registers: [this.registry] });
  readonly statuspageRequests = new Counter({ name: 'dr_statuspage_requests_total', help: 'Statuspage API requests by outcome (ok, rate_limited, server_error, refused, network)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly statuspageRetries = new Counter({ name: 'dr_statuspage_retries_total', help: 'Statuspage deliveries that failed and were scheduled again', registers: [this.registry] });
  readonly jobFailures = new Counter({ name: 'dr_job_failures_total', help: 'Queue job attempts that failed (retried unless out of attempts), by queue', labelNames: ['queue'] as const, registers: [this.registry] });
  readonly recoverySeconds = new Histogram({
    name: 'dr_incident_recovery_seconds',
    help: 'Incident time to recover (declared to resolved), by scenario',
    labelNames: ['scenario'] as const,
    buckets: [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400],
    registers: [this.registry],
  });
  readonly recoveryVsRto = new Counter({ name: 'dr_incident_rto_total', help: 'Resolved incidents by scenario and whether the RTO was met', labelNames: ['scenario', 'rto'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dr_' });
    const queues = this.queues;
    new Gauge({
      name: 'dr_queue_jobs',
      help: 'Jobs in each queue by state (read from Redis when scraped)',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { name, queue } of queues) {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized').catch(() => undefined);
          if (!counts) continue;
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }
      },
    });
    this.readinessGauges();
    this.drillGauges();
  }

  /** The last drill of each scenario (docs/drills.md, "Metrics"), read from the drill record when scraped. */
  private drillGauges(): void {
    const read = () => this.latestDrills();
    const gauge = (name: string, help: string, value: (d: DrillResult) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['scenario'] as const,
        registers: [this.registry],
        async collect() {
          const latest = await read();
          // A failed read keeps the last values rather than dropping every series.
          if (!latest) return;
          this.reset();
          for (const d of latest) {
            const v = value(d);
            if (v !== undefined) this.set({ scenario: d.scenario }, v);
          }
        },
      });
    gauge('dr_drill_last_rto_seconds', "The achieved RTO of each scenario's last drill, in seconds; absent when it did not recover (dr_drill_last_passed is 0)", (d) => (d.achievedRtoMs === undefined ? undefined : d.achievedRtoMs / 1_000));
    gauge('dr_drill_last_passed', "Whether each scenario's last drill passed: 1 passed, 0 failed", (d) => (d.passed ? 1 : 0));
    gauge('dr_drill_last_timestamp_seconds', "When each scenario's last drill started (Unix seconds)", (d) => d.startedAt / 1_000);
  }

  private latestDrills(): Promise<DrillResult[] | undefined> {
    const source = this.drills;
    if (!source) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.drillsRead || now - this.drillsRead.at > READINESS_READ_REUSE_MS) {
      this.drillsRead = { at: now, value: source.latestPerScenario().catch(() => undefined) };
    }
    return this.drillsRead.value;
  }

  /** Where `/metrics` reads the drill gauges from. */
  watchDrills(source: DrillSource): void {
    this.drills = source;
  }

  /**
   * The readiness gauges, read from the store when scraped: right in every
   * process that serves them, wherever the readiness follower runs.
   */
  private readinessGauges(): void {
    const read = () => this.latestReadiness();
    const registry = this.registry;
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (latest: LatestReadiness, set: (labels: Record<L, string>, value: number) => void) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          const latest = await read();
          // A failed read keeps the last values rather than dropping every series (Redis has its own signal: /readyz).
          if (!latest) return;
          this.reset();
          fill(latest, (labels, value) => this.set(labels, value));
        },
      });
    const exposures = (latest: LatestReadiness) => latest.exposures?.exposures ?? [];
    gauge('dr_readiness_item_status', "Each readiness item at its target's latest check: 1 pass, 0.5 warn, 0 fail, -1 unknown (not measured)", ['target', 'area', 'item'], (latest, set) => {
      for (const { report } of latest.targets) for (const i of report.items) set({ target: report.target, area: i.area, item: i.id }, READINESS_STATUS_VALUE[i.status]);
    });
    gauge('dr_readiness_last_check_timestamp_seconds', 'When each target was last checked for readiness (Unix seconds)', ['target'], (latest, set) => {
      for (const { report } of latest.targets) set({ target: report.target }, report.checkedAt / 1_000);
    });
    gauge('dr_rpo_exposure_seconds', 'Live RPO: seconds of data a recovery started now would lose, per scenario; absent when not measured (dr_rpo_exposure_status is -1)', ['scenario'], (latest, set) => {
      for (const e of exposures(latest)) if (e.exposureSeconds !== undefined) set({ scenario: e.scenario }, e.exposureSeconds);
    });
    gauge('dr_rpo_objective_seconds', "The DR plan's RPO per scenario, in seconds", ['scenario'], (latest, set) => {
      for (const e of exposures(latest)) set({ scenario: e.scenario }, e.objectiveSeconds);
    });
    gauge('dr_rpo_exposure_status', 'Live RPO against the objective per scenario: 1 pass, 0.5 warn, 0 fail, -1 unknown (not measured)', ['scenario'], (latest, set) => {
      for (const e of exposures(latest)) set({ scenario: e.scenario }, READINESS_STATUS_VALUE[e.status]);
    });
  }

  private latestReadiness(): Promise<LatestReadiness | undefined> {
    const source = this.readiness;
    if (!source) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.readinessRead || now - this.readinessRead.at > READINESS_READ_REUSE_MS) {
      this.readinessRead = { at: now, value: source.latest().catch(() => undefined) };
    }
    return this.readinessRead.value;
  }

  /** Where `/metrics` reads the readiness gauges from. */
  watchReadiness(source: ReadinessSource): void {
    this.readiness = source;
  }

  /** Queues whose depth `/metrics` reports. */
  watchQueue(name: string, queue: Queue): void {
    this.queues.push({ name, queue });
  }

  rateLimited(method: string): void {
    this.slackRateLimited.inc({ method });
  }

  failed(method: string, error: string): void {
    this.slackErrors.inc({ method, error });
  }

  commandAnswered(command: string, outcome: 'ok' | 'refused' | 'error', ackSeconds: number): void {
    this.commands.inc({ command, outcome });
    this.ackSeconds.observe({ command }, ackSeconds);
  }

  stepFinished(use: string, outcome: 'succeeded' | 'failed' | 'cancelled', seconds: number): void {
    this.stepSeconds.observe({ step: use, outcome }, seconds);
  }

  runFinished(runbookId: string, outcome: string): void {
    this.runs.inc({ runbook: runbookId, outcome });
  }

  incidentResolved(scenario: string, recoveryMs: number, rtoMs: number): void {
    this.recoverySeconds.observe({ scenario }, recoveryMs / 1_000);
    this.recoveryVsRto.inc({ scenario, rto: recoveryMs <= rtoMs ? 'met' : 'missed' });
  }
}
