/** The one bounded-concurrency helper (collectors' log reads, BatchWriteItem requests, benchmarks). */

/**
 * Runs `task` over `items` with at most `limit` running at once, in order of the items. After a
 * failure it starts no more and rejects with that failure once the running ones have settled.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        await task(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.error;
}
