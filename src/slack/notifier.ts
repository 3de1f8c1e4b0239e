import type { RedisConnection } from '../queue/connection.ts';
import { WebClient, WebAPIRateLimitedError } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';
import { RunEventConsumer } from '../runs/events.ts';
import { isTerminal, type Run, type RunEvent } from '../runs/model.ts';
import type { RunStore } from '../runs/store.ts';
import { type SlackCallObserver, slackClientOptions } from './client.ts';
import { slackErrorCode, UPDATE_REFUSED_FOR_GOOD } from './errors.ts';
import { findPostedReply, onceMetadata } from './post-once.ts';
import type { SlackMessage } from './views/message.ts';
import { renderRunMessage } from './views/run.ts';
import { endingText, stateText } from './views/run-ending.ts';
import { renderRunMoved } from './views/run-moved.ts';
import { permalinkOf } from './permalink.ts';

/** Refusals of a message's content, not of editing it: a short update of the same message still goes through. */
const CONTENT_REFUSALS = new Set(['msg_too_long', 'msg_blocks_too_long', 'invalid_blocks']);

/** Run endings that also get a threaded reply, so people are notified. */
const ENDINGS = new Set<RunEvent['type']>(['run.succeeded', 'run.failed', 'run.cancelled', 'run.expired', 'run.rejected']);

export interface NotifierOptions {
  store: RunStore;
  /** A connection of its own: reading events blocks. */
  eventsRedis: RedisConnection;
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
      } else if (UPDATE_REFUSED_FOR_GOOD.has(slackErrorCode(err) ?? '')) {
        await this.replaceMessage(run, message, slackErrorCode(err) ?? '');
      } else {
        this.o.logger.warn({ runId, err: err instanceof Error ? err.message : String(err) }, 'updating the run message failed; the next update catches up');
      }
    }
    if (run.state === 'running') return;
    // Finished runs need no timer state any more.
    setTimeout(() => this.lastSent.delete(runId), this.o.minIntervalMs * 2).unref();
  }

  /**
   * The run's message can never be updated again (deleted, too old, too
   * large…): rather than leave it showing a stale state, post the current
   * one afresh and make that the run's message. When even that is refused,
   * post the state as plain text. At most once per stale message while the
   * run is live and once more for its final state, so a refusal cannot loop.
   */
  private async replaceMessage(run: Run, message: SlackMessage, refusal: string): Promise<void> {
    const stale = run.message;
    if (!stale) return;
    const phase = isTerminal(run.state) ? run.state : 'live';
    const key = `slack-replace:${run.id}:${stale.ts}:${phase}`;
    if (!(await this.o.store.once(key))) return;
    const log = this.o.logger.child({ runId: run.id, refusal });
    const thread = run.origin.threadTs ? { thread_ts: run.origin.threadTs } : {};
    try {
      const posted = await this.slack.chat.postMessage({ channel: stale.channel, text: message.text, blocks: message.blocks ?? [], ...thread, metadata: onceMetadata(key) });
      if (posted.ts) {
        await this.o.store.setMessage(run.id, { channel: stale.channel, ts: posted.ts });
        await this.markMoved(run, stale, { channel: stale.channel, ts: posted.ts }, refusal);
      }
      log.warn({ staleTs: stale.ts, ts: posted.ts }, 'Slack refused to update the run message for good; posted its current state as a new message');
      return;
    } catch (err) {
      log.warn({ err: errorText(err) }, 'posting the run message afresh failed too; posting its state as text');
    }
    try {
      await this.slack.chat.postMessage({ channel: stale.channel, text: stateText(run), ...thread, metadata: onceMetadata(`${key}:text`) });
    } catch (err) {
      log.error({ err: errorText(err) }, 'the run\'s current state could not be shown in Slack');
    }
  }

  /**
   * The old message of a run posted afresh says where the run went, without
   * its buttons, when Slack still lets it be updated (it refused its content,
   * not the edit). Otherwise its buttons stay, and a click on them is told
   * where the live message is (run-actions).
   */
  private async markMoved(run: Run, stale: { channel: string; ts: string }, live: { channel: string; ts: string }, refusal: string): Promise<void> {
    if (!CONTENT_REFUSALS.has(refusal)) return;
    const moved = renderRunMoved(run, await permalinkOf(this.slack, live));
    try {
      await this.slack.chat.update({ channel: stale.channel, ts: stale.ts, text: moved.text, blocks: moved.blocks ?? [] });
    } catch (err) {
      this.o.logger.warn({ runId: run.id, err: errorText(err) }, 'could not mark the run\'s old message as moved');
    }
  }

  /**
   * The threaded reply at a run's end, once: recorded as sent only after Slack
   * took it. A failure is retried with the event; a retry after an attempt
   * that may have posted (a crash before it was recorded) first looks for the
   * reply's key in the thread.
   */
  private async announceEnd(event: RunEvent): Promise<void> {
    const run = await this.o.store.get(event.runId);
    const sent = `slack-ending:${event.runId}`;
    if (!run?.message || (await this.o.store.claimed(sent))) return;
    const { channel, ts } = run.message;
    const firstAttempt = await this.o.store.once(`slack-ending-attempt:${event.runId}`);
    try {
      if (firstAttempt || !(await findPostedReply(this.slack, channel, ts, sent))) {
        await this.slack.chat.postMessage({ channel, thread_ts: ts, text: endingText(run), metadata: onceMetadata(sent) });
      }
      await this.o.store.once(sent);
    } catch (err) {
      this.o.logger.warn({ runId: run.id, err: errorText(err) }, 'threaded run notification failed; retried with the event');
      throw err;
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
