import type { App, RespondArguments } from '@slack/bolt';
import { isUserError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { BotTaskProducer } from '../../queue/producer.ts';
import { parseDrCommand } from '../grammar.ts';
import { renderHelp } from '../views/help.ts';
import type { SlackMessage } from '../views/message.ts';

export interface DrCommandDeps {
  slash: string;
  producer: BotTaskProducer;
  logger: Logger;
}

/**
 * `/dr …`: parse, then ack within Slack's 3-second window. Errors and help are
 * the ephemeral ack itself; work is queued before the ack says so, and nothing
 * is queued when the input is bad.
 */
export function registerDrCommand(app: App, { slash, producer, logger }: DrCommandDeps): void {
  app.command(slash, async ({ command, ack }) => {
    const log = logger.child({ user: command.user_id, channel: command.channel_id });
    let parsed;
    try {
      parsed = parseDrCommand(command.text, slash);
    } catch (err) {
      if (!isUserError(err)) throw err;
      log.info({ outcome: 'rejected', reason: err.message }, 'command rejected');
      await ack(ephemeral({ text: `:warning: ${err.message}` }));
      return;
    }

    switch (parsed.name) {
      case 'help':
        await ack(ephemeral(renderHelp(slash, parsed.topic)));
        return;
      case 'ping': {
        const dedupeKey = command.trigger_id || `${command.channel_id}-${command.user_id}-${Date.now()}`;
        try {
          const jobId = await producer.enqueuePing(
            {
              channelId: command.channel_id,
              userId: command.user_id,
              requestedAt: Date.now(),
              ...(command.response_url ? { responseUrl: command.response_url } : {}),
            },
            dedupeKey,
          );
          log.info({ command: 'ping', jobId, outcome: 'queued' }, 'command queued');
          await ack(ephemeral({ text: ':satellite_antenna: Ping queued. A worker will answer in this channel.' }));
        } catch (err) {
          log.error({ command: 'ping', err: err instanceof Error ? err.message : String(err) }, 'could not queue');
          await ack(
            ephemeral({
              text: ':x: The job queue (Redis) is not reachable right now, so nothing was queued. Try again in a moment; if it persists, check the bot\'s /readyz.',
            }),
          );
        }
        return;
      }
    }
  });
}

function ephemeral(message: SlackMessage): RespondArguments {
  return { response_type: 'ephemeral', ...message };
}
