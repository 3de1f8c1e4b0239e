import { type RetryOptions, WebClient } from '@slack/web-api';
import { type Logger, toSlackLogger } from '../log/logger.ts';

export interface SlackClientOptions {
  token: string;
  apiUrl: string;
  logger: Logger;
}

/**
 * Retries network errors and 5xx a few times within about a minute; on 429 the
 * client itself waits Retry-After before sending again.
 */
export const SLACK_RETRY: RetryOptions = { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 20_000, randomize: true };

/** Options shared by every Web API client the bot makes (Bolt's own included). */
export function slackClientOptions(apiUrl: string, logger: Logger) {
  return { slackApiUrl: apiUrl, logger: toSlackLogger(logger), retryConfig: SLACK_RETRY, timeout: 10_000 };
}

export function createSlackClient({ token, apiUrl, logger }: SlackClientOptions): WebClient {
  return new WebClient(token, slackClientOptions(apiUrl, logger));
}
