/**
 * PagedScan against a fake list call (the real API server's pages are in
 * test/scale/large-cluster-scans.test.ts): an expired continue token (410 Gone) restarts the
 * list from its first page without keeping what the stale pass had picked.
 */
import type { ClusterKube } from '../../src/activities/kube/client';
import { type PageRequest, PagedScan } from '../../src/activities/kube/paged-list';

const kube = { cluster: 'c', server: 'https://x' } as ClusterKube;
const gone = Object.assign(new Error('expired'), {
  code: 410,
  body: '{"message":"too old resource version"}',
});

function fakeList(items: number[], expireAfterPages: number) {
  const calls: PageRequest[] = [];
  let served = 0;
  const list = async (page: PageRequest) => {
    calls.push(page);
    const start = page._continue ? Number(page._continue) : 0;
    if (page._continue && served++ === expireAfterPages - 1) throw gone;
    const end = Math.min(items.length, start + page.limit);
    return {
      items: items.slice(start, end),
      metadata: end < items.length ? { _continue: String(end), remainingItemCount: items.length - end } : {},
    };
  };
  return { list, calls };
}

test('every item over every page, each kept once', async () => {
  const items = Array.from({ length: 25 }, (_, i) => i);
  const { list, calls } = fakeList(items, Number.POSITIVE_INFINITY);
  const scan = new PagedScan(kube, 10);
  const even = await scan.collect('numbers', list, (n) => (n % 2 === 0 ? n : undefined));
  expect(even).toEqual(items.filter((n) => n % 2 === 0));
  expect(calls.map((c) => c._continue)).toEqual([undefined, '10', '20']);
  expect(scan.progress.lists.numbers).toMatchObject({ done: true, pages: 3, read: 25, restarts: 0 });
});

test('a 410 Gone on a continue token restarts the list; nothing is kept twice', async () => {
  const items = Array.from({ length: 25 }, (_, i) => i);
  const { list, calls } = fakeList(items, 2);
  const scan = new PagedScan(kube, 10);
  const all = await scan.collect('numbers', list, (n) => n);
  expect(all).toEqual(items);
  expect(calls.map((c) => c._continue)).toEqual([undefined, '10', '20', undefined, '10', '20']);
  expect(scan.progress.lists.numbers).toMatchObject({ done: true, pages: 3, restarts: 1 });
});

test('a 410 on the first page (no token) is a failure, not a restart loop', async () => {
  const scan = new PagedScan(kube, 10);
  await expect(
    scan.collect(
      'numbers',
      async () => Promise.reject(gone),
      (n: number) => n,
    ),
  ).rejects.toMatchObject({ type: 'KubeInvalid' });
});
