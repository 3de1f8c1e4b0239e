import { App, type AppOptions, HTTPReceiver, type ReceiverEvent, SocketModeReceiver } from '@slack/bolt';
import type { Server } from 'node:http';
import { type Config, slackMode } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';
import { closeServer, type Route, startRouteServer } from '../http/health.ts';
import { type Logger, toSlackLogger } from '../log/logger.ts';
import { type SlackCallObserver, slackClientOptions } from './client.ts';
import { guardSocketMessages, httpEventErrorHandler, markLogged, slackEventsHandler, socketEventErrorHandler } from './front.ts';
import { emptyAnswer, isRecord } from './payload-shape.ts';

export interface SlackAppOptions {
  config: Config;
  logger: Logger;
  /** The public routes (/healthz) served beside /slack/events on PORT in HTTP mode. */
  routes: Route[];
  /** From auth.test at start, so Bolt need not call it again. */
  identity?: { botId?: string; botUserId: string };
  slackObserver?: SlackCallObserver;
}

export interface SlackApp {
  app: App;
  /** HTTP mode: POST /slack/events, for a server that is already running (SlackEventsDoor); null in Socket Mode. */
  events: Route | null;
  /** The public HTTP server in HTTP mode (null in Socket Mode). */
  start(): Promise<Server | null>;
  stop(): Promise<void>;
}

/** What /slack/events answers until Slack has confirmed who the bot is. */
export const EVENTS_NOT_READY = 'Slack not reachable yet: DR ChatOps has not confirmed its token and installation with Slack, so it cannot check who is asking. Nothing was done.';

/**
 * POST /slack/events on a public server that runs from the first moment (so
 * /healthz answers during a Slack outage). Until `open()` hands it the Slack
 * app's route, every request is refused with 503 and reaches nothing: the
 * installation (team, app id, bot user) the guard checks against is not known yet.
 */
export class SlackEventsDoor {
  private inner: Route['handler'] | undefined;
  readonly route: Route = {
    path: '/slack/events',
    method: ['POST'],
    handler: (req, res) => {
      if (this.inner) {
        this.inner(req, res);
        return;
      }
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '10' }).end(JSON.stringify({ error: EVENTS_NOT_READY }));
    },
  };

  open(events: Route): void {
    this.inner = events.handler;
  }
}

/** What kind of request a listener failed on, for the log line (never the body: it holds response URLs). */
function requestKind(body: unknown): Record<string, string> {
  if (!isRecord(body)) return {};
  if (typeof body.command === 'string') return { command: body.command.slice(0, 40) };
  const kind: Record<string, string> = {};
  if (typeof body.type === 'string') kind.type = body.type.slice(0, 40);
  if (isRecord(body.event) && typeof body.event.type === 'string') kind.event = body.event.type.slice(0, 40);
  return kind;
}

/**
 * Bolt's App, answering at once what no listener acknowledged: a view
 * submission or button of a form or message the bot no longer handles, a
 * select menu's options request, a shortcut. Bolt would leave it hanging 3 s
 * and then answer 404 with an error in the log; it gets what Slack expects
 * (see emptyAnswer) and a warning. A listener that failed is not answered
 * here: the receiver's error handler (front.ts) does that.
 */
class AnsweringApp extends App {
  private readonly unanswered: Logger;

  constructor(options: AppOptions, logger: Logger) {
    super(options);
    this.unanswered = logger.child({ component: 'bolt' });
  }

  override async processEvent(event: ReceiverEvent): Promise<void> {
    const seen = { acknowledged: false };
    const ack: ReceiverEvent['ack'] = (response) => {
      seen.acknowledged = true;
      return event.ack(response);
    };
    await super.processEvent({ ...event, ack });
    if (seen.acknowledged) return;
    this.unanswered.warn({ ...requestKind(event.body), ...handlerId(event.body) }, 'no listener answered this request; acknowledged it as Slack expects');
    try {
      await event.ack(emptyAnswer(event.body));
    } catch (err) {
      this.unanswered.warn({ err: errorMessage(err) }, 'could not acknowledge a request no listener answered');
    }
  }
}

/** The callback or action id a request was meant for, for the log line. */
function handlerId(body: unknown): Record<string, string> {
  if (!isRecord(body)) return {};
  const action = Array.isArray(body.actions) && isRecord(body.actions[0]) ? body.actions[0].action_id : undefined;
  const id = action ?? body.action_id ?? (isRecord(body.view) ? body.view.callback_id : undefined) ?? body.callback_id;
  return typeof id === 'string' ? { id: id.slice(0, 80) } : {};
}

/**
 * Builds the Bolt app: Socket Mode when SLACK_APP_TOKEN is set, else HTTP with
 * events at POST /slack/events on PORT. In HTTP mode the server is ours, not
 * Bolt's: src/slack/front.ts checks every request before Bolt's receiver sees it.
 */
export function createSlackApp({ config, logger, routes, identity, slackObserver }: SlackAppOptions): SlackApp {
  const log = logger.child({ component: 'bolt' });
  const slackLogger = toSlackLogger(logger);
  /**
   * Bolt's app.error: every listener and middleware error ends here. Logged, then
   * passed on to the receiver's processEventErrorHandler (front.ts), which can
   * still answer the request: an ephemeral message for a slash command, 500 for
   * anything else, nothing if the listener had already acknowledged it.
   */
  const onListenerError = ({ error, body }: { error: Error; body?: unknown }): Promise<void> => {
    log.error({ err: errorMessage(error), ...requestKind(body) }, 'unhandled error in a Slack listener');
    markLogged(error);
    return Promise.reject(error);
  };
  const common = {
    token: config.slack.botToken,
    logger: slackLogger,
    clientOptions: slackClientOptions(config.slack.apiUrl, logger, slackObserver),
    tokenVerificationEnabled: false,
    extendedErrorHandler: true,
    ...(identity?.botId ? { botId: identity.botId } : {}),
    ...(identity ? { botUserId: identity.botUserId } : {}),
  };

  if (slackMode(config) === 'socket') {
    // Built here rather than by App({ socketMode: true }) to give it our error handler and message guard.
    const receiver = new SocketModeReceiver({
      appToken: config.slack.appToken ?? '',
      logger: slackLogger,
      installerOptions: { clientOptions: common.clientOptions },
      processEventErrorHandler: socketEventErrorHandler(logger),
    });
    guardSocketMessages(receiver.client, logger);
    const app = new AnsweringApp({ ...common, receiver }, logger);
    app.error(onListenerError);
    return {
      app,
      events: null,
      async start() {
        await app.start();
        return null;
      },
      async stop() {
        await app.stop();
      },
    };
  }

  const signingSecret = config.slack.signingSecret ?? '';
  const receiver = new HTTPReceiver({
    signingSecret,
    endpoints: '/slack/events',
    logger: slackLogger,
    processEventErrorHandler: httpEventErrorHandler(logger),
  });
  const app = new AnsweringApp({ ...common, receiver }, logger);
  app.error(onListenerError);
  const events: Route = {
    path: '/slack/events',
    method: ['POST'],
    handler: slackEventsHandler({ signingSecret, boltListener: receiver.requestListener, logger }),
  };
  let server: Server | undefined;
  return {
    app,
    events,
    async start() {
      // Our own server: PORT serves /slack/events and the public routes, nothing else (404).
      server = await startRouteServer(config.port, [events, ...routes]);
      return server;
    },
    async stop() {
      await closeServer(server);
      server = undefined;
    },
  };
}
