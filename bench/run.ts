/**
 * `npm run bench` runs every benchmark and prints its numbers; `npm run bench -- engine`
 * runs one. Options: --runs N (engine, default 1000), --concurrency N (engine
 * workers, default 16; ack: concurrent requests, default 200).
 * Uses REDIS_URL (default redis://127.0.0.1:6379) under a prefix of its own.
 */
import { benchAck } from './ack.ts';
import { benchEngine } from './engine.ts';
import type { BenchArgs } from './util.ts';

const BENCHES: Record<string, (args: BenchArgs) => Promise<void>> = { ack: benchAck, engine: benchEngine };

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : Number(process.argv[i + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

const selected = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const unknown = selected.filter((s) => !(s in BENCHES));
if (unknown.length > 0) {
  console.error(`Unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const args: BenchArgs = {
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  runs: option('runs', 1000),
  concurrency: option('concurrency', 16),
};
const ackConcurrency = option('concurrency', 200);
console.log(`node ${process.version}, ${new Date().toISOString()}`);
for (const name of selected.length > 0 ? selected : Object.keys(BENCHES)) {
  await BENCHES[name]?.(name === 'ack' ? { ...args, concurrency: ackConcurrency } : args);
}
