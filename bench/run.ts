/**
 * `npm run bench` runs every benchmark and prints its numbers, in this order:
 * ack at 200 concurrent requests, ack at 1,000, engine, memory, startup, takeover, parked, readiness.
 * `npm run bench -- engine` (or ack, memory, startup, takeover; several names allowed) runs those only.
 * Options: --runs N (engine runs, default 1000; memory: RSS after N and 2N runs),
 * --concurrency N (engine workers, default 16; ack: concurrent requests, default
 * 200 when named, 200 and 1,000 in the full run; given explicitly, ack runs at N only).
 * --kills N (takeover): SIGKILLs per lock setting, default 10.
 * parked: --runs N parked runs, default 500.
 * readiness: --runs N checklists per target, default 5; --latency MS each fake's answer time, default 40.
 * --live-heap (memory): force a full GC in the bot and worker after each reading and print the live heap.
 * Uses REDIS_URL (default redis://127.0.0.1:6379) under a prefix of its own.
 */
import { benchAck } from './ack.ts';
import { benchEngine } from './engine.ts';
import { benchMemory } from './memory.ts';
import { benchParked } from './parked.ts';
import { benchReadiness } from './readiness.ts';
import { benchStartup } from './startup.ts';
import { benchTakeover } from './takeover.ts';
import type { BenchArgs } from './util.ts';

const BENCHES: Record<string, (args: BenchArgs) => Promise<void>> = { ack: benchAck, engine: benchEngine, memory: benchMemory, startup: benchStartup, takeover: benchTakeover,
  parked: (a) => benchParked({ ...a, runs: option('runs') ?? 500 }),
  readiness: () => benchReadiness({ runs: option('runs') ?? 5, latencyMs: option('latency') ?? 40 }) };
/** Ack concurrencies of the full run (the Slack issue asks for 200 and 1,000). */
const FULL_RUN_ACK_CONCURRENCY = [200, 1000];

function option(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : Number(process.argv[i + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Options that take a value; the rest (--live-heap) are flags. */
const VALUE_OPTIONS = ['--runs', '--concurrency', '--kills', '--latency'];
const selected = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !VALUE_OPTIONS.includes(all[i - 1] ?? ''));
const unknown = selected.filter((s) => !(s in BENCHES));
if (unknown.length > 0) {
  console.error(`Unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const concurrency = option('concurrency');
const args: BenchArgs = {
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  runs: option('runs') ?? 1000,
  concurrency: concurrency ?? 16,
  liveHeap: process.argv.includes('--live-heap'),
  kills: option('kills') ?? 10,
};
const ackConcurrencies = concurrency !== undefined ? [concurrency] : selected.length > 0 ? [200] : FULL_RUN_ACK_CONCURRENCY;

const plan: { name: string; args: BenchArgs }[] = (selected.length > 0 ? selected : Object.keys(BENCHES)).flatMap((name) =>
  name === 'ack' ? ackConcurrencies.map((c) => ({ name, args: { ...args, concurrency: c } })) : [{ name, args }],
);

console.log(`node ${process.version}, ${new Date().toISOString()}, ${plan.map((p) => (p.name === 'ack' ? `ack@${p.args.concurrency}` : p.name)).join(', ')}`);
for (const { name, args: benchArgs } of plan) {
  await BENCHES[name]?.(benchArgs);
}
