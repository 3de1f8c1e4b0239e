import type { RedisConnection } from '../queue/connection.ts';
import { type LastFire, LastFireSchema, type Schedule, type ScheduleDoc, ScheduleDocSchema } from './model.ts';

/**
 * Schedules in Redis, every key under `<prefix>:` (one slot on Redis Cluster
 * when the prefix holds a hash tag such as `{dr}`):
 *   <prefix>:schedule:<id>       hash: doc (JSON), paused ('1'/'0'), last (JSON)
 *   <prefix>:schedules           sorted set of ids by creation time
 *   <prefix>:schedule-fire:<job> the run id a fire (BullMQ job) created or will create
 */

const CREATE = `
-- KEYS[1] schedule hash  KEYS[2] index  ARGV[1] doc JSON  ARGV[2] paused  ARGV[3] created at  ARGV[4] id
-- Returns 1, or 0 when the id is taken (nothing written)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'paused', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`;

const UPSERT = `
-- KEYS[1] schedule hash  KEYS[2] index  ARGV[1] doc JSON  ARGV[2] created at  ARGV[3] id
-- Writes the definition; keeps paused and the last fire of a schedule that exists
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('HSETNX', KEYS[1], 'paused', '0')
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[3])
return 1
`;

const SET_IF_EXISTS = `
-- KEYS[1] schedule hash  ARGV[1] field  ARGV[2] value
-- Returns 1, or 0 when the schedule is gone (nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

const CLAIM = `
-- KEYS[1] fire claim  ARGV[1] run id  ARGV[2] ttl seconds
-- Returns the run id this fire creates: the one already claimed, or ARGV[1]
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
`;

/** A fire's claim outlives any retry of its job by far. */
const CLAIM_TTL_SECONDS = 7 * 24 * 3_600;

type ScheduleCommands = RedisConnection & {
  drScheduleCreate(k1: string, k2: string, ...argv: string[]): Promise<number>;
  drScheduleUpsert(k1: string, k2: string, ...argv: string[]): Promise<number>;
  drScheduleSet(k1: string, ...argv: string[]): Promise<number>;
  drScheduleClaim(k1: string, ...argv: string[]): Promise<string>;
};

export class ScheduleStore {
  private readonly redis: ScheduleCommands;
  readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.prefix = prefix;
    if (!('drScheduleCreate' in redis)) {
      redis.defineCommand('drScheduleCreate', { numberOfKeys: 2, lua: CREATE });
      redis.defineCommand('drScheduleUpsert', { numberOfKeys: 2, lua: UPSERT });
      redis.defineCommand('drScheduleSet', { numberOfKeys: 1, lua: SET_IF_EXISTS });
      redis.defineCommand('drScheduleClaim', { numberOfKeys: 1, lua: CLAIM });
    }
    this.redis = redis as ScheduleCommands;
  }

  private key(id: string): string {
    return `${this.prefix}:schedule:${id}`;
  }
  private get indexKey(): string {
    return `${this.prefix}:schedules`;
  }

  /** Stores a new schedule; false when its id is taken (nothing written). */
  async create(doc: ScheduleDoc, paused = false): Promise<boolean> {
    return (await this.redis.drScheduleCreate(this.key(doc.id), this.indexKey, JSON.stringify(doc), paused ? '1' : '0', String(doc.createdAt), doc.id)) === 1;
  }

  /** Writes a schedule's definition (the config's), keeping whether it is paused and what it did last. */
  async upsert(doc: ScheduleDoc): Promise<void> {
    await this.redis.drScheduleUpsert(this.key(doc.id), this.indexKey, JSON.stringify(doc), String(doc.createdAt), doc.id);
  }

  async get(id: string): Promise<Schedule | undefined> {
    if (!/^[\w-]{1,64}$/.test(id)) return undefined;
    const h = await this.redis.hgetall(this.key(id));
    if (!h.doc) return undefined;
    const doc = ScheduleDocSchema.parse(JSON.parse(h.doc));
    return { ...doc, paused: h.paused === '1', ...(h.last ? { last: LastFireSchema.parse(JSON.parse(h.last)) } : {}) };
  }

  /** Oldest first. */
  async list(): Promise<Schedule[]> {
    const ids = await this.redis.zrange(this.indexKey, 0, -1);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((s): s is Schedule => s !== undefined);
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.indexKey);
  }

  /** False when the schedule is gone. */
  async setPaused(id: string, paused: boolean): Promise<boolean> {
    return (await this.redis.drScheduleSet(this.key(id), 'paused', paused ? '1' : '0')) === 1;
  }

  /** Records what a fire did; nothing when the schedule was deleted meanwhile. */
  async recordFire(id: string, last: LastFire): Promise<void> {
    await this.redis.drScheduleSet(this.key(id), 'last', JSON.stringify(last));
  }

  async delete(id: string): Promise<void> {
    const multi = this.redis.multi();
    multi.del(this.key(id));
    multi.zrem(this.indexKey, id);
    await multi.exec();
  }

  /**
   * The run id a fire creates: `runId` the first time this fire is seen, the
   * same id for every later attempt of it (a retried or redelivered job), so
   * one fire never creates two runs.
   */
  async claimFire(fireId: string, runId: string): Promise<string> {
    return this.redis.drScheduleClaim(`${this.prefix}:schedule-fire:${fireId}`, runId, String(CLAIM_TTL_SECONDS));
  }
}
