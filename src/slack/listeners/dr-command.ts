import type { App, RespondArguments } from '@slack/bolt';
import { isUserError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { BotTaskProducer } from '../../queue/producer.ts';
import { withTimeout } from '../../queue/connection.ts';
import type { RunStore } from '../../runs/store.ts';
import { renderAudit } from '../views/audit.ts';
import { parseDrCommand } from '../grammar.ts';
import { renderHelp } from '../views/help.ts';
import type { SlackMessage } from '../views/message.ts';

export interface DrCommandDeps {
  slash: string;
  producer: BotTaskProducer;
  store: RunStore;
  logger: Logger;
}

/** Reads before the ack must leave room inside Slack's 3-second window. */
const READ_TIMEOUT_MS = 1_500;

/**
 * `/dr …`: parse, then ack within Slack's 3-second window. Errors and help are
 * the ephemeral ack itself; work is queued before the ack says so, and nothing
 * is queued when the input is bad.
 */
export function registerDrCommand(app: App, { slash, producer, store, logger }: DrCommandDeps): void {
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
      case 'audit': {
        const found = await withTimeout(Promise.all([store.get(parsed.runId), store.audit(parsed.runId)]), READ_TIMEOUT_MS, 'Reading the audit log').catch(
          (err: unknown) => {
            log.error({ err: err instanceof Error ? err.message : String(err) }, 'audit read failed');
            return 'unreachable' as const;
          },
        );
        if (found === 'unreachable') {
          await ack(ephemeral({ text: ':x: Run state (Redis) is not reachable right now. Try again in a moment.' }));
        } else if (!found[0]) {
          await ack(ephemeral({ text: `:warning: There is no run \`${parsed.runId}\`. The run id is on the run's message, e.g. r7k2m9x4.` }));
        } else {
          await ack(ephemeral(renderAudit(found[0], found[1])));
        }
        return;
      }
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
