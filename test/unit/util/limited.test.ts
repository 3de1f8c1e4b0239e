import { describe, expect, it } from 'vitest';
import { mapLimited } from '../../../src/util/limited.ts';

describe('mapLimited', () => {
  it('keeps at most `limit` calls in flight and returns the results in order', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapLimited([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight -= 1;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(most).toBe(3);
  });

  it('stops at the first failure, as Promise.all does', async () => {
    await expect(mapLimited([1, 2, 3], 2, (n) => (n === 2 ? Promise.reject(new Error('no')) : Promise.resolve(n)))).rejects.toThrow('no');
  });

  it('handles nothing to do', async () => {
    expect(await mapLimited([], 4, () => Promise.resolve(1))).toEqual([]);
  });
});
