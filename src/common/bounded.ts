/**
 * At most `limit` calls of `fn` at once over `items`, results in input order. For a process's own
 * I/O (API calls, ssh); workflow code bounds its activities with fan-out.ts instead, whose lanes also
 * handle cancellation and a failure budget.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
