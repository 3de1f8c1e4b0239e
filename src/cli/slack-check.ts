/**
 * Whether Slack still lets the operator at the terminal act. The operator map
 * (DR_CLI_OPERATORS) says which Slack user a key belongs to; Slack says whether
 * that user is still an active full member of the installation, by the same
 * rule the bot's guard applies (actorRefusal). The CLI exists for when Slack is
 * down, so a Slack that does not answer does not stop it: the command goes on,
 * and stderr and the audit say the check could not be made (docs/security.md,
 * "The CLI"). Uses the Web API client only, not Bolt.
 */
import { ErrorCode, WebClient } from '@slack/web-api';
import { actorRefusal, type Installation } from '../access/actor.ts';
import type { Logger } from '../log/logger.ts';
import type { Actor } from '../runs/model.ts';
import { rejectsToken, slackError } from '../slack/auth-monitor.ts';
import { slackClientOptions } from '../slack/client.ts';
import { SlackDirectory } from '../slack/directory.ts';
import { OPERATORS_ENV } from './operators.ts';

/** The operator a command acts as, once Slack has been asked about them (or could not be). */
export interface CheckedOperator {
  actor: Actor;
  /** Why Slack could not be asked about this operator (said on stderr and recorded in the audit); undefined when Slack confirmed them. */
  unchecked?: string;
  /**
   * The operator's user groups among `handles`, as Slack says now
   * (SlackDirectory.groupsOf, which refuses when Slack stops answering: nothing
   * is granted on doubt). Undefined when Slack could not be asked about the
   * operator: the run service then refuses what only a group would grant,
   * saying why (src/runs/admission.ts, Identity.groups).
   */
  groupsOf(handles: readonly string[]): Promise<readonly string[] | undefined>;
}

/** The audit action the CLI records after an action Slack could not confirm the operator for. */
export const UNCHECKED_ACTION = 'not checked with Slack';

/** Slack's own trouble: it answered, but not about the user. Treated like no answer. */
const SLACK_SIDE = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

export type SlackVerdict =
  | { kind: 'confirmed'; groupsOf: (handles: readonly string[]) => Promise<string[]> }
  | { kind: 'refused'; message: string }
  | { kind: 'unasked'; reason: string };

export interface SlackCheckOptions {
  /** SLACK_BOT_TOKEN; unset: Slack is not asked. */
  token: string | undefined;
  apiUrl: string;
  /** SLACK_ALLOWED_TEAMS, as the bot's guard reads it. */
  allowedTeams: readonly string[];
  logger: Logger;
}

/**
 * Asks Slack (auth.test for the installation, users.info for the user) whether
 * `slackUserId` may act. One short try per call (SLACK_PROBE_TIMEOUT_MS, no
 * retries, a 429 is not waited out).
 *
 * - Slack does not answer (no token, network error, timeout, HTTP 5xx or any
 *   other non-200, 429, or Slack's own errors such as `internal_error`): `unasked`.
 * - Slack rejects the token (`invalid_auth`, `token_revoked`, …) or it lacks a
 *   scope (`missing_scope`): `unasked` too, with that reason. Slack as a source is
 *   unusable, and refusing would add nothing: whoever runs the CLI controls its
 *   environment and could unset the token.
 * - Slack answers about the user: `refused` when it does not know them
 *   (`user_not_found`, or any other error about the lookup) or when the guard's
 *   rule refuses them (deactivated, a bot, a guest, another organisation).
 */
export async function askSlack(slackUserId: string, options: SlackCheckOptions): Promise<SlackVerdict> {
  if (!options.token) return { kind: 'unasked', reason: 'no SLACK_BOT_TOKEN is set' };
  const client = new WebClient(options.token, { ...slackClientOptions(options.apiUrl, options.logger, undefined, 'probe'), rejectRateLimitedCalls: true });
  let installation: Installation;
  try {
    const auth = await client.auth.test();
    installation = { teamId: auth.team_id ?? '', allowedTeams: options.allowedTeams, ...(auth.enterprise_id ? { enterpriseId: auth.enterprise_id } : {}) };
  } catch (err) {
    // Nothing about the user yet: any failure of auth.test means Slack cannot be used as a source.
    return { kind: 'unasked', reason: noAnswer(err) ?? `auth.test answered ${slackError(err)}` };
  }
  const directory = new SlackDirectory(client);
  let refusal: string | undefined;
  try {
    refusal = actorRefusal(await directory.user(slackUserId), installation);
  } catch (err) {
    const reason = noAnswer(err);
    if (reason) return { kind: 'unasked', reason };
    const code = slackError(err);
    return {
      kind: 'refused',
      message: `Slack does not know the Slack user ${slackUserId} that ${OPERATORS_ENV} maps this key to (${code}): the account is gone or the entry names the wrong id. Nothing was done.`,
    };
  }
  if (refusal) return { kind: 'refused', message: `Slack says the Slack user ${slackUserId} may not act: ${refusal}` };
  return {
    kind: 'confirmed',
    groupsOf: (handles) => directory.groupsOf(slackUserId, handles),
  };
}

/** Why Slack gave no usable answer, or undefined when it answered (about the user, or refusing it). */
function noAnswer(err: unknown): string | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; data?: { error?: unknown } };
  if (e.code === ErrorCode.RequestError) return `no answer: ${slackError(err)}`;
  if (e.code === ErrorCode.HTTPError) return `HTTP ${String(e.statusCode)}`;
  if (e.code === ErrorCode.RateLimitedError) return 'rate limited';
  if (e.code === ErrorCode.PlatformError && typeof e.data?.error === 'string') {
    const error = e.data.error;
    if (SLACK_SIDE.has(error)) return `Slack answered ${error}`;
    if (rejectsToken(error) || error === 'missing_scope') return `Slack rejected SLACK_BOT_TOKEN (${error}): replace it`;
    return undefined;
  }
  // Not an error of the Web API client (an answer of the wrong shape, say): not an answer about the user.
  return `unexpected answer: ${err instanceof Error ? err.message.slice(0, 120) : 'unknown'}`;
}
