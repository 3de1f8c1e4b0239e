import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';

export type SlackAuthState =
  | { status: 'unknown' }
  | { status: 'ok'; teamId: string; enterpriseId?: string; appId?: string; botUserId: string; botId?: string; checkedAt: number }
  | { status: 'failed'; error: string; checkedAt: number };

/** Slack answers these when the token itself is wrong: retrying will not help. */
const TOKEN_REJECTED = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive']);

export function isTokenRejected(state: SlackAuthState): boolean {
  return state.status === 'failed' && TOKEN_REJECTED.has(state.error);
}

/**
 * Keeps the answer to `auth.test` fresh for /readyz, so a readiness probe never
 * waits on Slack and a revoked token shows up within one interval.
 */
export class SlackAuthMonitor {
  private state: SlackAuthState = { status: 'unknown' };
  private timer: NodeJS.Timeout | undefined;
  private readonly client: WebClient;
  private readonly logger: Logger;
  private readonly intervalMs: number;

  constructor(client: WebClient, logger: Logger, intervalMs = 60_000) {
    this.client = client;
    this.logger = logger;
    this.intervalMs = intervalMs;
  }

  current(): SlackAuthState {
    return this.state;
  }

  async check(): Promise<SlackAuthState> {
    const checkedAt = Date.now();
    try {
      const res = await this.client.auth.test();
      // The app id lets requests for another app be refused; bots.info is the API that names it.
      const appId = this.state.status === 'ok' && this.state.appId ? this.state.appId : res.bot_id ? await this.appIdOf(res.bot_id) : undefined;
      const next: SlackAuthState = {
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
    } catch (err) {
      const error = slackError(err);
      if (this.state.status !== 'failed' || this.state.error !== error) this.logger.warn({ error }, 'slack auth.test failed');
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

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function slackError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const data = (err as { data?: { error?: unknown } }).data;
    if (typeof data?.error === 'string') return data.error;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'unreachable';
}
