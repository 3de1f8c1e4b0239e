import type { RedisConnection } from '../queue/connection.ts';

export interface Limit {
  /** What is counted, e.g. `runs:user:U012` or `runs:all`. */
  key: string;
  max: number;
  windowMs: number;
}

/**
 * Counts in windows that open with the first request counted and last windowMs (the counter's expiry), one Lua call for
 * all limits: either every counter is raised or none is. Not clock-aligned: a burst across a minute boundary is not let through twice.
 */
const TAKE = `
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then return {i, redis.call('PTTL', key)} end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return {0, 0}
`;

/**
 * TAKE for one request that may arrive again (Slack retries): KEYS[1] marks
 * it counted; a request already counted passes without counting again.
 */
const TAKE_ONCE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
for i = 2, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[2 * i - 3]) then return {i - 1, redis.call('PTTL', KEYS[i])} end
end
for i = 2, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i - 2]) end
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[#ARGV])
return {0, 0}
`;

/**
 * Flood limits shared by every bot process (they live in Redis): a person
 * pasting a command 500 times, or a script, gets a clear refusal instead of
 * 500 plans.
 */
export class RateLimiter {
  private readonly redis: RedisConnection;
  private readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  /**
   * Takes one from each limit; when one is used up, returns it with the time
   * until it frees up. With `once`, a request (its key) is counted once: taken
   * again within `ttlMs`, it passes and counts nothing.
   */
  async take(limits: readonly Limit[], once?: { key: string; ttlMs: number }): Promise<{ ok: true } | { ok: false; limit: Limit; retryInMs: number }> {
    const keys = limits.map((l) => `${this.prefix}:limit:${l.key}`);
    const args = limits.flatMap((l) => [String(l.max), String(l.windowMs)]);
    const [hit, ttl] = (
      once
        ? await this.redis.eval(TAKE_ONCE, keys.length + 1, `${this.prefix}:limit-counted:${once.key}`, ...keys, ...args, String(once.ttlMs))
        : await this.redis.eval(TAKE, keys.length, ...keys, ...args)
    ) as [number, number];
    const limit = limits[hit - 1];
    if (hit === 0 || !limit) return { ok: true };
    return { ok: false, limit, retryInMs: Math.max(ttl, 1_000) };
  }
}
