import { App, HTTPReceiver } from '@slack/bolt';
import type { Server } from 'node:http';
import { type Config, slackMode } from '../config/schema.ts';
import type { Route } from '../http/health.ts';
import { type Logger, toSlackLogger } from '../log/logger.ts';
import { type SlackCallObserver, slackClientOptions } from './client.ts';

export interface SlackAppOptions {
  config: Config;
  logger: Logger;
  /** Extra HTTP routes (health) served beside /slack/events in HTTP mode. */
  routes: Route[];
  /** From auth.test at start, so Bolt need not call it again. */
  identity?: { botId?: string; botUserId: string };
  slackObserver?: SlackCallObserver;
}

export interface SlackApp {
  app: App;
  /** The HTTP server in HTTP mode (null in Socket Mode). */
  start(): Promise<Server | null>;
  stop(): Promise<void>;
}

/** Builds the Bolt app: Socket Mode when SLACK_APP_TOKEN is set, else HTTP with events at /slack/events. */
export function createSlackApp({ config, logger, routes, identity, slackObserver }: SlackAppOptions): SlackApp {
  const log = logger.child({ component: 'bolt' });
  const slackLogger = toSlackLogger(logger);
  const logListenerError = (err: Error): Promise<void> => {
    log.error({ err: err.message }, 'unhandled error in a Slack listener');
    return Promise.resolve();
  };
  const common = {
    token: config.slack.botToken,
    logger: slackLogger,
    clientOptions: slackClientOptions(config.slack.apiUrl, logger, slackObserver),
    tokenVerificationEnabled: false,
    ...(identity?.botId ? { botId: identity.botId } : {}),
    ...(identity ? { botUserId: identity.botUserId } : {}),
  };

  if (slackMode(config) === 'socket') {
    const app = new App({ ...common, appToken: config.slack.appToken, socketMode: true });
    app.error(logListenerError);
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

  const receiver = new HTTPReceiver({
    signingSecret: config.slack.signingSecret ?? '',
    endpoints: '/slack/events',
    customRoutes: routes,
    logger: slackLogger,
  });
  const app = new App({ ...common, receiver });
  app.error(logListenerError);
  return {
    app,
    async start() {
      return receiver.start(config.port);
    },
    async stop() {
      await receiver.stop();
    },
  };
}
