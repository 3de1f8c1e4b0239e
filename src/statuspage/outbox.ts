import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { RedisConnection } from '../queue/connection.ts';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { QUEUE_NAMES } from '../queue/names.ts';
import type { WorkerHandle } from '../queue/worker.ts';
import { closeWorker } from '../queue/worker.ts';
import { PUBLIC_BODY_LIMIT, publicText } from '../util/text.ts';
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
 * order, and retries (with backoff) never reorder. Unsent updates with a
 * later one behind them are folded into it (`coalesceHead`), and the page is
 * written at most once per `minIntervalMs`, so a burst of changes reaches
 * subscribers as its newest state. An incident's
 * list can be held (`hold`/`release`) until its first post is confirmed.
 * Recovery never waits on Statuspage: only this queue does.
 */
export class StatuspageOutbox {
  readonly queue: Queue;
  private readonly redis: RedisConnection;
  private readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string, logger: Logger, retryBaseMs = 2_000) {
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

  /**
   * Queues an update. This is the gate every public text passes (declare,
   * status changes, runs' status text, resolution): name and body are cleaned
   * by `publicText` before they are stored, whatever the caller did.
   */
  async enqueue(incidentId: string, update: Omit<PageUpdate, 'seq'>): Promise<void> {
    const seq = await this.redis.incr(`${this.listKey(incidentId)}:seq`);
    await this.redis.rpush(this.listKey(incidentId), JSON.stringify({ ...cleanUpdate(update), seq }));
    await this.queue.add('deliver', { incidentId }, { jobId: `sp-${incidentId}-${String(seq)}` });
  }

  /**
   * Holds the incident's updates: they queue, in order, and nothing is sent
   * until `release`. Set before the first update is queued (a public
   * incident's creation waits for a publisher's confirmation).
   */
  async hold(incidentId: string): Promise<void> {
    await this.redis.set(this.heldKey(incidentId), String(Date.now()));
  }

  /**
   * Lets the held updates go, in order: the creation first, then the later
   * ones (coalesced, see the delivery worker). Safe to call again: a second
   * call finds nothing held and only starts a drain that sends nothing twice.
   */
  async release(incidentId: string): Promise<boolean> {
    const released = (await this.redis.del(this.heldKey(incidentId))) === 1;
    // Always drain: a release interrupted after the delete is finished by the next call.
    await this.queue.add('deliver', { incidentId }, { jobId: `sp-${incidentId}-release-${String(Date.now())}` });
    return released;
  }

  async isHeld(incidentId: string): Promise<boolean> {
    return (await this.redis.exists(this.heldKey(incidentId))) === 1;
  }

  /** The updates not sent yet, oldest first, as they will go out (already cleaned). */
  async pending(incidentId: string): Promise<PageUpdate[]> {
    return (await this.redis.lrange(this.listKey(incidentId), 0, -1)).map((u) => PageUpdateSchema.parse(JSON.parse(u)));
  }

  heldKey(incidentId: string): string {
    return `${this.listKey(incidentId)}:held`;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * Bursts: when the update at the head of the list (not sent yet) has a later
 * update queued behind it, only the later one is sent. The head is dropped
 * and its component statuses the later one does not set are carried over, so
 * the page ends in the same state; what goes out is still in order (never an
 * older state after a newer one), and the creation is never folded. Only the
 * holder of the incident's delivery lock calls this: `enqueue` only appends,
 * so positions from the head are stable.
 */
export async function coalesceHead(redis: RedisConnection, listKey: string): Promise<number> {
  let dropped = 0;
  for (;;) {
    const [a, b] = await redis.lrange(listKey, 0, 1);
    if (!a || !b) return dropped;
    const older = PageUpdateSchema.parse(JSON.parse(a));
    const newer = PageUpdateSchema.parse(JSON.parse(b));
    if (older.kind !== 'update' || newer.kind !== 'update') return dropped;
    const merged: PageUpdate = { ...newer, components: { ...older.components, ...newer.components } };
    // Write the merged update before dropping the older one: a crash in between leaves both, and folding again is the same.
    await redis.lset(listKey, 1, JSON.stringify(merged));
    await redis.lpop(listKey);
    dropped += 1;
  }
}

export interface DeliveryOptions {
  connection: RedisConnection;
  redis: RedisConnection;
  prefix: string;
  outbox: StatuspageOutbox;
  client: StatuspageClient | undefined;
  logger: Logger;
  /** Tell the incident channel when Statuspage has been failing this long. */
  warnAfterMs?: number;
  /** Tells the incident channel; `key` names this one warning, so a retried job does not post it twice. */
  onWarning: (incidentId: string, key: string, text: string) => Promise<void>;
  /** Told each time a delivery failed and will be tried again (metrics). */
  onRetry?: () => void;
  /**
   * At most one write per incident in this long (STATUSPAGE_MIN_INTERVAL_MS):
   * each write notifies the page's subscribers. Updates queued meanwhile wait
   * and go out as one, the newest state.
   */
  minIntervalMs?: number;
}

export function startStatuspageWorker(o: DeliveryOptions): WorkerHandle {
  const log = o.logger.child({ component: 'statuspage' });
  const warnAfterMs = o.warnAfterMs ?? 3 * 60_000;
  const minIntervalMs = o.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
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
    const lastWriteKey = `${o.outbox.listKey(incidentId)}:last-write`;
    const warnedKey = `${failingKey}:warned`;
    try {
      // Held (a public incident whose first post awaits a publisher): nothing goes out; `release` drains it later.
      if (await o.outbox.isHeld(incidentId)) return { held: true };
      let delivered = 0;
      for (;;) {
        const coalesced = await coalesceHead(o.redis, o.outbox.listKey(incidentId));
        if (coalesced) log.info({ incidentId, coalesced }, 'later updates were queued behind unsent ones; sending only the newest');
        const head = await o.redis.lindex(o.outbox.listKey(incidentId), 0);
        if (!head) break;
        const update = PageUpdateSchema.parse(JSON.parse(head));
        // Too soon after the last write: come back when the interval is over (the job and the list are in Redis, so a restart keeps both); whatever is queued by then goes out as one.
        const wait = Number((await o.redis.get(lastWriteKey)) ?? 0) + minIntervalMs - Date.now();
        if (o.client && wait > 0) {
          log.debug({ incidentId, waitMs: wait }, 'the page was written moments ago; the next update waits');
          await job.moveToDelayed(Date.now() + wait, token);
          throw new DelayedError();
        }
        if (!o.client) {
          log.info({ incidentId, seq: update.seq }, 'Statuspage is not configured; dropping the update');
        } else {
          try {
            if (await deliver(o.client, o.redis, o.outbox.listKey(incidentId), incidentId, update)) {
              if (minIntervalMs > 0) await o.redis.set(lastWriteKey, String(Date.now()), 'PX', minIntervalMs);
            }
          } catch (err) {
            if (!(err instanceof StatuspageError) || err.retryable) throw err;
            // Refused for good (bad key, page or component id): retrying cannot help, and it would hold back every later update.
            log.error({ incidentId, seq: update.seq, err: err.message }, 'Statuspage refused the update; skipping it');
            await o.onWarning(incidentId, `statuspage-refused:${update.seq}`, `:warning: The status page refused an update (${err.message.slice(0, 200)}); it was skipped and later updates go on. Check STATUSPAGE_API_KEY, STATUSPAGE_PAGE_ID and STATUSPAGE_COMPONENTS, and update the page by hand.`);
          }
        }
        await o.redis.lpop(o.outbox.listKey(incidentId));
        delivered += 1;
      }
      // Told before the failure is forgotten: a crash in between repeats the attempt, and the key keeps it to one message.
      const failingSince = await o.redis.get(failingKey);
      if (failingSince && (await o.redis.exists(warnedKey)) === 1) {
        await o.onWarning(incidentId, `statuspage-back:${failingSince}`, `:white_check_mark: Statuspage is reachable again; the ${delivered} pending update${delivered === 1 ? '' : 's'} went out in order.`);
      }
      if (failingSince) await o.redis.del(failingKey, warnedKey);
      return { delivered };
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      await o.redis.set(failingKey, String(Date.now()), 'NX');
      const since = Number(await o.redis.get(failingKey));
      if (Date.now() - since >= warnAfterMs && (await o.redis.exists(warnedKey)) === 0) {
        await o.onWarning(
          incidentId,
          `statuspage-down:${since}`,
          `:warning: The status page has not accepted updates for ${Math.round((Date.now() - since) / 60_000)} min (${message.slice(0, 200)}). They are queued and will go out in order; recovery is not affected. Update the page by hand if customers need news now.`,
        );
        await o.redis.set(warnedKey, '1');
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
 * Sends one update, idempotently: a create first looks for the page
 * incident an interrupted earlier attempt made (by our key in its metadata);
 * an update whose status, body and component statuses are already the page's
 * latest is not sent again (a change of a component alone is an update).
 * True when the page was written.
 */
async function deliver(client: StatuspageClient, redis: RedisConnection, listKey: string, incidentId: string, queued: PageUpdate): Promise<boolean> {
  // Cleaned again on the way out: an update queued by an older version was stored as it came.
  const update = cleanUpdate(queued);
  const idKey = `${listKey}:page-incident`;
  let pageId = await redis.get(idKey);
  if (update.kind === 'create' || !pageId) {
    const existing = pageId ? undefined : await client.findByKey(incidentId);
    if (existing) pageId = existing.id;
    const created = !pageId;
    if (!pageId) pageId = await client.createIncident({ name: update.name, status: update.status, body: update.body, components: update.components, key: incidentId });
    await redis.set(idKey, pageId);
    if (update.kind === 'create') return created;
  }
  const current = await client.findByKey(incidentId);
  // Already the page's latest (an earlier attempt's answer was lost): same status, same text, and every component as this update sets it.
  const same = current?.lastStatus === update.status && current.lastBody === update.body && Object.entries(update.components).every(([id, status]) => current.components[id] === status);
  if (same) return false;
  await client.updateIncident(pageId, { status: update.status, body: update.body, components: update.components });
  return true;
}

/** STATUSPAGE_MIN_INTERVAL_MS's default: a burst of changes notifies subscribers at most twice a minute. */
export const DEFAULT_MIN_INTERVAL_MS = 30_000;

/** The page incident's name when nothing of the title is left to show (Statuspage needs one). */
export const FALLBACK_NAME = 'Service disruption';

/** An update's public text, cleaned (idempotent: a clean update stays the same). */
export function cleanUpdate<T extends Pick<PageUpdate, 'name' | 'body'>>(update: T): T {
  return { ...update, name: publicText(update.name) || FALLBACK_NAME, body: publicText(update.body, { max: PUBLIC_BODY_LIMIT, multiline: true }) };
}
