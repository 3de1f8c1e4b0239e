/**
 * `fn` over `items` with at most `limit` calls in flight, results in order:
 * parallel reads that stay within an API's rate limit (a burst of one call per
 * image or secret would be throttled, and retried, on a large estate).
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
