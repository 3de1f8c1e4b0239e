import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SlackCallObserver } from '../slack/client.ts';

/** What the engine reports as runs and steps end (kept narrow so the engine does not depend on Prometheus). */
export interface RunObserver {
  stepFinished(use: string, outcome: 'succeeded' | 'failed' | 'cancelled', seconds: number): void;
  runFinished(runbookId: string, outcome: string): void;
}

/**
 * The process's Prometheus metrics, served on `/metrics`. One registry per
 * process (not prom-client's global one), so several bots in one test process
 * do not share counters. Every process (bot or worker) exposes what it does;
 * Prometheus sums across pods.
 */
export class Metrics implements RunObserver, SlackCallObserver {
  readonly registry = new Registry();
  private readonly queues: { name: string; queue: Queue }[] = [];

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
