import type { Logger } from '../log/logger.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { RunEventConsumer } from '../runs/events.ts';
import type { RunEvent } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { readinessReportOf, summaryStepOf } from './run-report.ts';
import type { NoticeClaim, ReadinessStore } from './store.ts';
import type { NotifyTransition, ReadinessTransition } from './transitions.ts';

export interface ReadinessFollowerOptions {
  /** A connection of its own: reading events blocks. */
  eventsRedis: RedisConnection;
  runs: RunStore;
  store: ReadinessStore;
  /** Tells a red or green transition (the Slack channel's poster, injected: readiness knows no Slack). */
  notify: NotifyTransition;
  consumerName: string;
  logger: Logger;
  /** How long one process holds the right to tell a transition before another may: longer than a post's retries. */
  noticeLeaseMs?: number;
  /** How often notices that could not be told (Slack down) are tried again. */
  retryMs?: number;
}

/** The Slack client retries a post for about a minute; a teller that dies lets another tell after this. */
const NOTICE_LEASE_MS = 5 * 60_000;
const RETRY_MS = 60_000;

/**
 * Keeps the readiness history from readiness runs: when a run with a
 * `readiness.summary` step succeeds (the check ran; failing items are in its
 * report, not a failed run), its report is recorded and each item that
 * turned red or green is told once. Events come through a consumer group of
 * its own, so none is missed while workers restart; recording is idempotent
 * and each notice is guarded by its own key, so a redelivered event or a
 * second process tells nothing twice. Dry runs are ignored.
 *
 * A notice that cannot be told (Slack down, the channel refusing) stays
 * pending and is tried again every minute, in order per item; the history
 * goes on being recorded meanwhile.
 */
export class ReadinessFollower {
  private readonly o: ReadinessFollowerOptions;
  private readonly consumer: RunEventConsumer;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** One round of telling at a time in this process. */
  private telling: Promise<number> | undefined;

  constructor(options: ReadinessFollowerOptions) {
    this.o = options;
    this.leaseMs = options.noticeLeaseMs ?? NOTICE_LEASE_MS;
    this.consumer = new RunEventConsumer(options.eventsRedis, options.runs.eventsKey, 'readiness-history', options.consumerName, options.logger);
  }

  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    void this.consumer.run((event) => this.handle(event));
    this.timer = setInterval(() => void this.tellPending().catch(() => undefined), this.o.retryMs ?? RETRY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.consumer.stop();
    if (this.timer) clearInterval(this.timer);
  }

  async handle(event: RunEvent): Promise<void> {
    if (event.type !== 'run.succeeded') return;
    const run = await this.o.runs.get(event.runId);
    if (!run || run.dryRun || run.state !== 'succeeded') return;
    const found = readinessReportOf(run);
    if (!found) {
      const step = summaryStepOf(run);
      if (step) this.o.logger.warn({ runId: run.id, stepId: step }, 'a readiness run ended without a readable report; nothing recorded');
      return;
    }
    const transitions = await this.o.store.record(run.id, found.report);
    // Pending before telling: a crash between the two loses no notice.
    await this.o.store.addPending(transitions);
    if (transitions.length > 0) await this.tellPending();
  }

  /**
   * Tells every pending transition, oldest first; returns how many could
   * not be told (they stay pending). An item whose earlier notice failed
   * waits with its later ones, so red is never told after its green.
   */
  tellPending(): Promise<number> {
    this.telling ??= this.tellRound().finally(() => {
      this.telling = undefined;
    });
    return this.telling;
  }

  private async tellRound(): Promise<number> {
    const blocked = new Set<string>();
    let failed = 0;
    for (const transition of await this.o.store.pending()) {
      const item = `${transition.target}\n${transition.item.id}`;
      if (blocked.has(item)) continue;
      try {
        // Being told by another process: its later notices wait for that one.
        if ((await this.tellOnce(transition)) === 'busy') blocked.add(item);
      } catch (err) {
        failed += 1;
        blocked.add(item);
        this.o.logger.warn({ runId: transition.runId, target: transition.target, item: transition.item.id, err: errorText(err) }, 'telling a readiness transition failed; it is tried again');
      }
    }
    return failed;
  }

  private async tellOnce(transition: ReadinessTransition): Promise<NoticeClaim> {
    const claim = await this.o.store.claimNotice(transition.key, this.leaseMs);
    if (claim === 'done') await this.o.store.dropPending(transition.key);
    if (claim !== 'claimed') return claim;
    try {
      await this.o.notify(transition);
    } catch (err) {
      await this.o.store.releaseNotice(transition.key).catch(() => undefined);
      throw err;
    }
    await this.o.store.noticeDone(transition.key);
    this.o.logger.info({ runId: transition.runId, target: transition.target, item: transition.item.id, kind: transition.kind }, 'readiness transition told');
    return claim;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
