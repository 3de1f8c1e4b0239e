/**
 * What a Slack refusal means for the person who asked: the code Slack gave,
 * told as it is (never a guessed cause), and what to do about it. One table,
 * used wherever a Slack error reaches a user.
 */
import { z } from 'zod';

const PlatformError = z.object({ data: z.object({ error: z.string() }) });
const HttpError = z.object({ code: z.literal('slack_webapi_http_error'), statusCode: z.number() });
const RateLimited = z.object({ code: z.literal('slack_webapi_rate_limited_error') });
const RequestError = z.object({ code: z.literal('slack_webapi_request_error') });

/** The error code Slack answered with (`ok:false`), or ours for HTTP failures, rate limits and lost connections. */
export function slackErrorCode(err: unknown): string | undefined {
  const platform = PlatformError.safeParse(err);
  if (platform.success) return platform.data.data.error;
  const http = HttpError.safeParse(err);
  if (http.success) return `http_${String(http.data.statusCode)}`;
  if (RateLimited.safeParse(err).success) return 'ratelimited';
  if (RequestError.safeParse(err).success) return 'request_failed';
  return undefined;
}

interface Explanation {
  /** What happened, in plain words. */
  reason: string;
  /** What the person can do about it. */
  action: string;
}

const EXPLANATIONS: Record<string, Explanation> = {
  channel_not_found: { reason: 'Slack says this channel does not exist for the bot (a private channel it is not in looks the same)', action: 'If this is a private channel, invite the bot with `/invite @DR ChatOps` and ask again.' },
  not_in_channel: { reason: 'the bot is not a member of this channel', action: 'Invite it with `/invite @DR ChatOps` and ask again.' },
  is_archived: { reason: 'this channel is archived', action: 'Ask again in a channel that is not archived.' },
  restricted_action: { reason: 'a workspace setting does not let the bot post here', action: 'Ask a Slack admin, or ask again in another channel.' },
  restricted_action_read_only_channel: { reason: 'this channel is read-only for the bot', action: 'Ask again in another channel.' },
  restricted_action_thread_only_channel: { reason: 'this channel takes posts only in threads', action: 'Ask again in a thread or another channel.' },
  restricted_action_non_threadable_channel: { reason: 'this channel does not take thread replies', action: 'Ask again outside a thread.' },
  ekm_access_denied: { reason: 'the workspace\'s encryption keys refused the message', action: 'Ask a Slack admin.' },
  msg_too_long: { reason: 'the message is longer than Slack accepts', action: 'This is a bug in the bot; report it with the time.' },
  msg_blocks_too_long: { reason: 'the message\'s blocks are larger than Slack accepts', action: 'This is a bug in the bot; report it with the time.' },
  invalid_blocks: { reason: 'Slack refused the message\'s layout', action: 'This is a bug in the bot; report it with the time.' },
  no_text: { reason: 'the message was empty', action: 'This is a bug in the bot; report it with the time.' },
  message_not_found: { reason: 'the message no longer exists (it may have been deleted)', action: 'The bot posts a fresh one where it can.' },
  cant_update_message: { reason: 'Slack does not let the bot change that message', action: 'The bot posts a fresh one where it can.' },
  edit_window_closed: { reason: 'the message is too old to be edited', action: 'The bot posts a fresh one where it can.' },
  ratelimited: { reason: 'Slack is rate-limiting the bot right now', action: 'Try again in a minute.' },
  request_failed: { reason: 'the bot could not reach Slack', action: 'Try again in a moment.' },
  invalid_auth: { reason: 'Slack no longer accepts the bot\'s token', action: 'Tell whoever runs the bot: the app needs reinstalling or a new token.' },
  token_revoked: { reason: 'the bot\'s token was revoked', action: 'Tell whoever runs the bot: the app needs reinstalling.' },
  account_inactive: { reason: 'the bot\'s Slack account is deactivated', action: 'Tell whoever runs the bot: the app needs reinstalling.' },
  missing_scope: { reason: 'the bot lacks a Slack permission it needs', action: 'Tell whoever runs the bot: reinstall the app from deploy/slack-manifest.yaml.' },
  not_authed: { reason: 'the bot sent no token', action: 'Tell whoever runs the bot.' },
};

/** Codes Slack gives for a `chat.update` that will never succeed for this message, however often it is retried. */
export const UPDATE_REFUSED_FOR_GOOD = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed', 'msg_too_long', 'msg_blocks_too_long', 'invalid_blocks', 'channel_not_found', 'not_in_channel', 'is_archived']);

/** Codes that no retry of the same call can change. */
export function isPermanentRefusal(code: string | undefined): boolean {
  return code !== undefined && Object.hasOwn(EXPLANATIONS, code) && !['ratelimited', 'request_failed'].includes(code) && !code.startsWith('http_');
}

/**
 * "Slack refused it: <reason> (`code`). <action>" for a person to read. An
 * unknown code is named as it is, not explained away.
 */
export function explainSlackError(err: unknown): string {
  const code = slackErrorCode(err);
  if (!code) return 'The bot hit an internal error (its logs have the details).';
  if (code.startsWith('http_')) return `Slack answered with an HTTP error (\`${code}\`). Try again in a moment.`;
  const known = Object.hasOwn(EXPLANATIONS, code) ? EXPLANATIONS[code] : undefined;
  if (!known) return `Slack refused it with \`${code}\`. Tell whoever runs the bot if it keeps happening.`;
  return `Slack refused it: ${known.reason} (\`${code}\`). ${known.action}`;
}
