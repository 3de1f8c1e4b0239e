import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log/logger.ts';

export type ConnectionUse = 'producer' | 'worker' | 'probe';

/** A connection to a single Redis or to a Redis Cluster: the same commands, routed by key on a cluster. */
export type RedisConnection = Redis | Cluster;

/** Where Redis is: `urls` holds one URL, or on a cluster one or more seed nodes. */
export interface RedisTarget {
  urls: readonly string[];
  cluster: boolean;
}

/**
 * One ioredis connection per use. Workers block and must wait through an outage
 * (`maxRetriesPerRequest: null`); producers and probes fail fast instead, so a
 * Slack command during a Redis outage gets an honest "not queued" within its
 * 3-second window rather than hanging. On a cluster the same holds per node,
 * and the cluster client follows MOVED redirections and failovers.
 */
export function createRedisConnection(target: RedisTarget | string, use: ConnectionUse, logger: Logger): RedisConnection {
  const { urls, cluster } = typeof target === 'string' ? { urls: [target], cluster: false } : target;
  const failFast = use !== 'worker';
  const options: RedisOptions = {
    connectionName: `dr-chatops:${use}`,
    maxRetriesPerRequest: failFast ? 1 : null,
    connectTimeout: 5_000,
  };
  // Reconnect quickly after a blip, never give up.
  const retry = (attempt: number) => Math.min(attempt * 250, 2_000);
  const redis = cluster
    ? new Cluster(urls.map(seedNode), clusterOptions(urls, options, failFast, retry))
    : new Redis(urls[0] ?? '', { ...options, enableOfflineQueue: !failFast, retryStrategy: retry });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ use, err: err.message }, 'redis connection lost; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({ use }, 'redis connection restored');
    down = false;
  });
  return redis;
}

function seedNode(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
}

/**
 * Credentials and TLS come from the first seed URL and apply to every node the
 * cluster names. With TLS, node host names are kept as the cluster gives them
 * (no DNS lookup to an IP), so certificates that name the hosts still match:
 * what ElastiCache and MemoryDB need in cluster mode.
 */
function clusterOptions(urls: readonly string[], options: RedisOptions, failFast: boolean, retry: (attempt: number) => number): ClusterOptions {
  const first = new URL(urls[0] ?? '');
  const tls = first.protocol === 'rediss:';
  return {
    enableOfflineQueue: !failFast,
    clusterRetryStrategy: retry,
    // A failover or a resharding answers CLUSTERDOWN/TRYAGAIN for a moment: wait it out briefly, then retry.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
    ...(tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => { callback(null, address); } } : {}),
    redisOptions: {
      ...options,
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
      ...(tls ? { tls: {} } : {}),
    },
  };
}

/** Resolves once the connection is ready (or at once if it is); rejects after `timeoutMs`. */
export async function waitForConnection(redis: RedisConnection, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await withTimeout(
    new Promise<void>((resolve) => redis.once('ready', () => { resolve(); })),
    timeoutMs,
    'Redis did not become ready',
  );
}

/** Resolves when the connection answers, rejects after `timeoutMs`. */
export async function pingRedis(redis: RedisConnection, timeoutMs: number): Promise<void> {
  await withTimeout(redis.ping(), timeoutMs, 'Redis did not answer PING');
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${message} within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Redis the configuration names: REDIS_URL (on a cluster, seed nodes separated by commas) and REDIS_CLUSTER. */
export function redisTargetOf(config: { redisUrl: string; redisCluster: boolean }): RedisTarget {
  return { urls: config.redisUrl.split(',').map((u) => u.trim()).filter(Boolean), cluster: config.redisCluster };
}
