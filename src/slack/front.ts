/**
 * What stands in front of Bolt's receivers, so that no request or WebSocket
 * message can crash the process or leave Slack waiting (src/slack/payload-shape.ts
 * says why each check exists).
 *
 * HTTP: `slackEventsHandler` serves POST /slack/events on our own http.Server and
 * hands a request to `HTTPReceiver.requestListener` only once
 *   1. its `X-Slack-Request-Timestamp`, when present, is a plain integer at most
 *      5 minutes ahead (else 401; the past side stays Bolt's check),
 *   2. Bolt's own `parseAndVerifyHTTPRequest` accepted the signature (else 401,
 *      413 when too large), which also buffers the body where Bolt finds it again,
 *   3. the parsed body is a shape Bolt handles (else 400 and a warning; an
 *      interaction that asks for nothing is acknowledged empty, with a warning).
 * Socket Mode: `guardSocketMessages` sits in front of the Socket Mode client's
 * message handler and drops (acknowledging, so Slack does not redeliver) any
 * envelope whose payload Bolt would trip over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  defaultBodyLimit,
  HTTPModuleFunctions,
  isRawBodyError,
  type ReceiverProcessEventErrorHandlerArgs,
  type SocketModeReceiver,
  type SocketModeReceiverProcessEventErrorHandlerArgs,
} from '@slack/bolt';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { isRecord, nothingAsked, slackBodyProblem, socketEnvelopeProblem, timestampProblem } from './payload-shape.ts';

/** What a slash command's user sees when the bot failed before answering it. */
export const COMMAND_FAILED_TEXT =
  ':warning: Something went wrong inside the bot while handling this command; the error was logged. Check `/dr runs` before trying again.';

/** Errors `app.error` has logged already, so the receiver's error handler does not log them twice. */
const logged = new WeakSet<object>();

export function markLogged(err: unknown): void {
  if (typeof err === 'object' && err !== null) logged.add(err);
}

/** Requests that the front handler saw to be slash commands (they can be answered with a message). */
const commandRequests = new WeakSet<IncomingMessage>();

/**
 * Answers with `status` and no body. `close` when the request's body was left
 * unread (too large): the socket cannot be used again, and a client or a
 * pooling proxy must be told so rather than find it reset.
 */
function end(res: ServerResponse, status: number, close = false): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  res.writeHead(status, { 'cache-control': 'no-store', ...(close ? { connection: 'close' } : {}) }).end();
}

export interface SlackEventsHandlerOptions {
  signingSecret: string;
  /** `HTTPReceiver.requestListener`: Bolt's routing, verification again (cheap), parsing and dispatch. */
  boltListener: (req: IncomingMessage, res: ServerResponse) => void;
  logger: Logger;
  bodyLimit?: number;
  now?: () => number;
}

/** The handler for POST /slack/events. Never throws; every request gets an answer. */
export function slackEventsHandler({ signingSecret, boltListener, logger, bodyLimit = defaultBodyLimit, now = Date.now }: SlackEventsHandlerOptions) {
  const log = logger.child({ component: 'slack-http' });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const timestamp = req.headers['x-slack-request-timestamp'];
    // An absent header is Bolt's to refuse (it lets Slack's unsigned ssl_check through).
    const stamp = timestamp === undefined ? undefined : timestampProblem(timestamp, now());
    if (stamp) {
      log.warn({ problem: `X-Slack-Request-Timestamp ${stamp}` }, 'refused a request to /slack/events');
      end(res, 401);
      return;
    }
    let buffered;
    try {
      buffered = await HTTPModuleFunctions.parseAndVerifyHTTPRequest({ enabled: true, signingSecret, bodyLimit }, req);
    } catch (err) {
      const tooLarge = isRawBodyError(err) && (err.type === 'entity.too.large' || err.statusCode === 413);
      log.warn({ problem: errorMessage(err) }, 'refused a request to /slack/events');
      end(res, tooLarge ? 413 : 401, tooLarge);
      return;
    }
    let body: unknown;
    try {
      body = HTTPModuleFunctions.parseHTTPRequestBody(buffered);
    } catch (err) {
      log.warn({ problem: `malformed body: ${errorMessage(err)}` }, 'refused a signed request to /slack/events');
      end(res, 400);
      return;
    }
    const nothing = nothingAsked(body);
    if (nothing) {
      log.warn({ problem: nothing }, 'acknowledged a signed request to /slack/events that asks for nothing');
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
      return;
    }
    const problem = slackBodyProblem(body);
    if (problem) {
      log.warn({ problem }, 'refused a signed request to /slack/events: not a shape Bolt handles');
      end(res, 400);
      return;
    }
    if (isRecord(body) && typeof body.command === 'string') commandRequests.add(req);
    boltListener(req, res);
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'request to /slack/events failed');
      end(res, 500);
    });
  };
}

