import type { RedisConnection } from './connection.ts';

/**
 * Something to do once across every process and crash (share a drill's
 * report, tell a readiness transition), with Slack in between: a process
 * claims it for a lease (refused when it was done, or while another holds
 * it; a process that dies holding it gives it up when the lease ends), keeps
 * marks of what it did on the way (an upload attempted, a message's ts) that
 * survive a crash, and marks it done. What is still to do waits in a pending
 * list, so an outage delays it and loses none.
 */
export type LeaseClaim = 'claimed' | 'done' | 'busy';

const CLAIM = `
-- KEYS[1] the thing's hash  ARGV[1] now (ms)  ARGV[2] lease end (ms)  ARGV[3] ttl (s)
-- Returns 'done' (done already), 'busy' (another process holds it) or 'claimed'
if redis.call('HGET', KEYS[1], 'done') then return 'done' end
if tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0') > tonumber(ARGV[1]) then return 'busy' end
redis.call('HSET', KEYS[1], 'leaseUntil', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'claimed'
`;

type Commands = RedisConnection & { drLeaseClaim(key: string, now: string, until: string, ttl: string): Promise<LeaseClaim> };

export class LeasedOnce {
  private readonly redis: Commands;
  private readonly keyOf: (id: string) => string;
  private readonly pendingKey: string;
  private readonly ttlSeconds: number;

  constructor(redis: RedisConnection, options: { keyOf: (id: string) => string; pendingKey: string; ttlSeconds: number }) {
    if (!('drLeaseClaim' in redis)) redis.defineCommand('drLeaseClaim', { numberOfKeys: 1, lua: CLAIM });
    this.redis = redis as Commands;
    this.keyOf = options.keyOf;
    this.pendingKey = options.pendingKey;
    this.ttlSeconds = options.ttlSeconds;
  }

  async claim(id: string, leaseMs: number): Promise<LeaseClaim> {
    const now = Date.now();
    return this.redis.drLeaseClaim(this.keyOf(id), String(now), String(now + leaseMs), String(this.ttlSeconds));
  }

  /** Done: no one does it again, and it is no longer pending. */
  async done(id: string): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keyOf(id), 'done', String(Date.now()))
      .hdel(this.keyOf(id), 'leaseUntil')
      .expire(this.keyOf(id), this.ttlSeconds)
      .hdel(this.pendingKey, id)
      .exec();
  }

  /** Gives the claim back after a failure, so a retry may do it. */
  async release(id: string): Promise<void> {
    await this.redis.hdel(this.keyOf(id), 'leaseUntil');
  }

  async mark(id: string, name: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keyOf(id), `mark:${name}`)) ?? undefined;
  }

  async setMark(id: string, name: string, value: string): Promise<void> {
    await this.redis.multi().hset(this.keyOf(id), `mark:${name}`, value).expire(this.keyOf(id), this.ttlSeconds).exec();
  }

  /** Adds what is still to do (an id already pending keeps its value). */
  async addPending(entries: readonly (readonly [id: string, value: string])[]): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    for (const [id, value] of entries) multi.hsetnx(this.pendingKey, id, value);
    await multi.expire(this.pendingKey, this.ttlSeconds).exec();
  }

  /** Everything pending, by id. */
  async pending(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.pendingKey);
  }

  async dropPending(id: string): Promise<void> {
    await this.redis.hdel(this.pendingKey, id);
  }
}
