import { App, HTTPReceiver, SocketModeReceiver } from '@slack/bolt';
import type { Server } from 'node:http';
import { type Config, slackMode } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';
import { closeServer, type Route, startRouteServer } from '../http/health.ts';
import { type Logger, toSlackLogger } from '../log/logger.ts';
import { type SlackCallObserver, slackClientOptions } from './client.ts';
import { guardSocketMessages, httpEventErrorHandler, markLogged, slackEventsHandler, socketEventErrorHandler } from './front.ts';
import { isRecord } from './payload-shape.ts';

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
  /** The public HTTP server in HTTP mode (null in Socket Mode). */
  start(): Promise<Server | null>;
  stop(): Promise<void>;
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
    const app = new App({ ...common, receiver });
    app.error(onListenerError);
    return {
      app,
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
  const app = new App({ ...common, receiver });
  app.error(onListenerError);
  const events: Route = {
    path: '/slack/events',
    method: ['POST'],
    handler: slackEventsHandler({ signingSecret, boltListener: receiver.requestListener, logger }),
  };
  let server: Server | undefined;
  return {
    app,
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
