import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { hashTagOf } from '../../../src/config/schema.ts';
import { redisTargetOf } from '../../../src/queue/connection.ts';

const base = { SLACK_BOT_TOKEN: 'xoxb-1-2-x', SLACK_SIGNING_SECRET: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' };

describe('REDIS_CLUSTER: running on Redis Cluster (ElastiCache cluster mode, MemoryDB)', () => {
  it('is off by default: one Redis at REDIS_URL', () => {
    const config = loadConfig({ env: base });
    expect(redisTargetOf(config)).toEqual({ urls: ['redis://127.0.0.1:6379'], cluster: false });
  });

  it('takes one seed node or several, comma separated, with a hash-tag prefix', () => {
    const config = loadConfig({ env: { ...base, REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://a.example:6379, rediss://b.example:6380', QUEUE_PREFIX: '{dr}' } });
    expect(redisTargetOf(config)).toEqual({ urls: ['rediss://a.example:6379', 'rediss://b.example:6380'], cluster: true });
  });

  it('refuses a prefix without a hash tag, saying which to use and why', () => {
    expect(() => loadConfig({ env: { ...base, REDIS_CLUSTER: 'true' } })).toThrow(/QUEUE_PREFIX: must hold a hash tag on Redis Cluster \(REDIS_CLUSTER=true\), such as \{dr\}: every key of the bot must hash to one slot/);
    expect(() => loadConfig({ env: { ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'dr{}' } })).toThrow(/QUEUE_PREFIX: must hold a hash tag/);
  });

  it('refuses several URLs without REDIS_CLUSTER, a database number on a cluster, and a value that is not true or false', () => {
    expect(() => loadConfig({ env: { ...base, REDIS_URL: 'redis://a:6379,redis://b:6379' } })).toThrow(/REDIS_URL: lists several URLs, which only Redis Cluster takes/);
    expect(() => loadConfig({ env: { ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{dr}', REDIS_URL: 'redis://a:6379/2' } })).toThrow(/REDIS_URL: names a database number/);
    expect(() => loadConfig({ env: { ...base, REDIS_CLUSTER: 'yes' } })).toThrow(/REDIS_CLUSTER: must be true or false/);
  });

  it('finds the hash tag as Redis does: the first { and the next }, not empty', () => {
    expect(hashTagOf('{dr}')).toBe('dr');
    expect(hashTagOf('x{dr}y{z}')).toBe('dr');
    expect(hashTagOf('{}dr')).toBeUndefined();
    expect(hashTagOf('dr')).toBeUndefined();
    expect(hashTagOf('dr}{')).toBeUndefined();
  });
});
