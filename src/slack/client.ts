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

/** Options shared by every Web API client the bot makes (Bolt's own included). */
export function slackClientOptions(apiUrl: string, logger: Logger, observer?: SlackCallObserver) {
  return {
    slackApiUrl: apiUrl,
    logger: toSlackLogger(logger),
    retryConfig: SLACK_RETRY,
    timeout: 10_000,
    ...(observer ? { fetch: observedFetch(observer) } : {}),
  };
}

export function createSlackClient({ token, apiUrl, logger, observer }: SlackClientOptions): WebClient {
  return new WebClient(token, slackClientOptions(apiUrl, logger, observer));
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
