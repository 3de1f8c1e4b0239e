import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { stalledIntervalMs } from '../../../src/queue/run-worker.ts';

/**
 * What the settings promise, by arithmetic rather than by the clock: BullMQ
 * moves a job whose lock expired back to waiting at the next stalled check,
 * and the workers' checks, each skipped when another ran within the interval,
 * come at most two intervals apart; so a dead worker's run is taken over within
 * the lock plus two check intervals (plus the moment a free worker needs to
 * take it). bench/takeover.ts measures it.
 */
describe('takeover after a worker dies', () => {
  it('the default lock and stalled check hand a dead worker\'s run to another well within 10 seconds', () => {
    const lock = loadConfig({ env: {}, role: 'worker', needsSlack: false }).worker.lockDurationMs;
    expect(lock + 2 * stalledIntervalMs(lock)).toBeLessThanOrEqual(8_000);
  });

  it('the stalled check looks more often than the lock lasts, however the lock is set', () => {
    for (const lock of [1_000, 6_000, 30_000, 600_000]) expect(stalledIntervalMs(lock)).toBeLessThan(lock);
  });
});
