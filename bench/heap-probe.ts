/**
 * Loaded into the bot and worker processes by `npm run bench -- memory --live-heap`
 * (NODE_OPTIONS="--expose-gc --import bench/heap-probe.ts"): on SIGUSR2 it runs a
 * full GC and writes one line to stderr with the live heap after it, so a reading
 * can tell heap the process still holds from heap V8 has merely not given back.
 * Not loaded by default: the default numbers are taken with nothing forced.
 */
const MIB = 1024 * 1024;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  const m = process.memoryUsage();
  const line = { gc: gc !== undefined, heapUsed: m.heapUsed / MIB, heapTotal: m.heapTotal / MIB, external: m.external / MIB, rss: m.rss / MIB };
  process.stderr.write(`HEAP_PROBE ${JSON.stringify(line)}\n`);
});
