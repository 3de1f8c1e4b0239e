import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';

export type SlackAuthState =
  | { status: 'unknown' }
  | { status: 'ok'; teamId: string; enterpriseId?: string; appId?: string; botUserId: string; botId?: string; checkedAt: number }
  | { status: 'failed'; error: string; checkedAt: number };

/** Slack answers these when the token itself is wrong: retrying will not help. */
const TOKEN_REJECTED = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive']);

export function isTokenRejected(state: SlackAuthState): boolean {
  return state.status === 'failed' && rejectsToken(state.error);
}

/** Whether a Slack error code says the token itself is wrong (revoked, expired, not valid). */
export function rejectsToken(error: string): boolean {
  return TOKEN_REJECTED.has(error);
}

export interface SlackAuthMonitorOptions {
  /** How often a confirmed token is checked again (a revoked token shows within one interval). */
  intervalMs?: number;
  /** First and longest wait between tries while Slack has not answered (doubling, with jitter). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Confirmed = Extract<SlackAuthState, { status: 'ok' }>;

/**
 * Keeps the answer to `auth.test` fresh for /readyz, so a readiness probe never
 * waits on Slack and a revoked token shows up within one interval.
 *
 * `start()` asks at once and never blocks: while Slack does not answer (refused,
 * black-holed, 5xx) it asks again with backoff, forever, so the process starts
 * and serves probes during a Slack outage and catches up when Slack is back.
 * The client should be the probe client (src/slack/client.ts): one short try per call.
 */
export class SlackAuthMonitor {
  private state: SlackAuthState = { status: 'unknown' };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private firstCheck: Promise<SlackAuthState> | undefined;
  private readonly reachableListeners: ((state: Confirmed) => void)[] = [];
  private confirmedOnce = false;
  private confirmed: Confirmed | undefined;
  private readonly client: WebClient;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(client: WebClient, logger: Logger, { intervalMs = 60_000, retryMinMs = 1_000, retryMaxMs = 15_000 }: SlackAuthMonitorOptions = {}) {
    this.client = client;
    this.logger = logger;
    this.intervalMs = intervalMs;
    this.retryMinMs = retryMinMs;
    this.retryMaxMs = retryMaxMs;
  }

  current(): SlackAuthState {
    return this.state;
  }

  /** Whether Slack has confirmed the token at least once since start. */
  get everConfirmed(): boolean {
    return this.confirmedOnce;
  }

  /**
   * The installation as Slack last confirmed it, kept through a failed refresh
   * (a Slack blip does not make the bot refuse everyone), dropped when Slack
   * rejects the token. Undefined until Slack has answered once.
   */
  lastConfirmed(): Confirmed | undefined {
    return isTokenRejected(this.state) ? undefined : this.confirmed;
  }

  /** Called once, the first time Slack confirms the token (at once if it already has). */
  onFirstConfirmed(listener: (state: Confirmed) => void): void {
    if (this.confirmedOnce && this.state.status === 'ok') listener(this.state);
    else this.reachableListeners.push(listener);
  }

  /**
   * The first check's answer, or the state as it is after `waitMs` if Slack has
   * not answered by then (the check goes on in the background).
   */
  async firstAnswer(waitMs: number): Promise<SlackAuthState> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<SlackAuthState>((resolve) => {
      timer = setTimeout(() => { resolve(this.state); }, waitMs);
    });
    try {
      return await Promise.race([this.firstCheck ?? Promise.resolve(this.state), waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  async check(): Promise<SlackAuthState> {
    const checkedAt = Date.now();
    try {
      const res = await this.client.auth.test();
      // The app id lets requests for another app be refused; bots.info is the API that names it.
      const appId = this.state.status === 'ok' && this.state.appId ? this.state.appId : res.bot_id ? await this.appIdOf(res.bot_id) : undefined;
      const next: Confirmed = {
        status: 'ok',
        teamId: res.team_id ?? '',
        botUserId: res.user_id ?? '',
        checkedAt,
        ...(res.enterprise_id ? { enterpriseId: res.enterprise_id } : {}),
        ...(appId ? { appId } : {}),
        ...(res.bot_id ? { botId: res.bot_id } : {}),
      };
      if (this.state.status !== 'ok') this.logger.info({ team: next.teamId }, 'slack auth ok');
      this.state = next;
      this.confirmed = next;
      if (!this.confirmedOnce) {
        this.confirmedOnce = true;
        for (const listener of this.reachableListeners.splice(0)) listener(next);
      }
    } catch (err) {
      const error = slackError(err);
      if (this.state.status !== 'failed' || this.state.error !== error) {
        if (TOKEN_REJECTED.has(error)) this.logger.error({ error }, 'slack rejected SLACK_BOT_TOKEN: nothing reaches Slack until it is replaced');
        else this.logger.warn({ error }, 'slack auth.test failed; asking again in the background');
      }
      this.state = { status: 'failed', error, checkedAt };
    }
    return this.state;
  }

  private async appIdOf(botId: string): Promise<string | undefined> {
    try {
      return (await this.client.bots.info({ bot: botId })).bot?.app_id;
    } catch (err) {
      this.logger.warn({ error: slackError(err) }, 'bots.info failed: requests are not checked against the app id until it answers');
      return undefined;
    }
  }

  /** Asks Slack now, then keeps asking: every interval once confirmed, with backoff until then. */
  start(): void {
    this.stopped = false;
    this.firstCheck = this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<SlackAuthState> {
    const state = await this.check();
    if (!this.stopped) {
      this.failures = state.status === 'ok' ? 0 : this.failures + 1;
      this.timer = setTimeout(() => void this.tick(), state.status === 'ok' ? this.intervalMs : this.backoffMs());
      this.timer.unref();
    }
    return state;
  }

  private backoffMs(): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(this.failures - 1, 20));
    // Half fixed, half random: many workers restarted together do not ask Slack in step.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

/** What /readyz says about Slack: "ok", or why not, in words an operator reads. */
export function describeSlackState(state: SlackAuthState, everConfirmed: boolean): string {
  if (state.status === 'ok') return 'ok';
  if (state.status === 'unknown') return 'Slack not reachable yet (no answer so far; asking again in the background)';
  if (isTokenRejected(state)) return `Slack rejected the token (${state.error})`;
  return everConfirmed ? `Slack not reachable (${state.error}; asking again in the background)` : `Slack not reachable yet (${state.error}; asking again in the background)`;
}

/** Slack's error code, or why a request got no answer (ECONNREFUSED, a timeout), in a few words. */
export function slackError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const data = (err as { data?: { error?: unknown } }).data;
    if (typeof data?.error === 'string') return data.error;
    // A request that never got an answer: say why (ECONNREFUSED, a timeout), not just "request error".
    const original = (err as { original?: { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } }).original;
    if (typeof original?.cause?.code === 'string') return original.cause.code;
    if (typeof original?.cause?.message === 'string') return original.cause.message.slice(0, 120);
    if (typeof original?.code === 'string') return original.code;
    if (original?.name === 'TimeoutError' || original?.name === 'AbortError') return 'timed out without an answer';
    if (typeof original?.message === 'string') return original.message.slice(0, 120);
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'unreachable';
}
