import type { RedisConnection } from '../queue/connection.ts';
import type { Logger } from '../log/logger.ts';
import { type RunEvent, RunEventSchema } from './model.ts';

/**
 * Reads run events with a durable cursor: a Redis consumer group per kind of
 * consumer (Slack notifier, incident timeline, Statuspage). An event is
 * acknowledged only after its handler succeeded, so a consumer that is down or
 * crashes picks up where it stopped; none is lost.
 */
export class RunEventConsumer {
  private stopped = false;
  private readonly redis: RedisConnection;
  private readonly stream: string;
  private readonly group: string;
  private readonly consumer: string;
  private readonly logger: Logger;

  /** `redis` must be a connection of its own: reads block. */
  constructor(redis: RedisConnection, stream: string, group: string, consumer: string, logger: Logger) {
    this.redis = redis;
    this.stream = stream;
    this.group = group;
    this.consumer = consumer;
    this.logger = logger.child({ component: 'events', group });
  }

  /** Creates the group if needed. A new group starts at the stream's beginning (`0`) or only new events (`$`). */
  async ensureGroup(from: '0' | '$' = '0'): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.stream, this.group, from, 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.includes('BUSYGROUP'))) throw err;
    }
  }

  /** Handles events until `stop()`; first any this consumer left unacknowledged, then new ones. */
  async run(handler: (event: RunEvent) => Promise<void>, blockMs = 1_000): Promise<void> {
    await this.ensureGroup();
    let cursor = '0';
    while (!this.stopped) {
      let batch: [string, string[]][];
      try {
        const res = (await this.redis.xreadgroup(
          'GROUP', this.group, this.consumer, 'COUNT', 100, 'BLOCK', blockMs, 'STREAMS', this.stream, cursor,
        )) as [string, [string, string[]][]][] | null;
        batch = res?.[0]?.[1] ?? [];
      } catch (err) {
        if (this.isStopped()) return;
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'reading run events failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      // Pending entries are exhausted once a read from '0' comes back empty.
      if (cursor === '0' && batch.length === 0) {
        cursor = '>';
        continue;
      }
      for (const [id, fields] of batch) {
        const event = RunEventSchema.safeParse(JSON.parse(fields[1] ?? '{}'));
        try {
          if (event.success) await handler(event.data);
          else this.logger.warn({ id }, 'skipping a malformed run event');
          await this.redis.xack(this.stream, this.group, id);
        } catch (err) {
          // Left pending: retried from the pending list on the next pass.
          this.logger.warn({ id, err: err instanceof Error ? err.message : String(err) }, 'run event handler failed; will retry');
          cursor = '0';
          await new Promise((r) => setTimeout(r, 500));
          break;
        }
      }
    }
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    this.stopped = true;
  }
}