function isAuthorizationError(err: unknown): boolean {
  return isRecord(err) && err.code === 'slack_bolt_authorization_error';
}

/**
 * HTTPReceiver's `processEventErrorHandler`: whatever `App.processEvent` threw
 * (a listener error `app.error` passed on, or Bolt's own). Logs it unless
 * `app.error` did, and answers if nothing was sent yet: a slash command gets an
 * ephemeral message, anything else 500 (Slack retries events).
 */
export function httpEventErrorHandler(logger: Logger) {
  const log = logger.child({ component: 'bolt' });
  return ({ error, request, response }: ReceiverProcessEventErrorHandlerArgs): Promise<boolean> => {
    try {
      if (!logged.has(error)) log.error({ err: errorMessage(error) }, 'Bolt failed to process a request');
      if (response.headersSent) return Promise.resolve(false);
      if (isAuthorizationError(error)) end(response, 401);
      else if (commandRequests.has(request)) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response_type: 'ephemeral', text: COMMAND_FAILED_TEXT }));
      } else end(response, 500);
      // true: Bolt marks the request answered and cancels its 3-second timer.
      return Promise.resolve(true);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not answer a request that failed');
      return Promise.resolve(false);
    }
  };
}

/**
 * SocketModeReceiver's `processEventErrorHandler`. Logs unless `app.error` did;
 * a slash command is acknowledged with an ephemeral message, anything else is
 * left unacknowledged (Slack redelivers it, as it retries a 500 in HTTP mode).
 * It acknowledges by itself and returns false: Bolt's own ack on `true` is
 * awaited outside any try block, so a dropped connection there would be an
 * unhandled rejection.
 */
export function socketEventErrorHandler(logger: Logger) {
  const log = logger.child({ component: 'bolt' });
  return async ({ error, event }: SocketModeReceiverProcessEventErrorHandlerArgs): Promise<boolean> => {
    if (!logged.has(error)) log.error({ err: errorMessage(error) }, 'Bolt failed to process a Socket Mode envelope');
    const body: unknown = event.body;
    const answer = isAuthorizationError(error) ? {} : isRecord(body) && typeof body.command === 'string' ? { response_type: 'ephemeral', text: COMMAND_FAILED_TEXT } : undefined;
    if (answer) {
      try {
        await event.ack(answer);
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'could not acknowledge a Socket Mode envelope that failed');
      }
    }
    return false;
  };
}

type SocketModeClient = SocketModeReceiver['client'];
type MessageListener = (data: unknown, isBinary: boolean) => unknown;

function decode(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data) && data.every((d) => Buffer.isBuffer(d))) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return undefined;
}

/**
 * Puts a check in front of the Socket Mode client's WebSocket message handler
 * (`ws_message`, which reads `event.type` and `event.payload.event.type` of any
 * JSON it gets). A message it refuses is logged and, when it has an envelope id,
 * acknowledged with an empty payload so Slack does not send it again. The
 * client's handler is async and its rejections would be unhandled: they are
 * caught and logged here too.
 */
export function guardSocketMessages(client: SocketModeClient, logger: Logger): void {
  const log = logger.child({ component: 'socket-mode' });
  const originals = client.listeners('ws_message') as MessageListener[];
  client.removeAllListeners('ws_message');
  client.on('ws_message', (data: unknown, isBinary: boolean) => {
    const text = isBinary ? undefined : decode(data);
    if (text !== undefined) {
      let message: unknown;
      let parsed = true;
      try {
        message = JSON.parse(text);
      } catch {
        // Not JSON: the client ignores it (and logs it at debug).
        parsed = false;
      }
      const problem = parsed ? socketEnvelopeProblem(message) : undefined;
      if (problem) {
        const envelopeId = isRecord(message) && typeof message.envelope_id === 'string' ? message.envelope_id : undefined;
        log.warn({ problem, envelopeId, type: isRecord(message) ? String(message.type).slice(0, 40) : undefined }, 'dropped a Socket Mode message: not a shape Bolt handles');
        if (envelopeId) {
          // `send` is what the client's own ack calls; private in the typings, public at run time.
          const { send } = client as unknown as { send: (id: string, body: Record<string, never>) => Promise<void> };
          send.call(client, envelopeId, {}).catch((err: unknown) => {
            log.warn({ err: errorMessage(err) }, 'could not acknowledge a dropped Socket Mode envelope');
          });
        }
        return;
      }
    }
    for (const listener of originals) {
      try {
        const result = listener.call(client, data, isBinary);
        if (result instanceof Promise) {
          result.catch((err: unknown) => {
            log.error({ err: errorMessage(err) }, 'the Socket Mode client failed on a message');
          });
        }
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'the Socket Mode client failed on a message');
      }
    }
  });
}
