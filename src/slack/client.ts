import { type FetchFunction, type RetryOptions, WebClient } from '@slack/web-api';
import { type Logger, toSlackLogger } from '../log/logger.ts';

/** Told about every Web API answer that is not a success (for metrics). */
export interface SlackCallObserver {
  rateLimited(method: string): void;
  failed(method: string, error: string): void;
}

export interface SlackClientOptions {
  token: string;
  apiUrl: string;
  logger: Logger;
  observer?: SlackCallObserver | undefined;
}

/**
 * Retries network errors and 5xx a few times within about a minute; on 429 the
 * client itself waits Retry-After before sending again.
 */
export const SLACK_RETRY: RetryOptions = { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 20_000, randomize: true };

/** One request of a job or a listener: a black-holed Slack holds it this long at most (times the retries). */
export const SLACK_CALL_TIMEOUT_MS = 10_000;

/**
 * The reachability check (auth.test, bots.info) made at start and in the
 * background: one short try, no retries inside the client, because the caller
 * (src/slack/auth-monitor.ts) retries with its own backoff. Without this, a
 * black-holed Slack held the start for 6 × 10 s plus backoff (83 s).
 */
export const SLACK_PROBE_TIMEOUT_MS = 3_000;
export const SLACK_PROBE_RETRY: RetryOptions = { retries: 0 };

/** Options shared by every Web API client the bot makes (Bolt's own included). */
export function slackClientOptions(apiUrl: string, logger: Logger, observer?: SlackCallObserver, purpose: 'calls' | 'probe' = 'calls') {
  return {
    slackApiUrl: apiUrl,
    logger: toSlackLogger(logger),
    retryConfig: purpose === 'probe' ? SLACK_PROBE_RETRY : SLACK_RETRY,
    timeout: purpose === 'probe' ? SLACK_PROBE_TIMEOUT_MS : SLACK_CALL_TIMEOUT_MS,
    ...(observer ? { fetch: observedFetch(observer) } : {}),
  };
}

export function createSlackClient({ token, apiUrl, logger, observer }: SlackClientOptions): WebClient {
  return new WebClient(token, slackClientOptions(apiUrl, logger, observer));
}

/** The client of the reachability check: short timeout, no retries (see SLACK_PROBE_TIMEOUT_MS). */
export function createSlackProbeClient({ token, apiUrl, logger, observer }: SlackClientOptions): WebClient {
  return new WebClient(token, slackClientOptions(apiUrl, logger, observer, 'probe'));
}

/** `fetch` that reports rate limits and `ok: false` answers, reading a copy of the body. */
function observedFetch(observer: SlackCallObserver): FetchFunction {
  return async (url, init) => {
    const res = await fetch(url, init);
    const method = String(url).split('/').pop() ?? 'unknown';
    if (res.status === 429) observer.rateLimited(method);
    else if (res.status >= 500) observer.failed(method, `http_${String(res.status)}`);
    else if (res.headers.get('content-type')?.includes('json')) {
      const body: unknown = await res
        .clone()
        .json()
        .catch(() => undefined);
      if (body && typeof body === 'object' && 'ok' in body && body.ok === false) {
        observer.failed(method, 'error' in body && typeof body.error === 'string' ? body.error : 'unknown');
      }
    }
    return res;
  };
}
