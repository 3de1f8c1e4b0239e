/**
 * Sends requests to the bot exactly as Slack does: form-encoded bodies
 * (`payload=<json>` for interactions), signed with the app's signing secret
 * (`v0:<timestamp>:<raw body>`, HMAC-SHA256, hex) in `X-Slack-Signature`.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SIGNING_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

/**
 * `response_url` when a test gives none: loopback, a port nothing listens on
 * (discard), so a reply the bot sends there is refused without leaving the machine.
 */
export const UNUSED_RESPONSE_URL = 'http://127.0.0.1:9/respond';

export interface SlashCommandFields {
  text: string;
  user_id?: string;
  user_name?: string;
  channel_id?: string;
  channel_name?: string;
  command?: string;
  response_url?: string;
  trigger_id?: string;
  team_id?: string;
  api_app_id?: string;
}

export interface SendOptions {
  secret?: string;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  /** Changes the body after it was signed. */
  tamper?: (body: string) => string;
  /** Replaces the computed signature. */
  signature?: string;
  /** `X-Slack-Retry-Num`, as Slack sends on redelivery. */
  retryNum?: number;
  /** Events API bodies are JSON; commands and interactions are form-encoded. */
  contentType?: string;
}

export interface SlackResponse {
  status: number;
  text: string;
  json: Record<string, unknown> | undefined;
  elapsedMs: number;
}

export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export function triggerId(): string {
  return `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomBytes(12).toString('hex')}`;
}

export function slashCommandBody(fields: SlashCommandFields): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: fields.team_id ?? 'T0FAKE0001',
    team_domain: 'acme',
    channel_id: fields.channel_id ?? 'C0INCIDENT1',
    channel_name: fields.channel_name ?? 'inc-api-down',
    user_id: fields.user_id ?? 'U0ALICE001',
    user_name: fields.user_name ?? 'alice',
    command: fields.command ?? '/dr',
    text: fields.text,
    api_app_id: fields.api_app_id ?? 'A0DRCHATOP',
    is_enterprise_install: 'false',
    response_url: fields.response_url ?? `${UNUSED_RESPONSE_URL}/commands/T0FAKE0001/1/unused`,
    trigger_id: fields.trigger_id ?? triggerId(),
  }).toString();
}

export async function sendSigned(url: string, body: string, options: SendOptions = {}): Promise<SlackResponse> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = options.signature ?? sign(options.secret ?? SIGNING_SECRET, timestamp, body);
  const sent = options.tamper ? options.tamper(body) : body;
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': signature,
  };
  if (options.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(options.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers, body: sent });
  const text = await res.text();
  const elapsedMs = performance.now() - started;
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, elapsedMs };
}

export async function sendSlashCommand(
  baseUrl: string,
  fields: SlashCommandFields,
  options: SendOptions = {},
): Promise<SlackResponse> {
  return sendSigned(`${baseUrl}/slack/events`, slashCommandBody(fields), options);
}

export interface BlockActionFields {
  actionId: string;
  value?: string;
  userId?: string;
  channelId?: string;
  messageTs?: string;
  responseUrl?: string;
}

/** An interaction (button click): form-encoded with one field, `payload=<JSON>`, as Slack sends it. */
export function blockActionBody(fields: BlockActionFields): string {
  const payload = {
    type: 'block_actions',
    user: { id: fields.userId ?? 'U0BOB00001', username: 'bob', team_id: 'T0FAKE0001' },
    api_app_id: 'A0DRCHATOP',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: fields.messageTs ?? '1764000000.000100', channel_id: fields.channelId ?? 'C0INCIDENT1', is_ephemeral: false },
    trigger_id: triggerId(),
    team: { id: 'T0FAKE0001', domain: 'acme' },
    channel: { id: fields.channelId ?? 'C0INCIDENT1', name: 'inc-api-down' },
    message: { type: 'message', ts: fields.messageTs ?? '1764000000.000100', text: 'plan', blocks: [] },
    response_url: fields.responseUrl ?? `${UNUSED_RESPONSE_URL}/actions/T0FAKE0001/1/unused`,
    actions: [
      {
        type: 'button',
        block_id: 'actions',
        action_id: fields.actionId,
        text: { type: 'plain_text', text: 'Approve' },
        ...(fields.value !== undefined ? { value: fields.value } : {}),
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export async function sendBlockAction(baseUrl: string, fields: BlockActionFields, options: SendOptions = {}): Promise<SlackResponse> {
  return sendSigned(`${baseUrl}/slack/events`, blockActionBody(fields), options);
}

/** An Events API delivery (JSON), e.g. app_home_opened. */
export async function sendEvent(baseUrl: string, event: Record<string, unknown>, options: SendOptions = {}): Promise<SlackResponse> {
  const body = JSON.stringify({
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE0001',
    api_app_id: 'A0DRCHATOP',
    event,
    type: 'event_callback',
    event_id: `Ev${Date.now()}`,
    event_time: Math.floor(Date.now() / 1000),
  });
  return sendSigned(`${baseUrl}/slack/events`, body, { contentType: 'application/json', ...options });
}

export interface ViewSubmissionFields {
  /** The view as the bot opened it (callback_id, private_metadata, blocks). */
  view: Record<string, unknown>;
  viewId: string;
  /** What the user entered: `state.values`, block id → { value: element state }. */
  values: Record<string, { value: Record<string, unknown> }>;
  userId?: string;
}

/** A modal's submission, as Slack sends it: form-encoded `payload=<JSON>` of type view_submission. */
export function viewSubmissionBody(fields: ViewSubmissionFields): string {
  const payload = {
    type: 'view_submission',
    team: { id: 'T0FAKE0001', domain: 'acme' },
    user: { id: fields.userId ?? 'U0ALICE001', username: 'alice', team_id: 'T0FAKE0001' },
    api_app_id: 'A0DRCHATOP',
    token: 'deprecated-verification-token',
    trigger_id: triggerId(),
    view: {
      ...fields.view,
      id: fields.viewId,
      team_id: 'T0FAKE0001',
      app_id: 'A0DRCHATOP',
      bot_id: 'B0DRBOT001',
      hash: `${Date.now()}.abcd1234`,
      state: { values: fields.values },
    },
    response_urls: [],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export async function sendViewSubmission(baseUrl: string, fields: ViewSubmissionFields, options: SendOptions = {}): Promise<SlackResponse> {
  return sendSigned(`${baseUrl}/slack/events`, viewSubmissionBody(fields), options);
}
