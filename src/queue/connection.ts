import { Redis } from 'ioredis';
import type { Logger } from '../log/logger.ts';

export type ConnectionUse = 'producer' | 'worker' | 'probe';

/**
 * One ioredis connection per use. Workers block and must wait through an outage
 * (`maxRetriesPerRequest: null`); producers and probes fail fast instead, so a
 * Slack command during a Redis outage gets an honest "not queued" within its
 * 3-second window rather than hanging.
 */
export function createRedisConnection(url: string, use: ConnectionUse, logger: Logger): Redis {
  const failFast = use !== 'worker';
  const redis = new Redis(url, {
    connectionName: `dr-chatops:${use}`,
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: !failFast,
    connectTimeout: 5_000,
    // Reconnect quickly after a blip, never give up.
    retryStrategy: (attempt) => Math.min(attempt * 250, 2_000),
  });
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

/** Resolves once the connection is ready (or at once if it is); rejects after `timeoutMs`. */
export async function waitForConnection(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await withTimeout(
    new Promise<void>((resolve) => redis.once('ready', () => { resolve(); })),
    timeoutMs,
    'Redis did not become ready',
  );
}

/** Resolves when the connection answers, rejects after `timeoutMs`. */
export async function pingRedis(redis: Redis, timeoutMs: number): Promise<void> {
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
