import type { Redis } from 'ioredis';
import { WebClient, WebAPIRateLimitedError } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';
import { RunEventConsumer } from '../runs/events.ts';
import { changedSteps, type Run, type RunEvent } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { formatDuration } from '../util/duration.ts';
import { type SlackCallObserver, slackClientOptions } from './client.ts';
import { escapeMrkdwn } from './views/message.ts';
import { renderRunMessage } from './views/run.ts';

/** Run endings that also get a threaded reply, so people are notified. */
const ENDINGS = new Set<RunEvent['type']>(['run.succeeded', 'run.failed', 'run.cancelled', 'run.expired', 'run.rejected']);

export interface NotifierOptions {
  store: RunStore;
  /** A connection of its own: reading events blocks. */
  eventsRedis: Redis;
  token: string;
  apiUrl: string;
  logger: Logger;
  consumerName: string;
  observer?: SlackCallObserver | undefined;
  /** At most one chat.update per message per this interval. */
  minIntervalMs?: number;
}

/**
 * Keeps each run's Slack message current from run events: coalesced (the
 * latest state at most about once a second per message), and on HTTP 429 it
 * waits Retry-After and then sends the state as it is by then, never a backlog.
 * A Slack failure never touches the run; the next update catches up.
 */
export class RunMessageNotifier {
  private readonly consumer: RunEventConsumer;
  private readonly slack: WebClient;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly lastSent = new Map<string, number>();
  private readonly o: Required<Omit<NotifierOptions, 'eventsRedis' | 'observer'>>;

  constructor(options: NotifierOptions) {
    this.o = { minIntervalMs: 1_000, ...options };
    this.consumer = new RunEventConsumer(options.eventsRedis, options.store.eventsKey, 'slack-run-messages', options.consumerName, options.logger);
    // Rate limits are handled here (wait, then send the latest), not by resending a stale payload.
    this.slack = new WebClient(options.token, { ...slackClientOptions(options.apiUrl, options.logger, options.observer), rejectRateLimitedCalls: true });
  }

  async start(): Promise<void> {
    // Only what happens from now on: older runs' messages were finished by whoever ran then.
    await this.consumer.ensureGroup('$');
    void this.consumer.run((event) => this.handle(event));
  }

  stop(): void {
    this.consumer.stop();
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  /** Brings the run's message up to date soon (coalesced with other updates). */
  track(runId: string): void {
    this.schedule(runId, 0);
  }

  private async handle(event: RunEvent): Promise<void> {
    this.schedule(event.runId, 0);
    if (ENDINGS.has(event.type)) await this.announceEnd(event);
  }

  private schedule(runId: string, atLeastMs: number): void {
    if (this.pending.has(runId)) return;
    const wait = Math.max(atLeastMs, (this.lastSent.get(runId) ?? 0) + this.o.minIntervalMs - Date.now(), 0);
    this.pending.set(
      runId,
      setTimeout(() => {
        this.pending.delete(runId);
        void this.flush(runId);
      }, wait),
    );
  }

  private async flush(runId: string): Promise<void> {
    const run = await this.o.store.get(runId).catch(() => undefined);
    if (!run?.message) return;
    const message = renderRunMessage(run, Date.now());
    this.lastSent.set(runId, Date.now());
    try {
      await this.slack.chat.update({ channel: run.message.channel, ts: run.message.ts, text: message.text, blocks: message.blocks ?? [] });
    } catch (err) {
      if (err instanceof WebAPIRateLimitedError) {
        this.o.logger.warn({ runId, retryAfter: err.retryAfter }, 'slack rate limit on chat.update; sending the latest state after Retry-After');
        this.schedule(runId, err.retryAfter * 1_000);
      } else {
        this.o.logger.warn({ runId, err: err instanceof Error ? err.message : String(err) }, 'updating the run message failed; the next update catches up');
      }
    }
    if (run.state === 'running') return;
    // Finished runs need no timer state any more.
    setTimeout(() => this.lastSent.delete(runId), this.o.minIntervalMs * 2).unref();
  }

  private async announceEnd(event: RunEvent): Promise<void> {
    const run = await this.o.store.get(event.runId);
    if (!run?.message || !(await this.o.store.once(`slack-ending:${run.id}`))) return;
    try {
      await this.slack.chat.postMessage({ channel: run.message.channel, thread_ts: run.message.ts, text: endingText(run) });
    } catch (err) {
      this.o.logger.warn({ runId: run.id, err: err instanceof Error ? err.message : String(err) }, 'threaded run notification failed');
    }
  }
}

export function endingText(run: Run): string {
  const took = run.startedAt && run.finishedAt ? ` in ${formatDuration(run.finishedAt - run.startedAt)}` : '';
  const title = `*${escapeMrkdwn(run.runbookTitle)}* (run \`${run.id}\`)`;
  switch (run.state) {
    case 'succeeded':
      return `:large_green_circle: ${title} succeeded${took}.${run.dryRun ? ' It was a dry run: nothing changed.' : ''}`;
    case 'failed': {
      const done = changedSteps(run).filter((s) => s.state === 'succeeded').map((s) => `\`${s.stepId}\``);
      return `:red_circle: ${title} failed${run.failure?.stepId ? ` at \`${run.failure.stepId}\`` : ''}: ${escapeMrkdwn(run.failure?.message ?? 'unknown error')}\nAlready changed: ${done.join(', ') || 'nothing'}. Audit: \`/dr audit ${run.id}\``;
    }
    case 'cancelled':
      return `:black_square_for_stop: ${title} was cancelled${run.decision ? ` by ${run.decision.by.via === 'slack' ? `<@${run.decision.by.id}>` : escapeMrkdwn(run.decision.by.name ?? run.decision.by.id)}` : ''}.`;
    case 'expired':
      return `:alarm_clock: ${title} expired: nobody approved it in time. Request it again for a fresh plan.`;
    case 'rejected':
      return `:no_entry: ${title} was rejected${run.decision ? ` by <@${run.decision.by.id}>` : ''}${run.decision?.reason ? `: ${escapeMrkdwn(run.decision.reason)}` : ''}.`;
    default:
      return `${title} is ${run.state}.`;
  }
}
