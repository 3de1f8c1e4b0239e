/**
 * The bot's Slack side comes up in the background: the process starts, serves
 * /healthz at once and /readyz (not ready, "Slack not reachable yet") while
 * Slack does not answer; the Bolt app is built and let in front of requests
 * only once auth.test has named the installation (team, app, bot user) that
 * the guard (src/slack/guard.ts, src/access/actor.ts) checks every request against.
 */
import type { Logger } from '../log/logger.ts';
import { errorMessage } from '../errors.ts';
import type { SlackAuthMonitor } from './auth-monitor.ts';
import type { SlackApp, SlackEventsDoor } from './app.ts';

/**
 * How long the bot's start() waits for Slack's first answer before it returns
 * without it (the check goes on in the background). Probes are served before
 * this wait; workers do not wait at all.
 */
export const SLACK_FIRST_ANSWER_WAIT_MS = 1_500;

/** What auth.test said about the bot itself, handed to Bolt so that it never calls auth.test on its own. */
export interface BotIdentity {
  botUserId: string;
  botId?: string;
}

export interface SlackFrontOptions {
  auth: SlackAuthMonitor;
  /** HTTP mode: the public server's /slack/events, opened once the app exists. Absent in Socket Mode. */
  door: SlackEventsDoor | undefined;
  /** Builds the Bolt app with its guard and listeners, for this identity. */
  build: (identity: BotIdentity) => SlackApp;
  logger: Logger;
}

export class SlackFront {
  private app: SlackApp | undefined;
  private stopped = false;
  private readonly o: SlackFrontOptions;

  constructor(options: SlackFrontOptions) {
    this.o = options;
  }

  /** Returns at once; the app is built when Slack first confirms the token (at once if it already has). */
  start(): void {
    this.o.auth.onFirstConfirmed((state) => {
      if (this.stopped) return;
      const app = this.o.build({ botUserId: state.botUserId, ...(state.botId ? { botId: state.botId } : {}) });
      this.app = app;
      if (app.events && this.o.door) {
        this.o.door.open(app.events);
        this.o.logger.info('slack confirmed the token: taking Slack requests');
        return;
      }
      // Socket Mode: the client retries a connection Slack does not answer by itself, with growing delays.
      app.start().then(
        () => { this.o.logger.info('slack confirmed the token: Socket Mode connected, taking Slack requests'); },
        (err: unknown) => { this.o.logger.error({ err: errorMessage(err) }, 'Socket Mode could not connect: no Slack requests until it does (check SLACK_APP_TOKEN)'); },
      );
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.app?.stop().catch(() => undefined);
  }
}
