import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { QUEUE_NAMES } from '../queue/names.ts';
import type { WorkerHandle } from '../queue/worker.ts';
import { closeWorker } from '../queue/worker.ts';
import { type StatuspageClient, StatuspageError } from './client.ts';

export const PageUpdateSchema = z.object({
  seq: z.number().int(),
  kind: z.enum(['create', 'update']),
  name: z.string(),
  status: z.enum(['investigating', 'identified', 'monitoring', 'resolved']),
  body: z.string(),
  components: z.record(z.string(), z.enum(['operational', 'degraded_performance', 'partial_outage', 'major_outage'])),
});
export type PageUpdate = z.infer<typeof PageUpdateSchema>;

const JobSchema = z.object({ incidentId: z.string().min(1) });

/**
 * Status page updates go through an outbox: a Redis list per incident, in
 * order. A delivery job drains it head first, under a per-incident lock, and
 * removes an update only once Statuspage accepted it, so updates arrive in
 * order, and retries (with backoff) never skip or reorder. Recovery never
 * waits on Statuspage: only this queue does.
 */
export class StatuspageOutbox {
  readonly queue: Queue;
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string, logger: Logger, retryBaseMs = 2_000) {
    this.redis = redis;
    this.prefix = prefix;
    this.queue = new Queue(QUEUE_NAMES.statuspage, {
      connection: redis,
      prefix,
      // Exponential from retryBaseMs: 20 attempts outlast any Statuspage outage worth waiting for.
      defaultJobOptions: { attempts: 20, backoff: { type: 'exponential', delay: retryBaseMs, jitter: 0.3 }, removeOnComplete: { age: 3_600 }, removeOnFail: { age: 7 * 24 * 3_600 } },
    });
    this.queue.on('error', (err) => {
      logger.debug({ err: err.message }, 'statuspage queue connection error');
    });
  }

  listKey(incidentId: string): string {
    return `${this.prefix}:statuspage-outbox:${incidentId}`;
  }

  async enqueue(incidentId: string, update: Omit<PageUpdate, 'seq'>): Promise<void> {
    const seq = await this.redis.incr(`${this.listKey(incidentId)}:seq`);
    await this.redis.rpush(this.listKey(incidentId), JSON.stringify({ ...update, seq }));
    await this.queue.add('deliver', { incidentId }, { jobId: `sp-${incidentId}-${String(seq)}` });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface DeliveryOptions {
  connection: Redis;
  redis: Redis;
  prefix: string;
  outbox: StatuspageOutbox;
  client: StatuspageClient | undefined;
  logger: Logger;
  /** Tell the incident channel when Statuspage has been failing this long. */
  warnAfterMs?: number;
  onWarning: (incidentId: string, text: string) => Promise<void>;
  /** Told each time a delivery failed and will be tried again (metrics). */
  onRetry?: () => void;
}

export function startStatuspageWorker(o: DeliveryOptions): WorkerHandle {
  const log = o.logger.child({ component: 'statuspage' });
  const warnAfterMs = o.warnAfterMs ?? 3 * 60_000;
  const processor = async (job: Job, token?: string): Promise<unknown> => {
    const { incidentId } = JobSchema.parse(job.data);
    const lockKey = `${o.outbox.listKey(incidentId)}:lock`;
    const lock = randomUUID();
    if ((await o.redis.set(lockKey, lock, 'PX', 60_000, 'NX')) !== 'OK') {
      // Another delivery for this incident is draining the list: it will take this update too.
      await job.moveToDelayed(Date.now() + 500, token);
      throw new DelayedError();
    }
    const failingKey = `${o.outbox.listKey(incidentId)}:failing-since`;
    try {
      let delivered = 0;
      for (;;) {
        const head = await o.redis.lindex(o.outbox.listKey(incidentId), 0);
        if (!head) break;
        const update = PageUpdateSchema.parse(JSON.parse(head));
        if (!o.client) {
          log.info({ incidentId, seq: update.seq }, 'Statuspage is not configured; dropping the update');
        } else {
          try {
            await deliver(o.client, o.redis, o.outbox.listKey(incidentId), incidentId, update);
          } catch (err) {
            if (!(err instanceof StatuspageError) || err.retryable) throw err;
            // Refused for good (bad key, page or component id): retrying cannot help, and it would hold back every later update.
            log.error({ incidentId, seq: update.seq, err: err.message }, 'Statuspage refused the update; skipping it');
            await o.onWarning(incidentId, `:warning: The status page refused an update (${err.message.slice(0, 200)}); it was skipped and later updates go on. Check STATUSPAGE_API_KEY, STATUSPAGE_PAGE_ID and STATUSPAGE_COMPONENTS, and update the page by hand.`);
          }
        }
        await o.redis.lpop(o.outbox.listKey(incidentId));
        delivered += 1;
      }
      const wasFailing = await o.redis.getdel(failingKey);
      if (wasFailing && (await o.redis.del(`${failingKey}:warned`)) === 1) {
        await o.onWarning(incidentId, `:white_check_mark: Statuspage is reachable again; the ${delivered} pending update${delivered === 1 ? '' : 's'} went out in order.`);
      }
      return { delivered };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await o.redis.set(failingKey, String(Date.now()), 'NX');
      const since = Number(await o.redis.get(failingKey));
      if (Date.now() - since >= warnAfterMs && (await o.redis.set(`${failingKey}:warned`, '1', 'NX')) === 'OK') {
        await o.onWarning(
          incidentId,
          `:warning: The status page has not accepted updates for ${Math.round((Date.now() - since) / 60_000)} min (${message.slice(0, 200)}). They are queued and will go out in order; recovery is not affected. Update the page by hand if customers need news now.`,
        );
      }
      log.warn({ incidentId, attempt: job.attemptsMade + 1, err: message }, 'Statuspage delivery failed; will retry');
      o.onRetry?.();
      if (err instanceof StatuspageError && err.retryAfterMs !== undefined) {
        // Rate limited: come back when Statuspage says, without using up an attempt.
        await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
        throw new DelayedError();
      }
      throw err;
    } finally {
      // Release only our own lock.
      if ((await o.redis.get(lockKey)) === lock) await o.redis.del(lockKey);
    }
  };
  const worker = new Worker(QUEUE_NAMES.statuspage, processor, { connection: o.connection, prefix: o.prefix, concurrency: 4 });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'statuspage worker error');
  });
  return { worker, close: (timeoutMs) => closeWorker(worker, timeoutMs, log) };
}

/**
 * Sends one update, idempotently: a create first looks for the page incident
 * an interrupted earlier attempt made (by our key in its metadata); an update
 * whose status and body are already the page's latest is not sent again.
 */
async function deliver(client: StatuspageClient, redis: Redis, listKey: string, incidentId: string, update: PageUpdate): Promise<void> {
  const idKey = `${listKey}:page-incident`;
  let pageId = await redis.get(idKey);
  if (update.kind === 'create' || !pageId) {
    const existing = pageId ? undefined : await client.findByKey(incidentId);
    if (existing) pageId = existing.id;
    if (!pageId) pageId = await client.createIncident({ name: update.name, status: update.status, body: update.body, components: update.components, key: incidentId });
    await redis.set(idKey, pageId);
    if (update.kind === 'create') return;
  }
  const current = await client.findByKey(incidentId);
  if (current?.lastStatus === update.status && current.lastBody === update.body) return;
  await client.updateIncident(pageId, { status: update.status, body: update.body, components: update.components });
}
