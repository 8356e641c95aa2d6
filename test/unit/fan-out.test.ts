/**
 * fanOut (src/workflows/lib/fan-out.ts), the workflows' fan-out building block, on the time-skipping
 * test server with a FAKE activity (fakeItemWork: sleeps, heartbeats, records what ran when and
 * whether it saw a cancellation). Everything asserted about concurrency is measured by the fake
 * activity, not taken from the workflow's own word.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
} from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import {
  FAN_OUT_ITEM_FAILED_SIGNAL,
  FAN_OUT_STOP_SIGNAL,
  planBatches,
} from '../../src/workflows/lib/fan-out';
import { useTimeSkipping } from './time-skipping';
import type {
  FakeActivities,
  FakeFanOutInput,
  FakeFanOutSummary,
  FakeItem,
} from './workflows/fan-out-test-workflows';

jest.setTimeout(180_000);

type History = temporal.api.history.v1.IHistory;

/** What the fake activity saw: one record per execution, and the concurrency it measured. */
interface FakeRecord {
  key: string;
  workflowId: string;
  start: number;
  end?: number;
  cancelled?: boolean;
}
class FakeRecorder {
  records: FakeRecord[] = [];
  running = 0;
  maxRunning = 0;
  runningByWorkflow = new Map<string, number>();
  maxConcurrentWorkflows = 0;

  started(): string[] {
    return this.records.map((r) => r.key).sort(byKey);
  }
}

function fakeActivities(rec: FakeRecorder): FakeActivities {
  return {
    async fakeItemWork(item: FakeItem) {
      const ctx = Context.current();
      const workflowId = ctx.info.workflowExecution?.workflowId ?? '?';
      const r: FakeRecord = { key: item.key, workflowId, start: Date.now() };
      rec.records.push(r);
      rec.running++;
      rec.maxRunning = Math.max(rec.maxRunning, rec.running);
      rec.runningByWorkflow.set(workflowId, (rec.runningByWorkflow.get(workflowId) ?? 0) + 1);
      rec.maxConcurrentWorkflows = Math.max(
        rec.maxConcurrentWorkflows,
        [...rec.runningByWorkflow.values()].filter((n) => n > 0).length,
      );
      try {
        const until = Date.now() + item.ms;
        while (Date.now() < until) {
          ctx.heartbeat(); // how a cancellation reaches the activity
          await ctx.sleep(Math.min(100, until - Date.now())); // rejects with CancelledFailure on cancel
        }
      } catch (err) {
        if (err instanceof CancelledFailure) r.cancelled = true;
        throw err;
      } finally {
        rec.running--;
        rec.runningByWorkflow.set(workflowId, rec.runningByWorkflow.get(workflowId)! - 1);
        r.end = Date.now();
      }
      if (item.fail === 'throw') {
        throw ApplicationFailure.nonRetryable(`fake failure of ${item.key}`, 'FakeItemFailed');
      }
      return item.fail === 'result'
        ? { key: item.key, outcome: 'failed', reason: 'fake' }
        : { key: item.key, outcome: 'ok' };
    },
  };
}

const byKey = (a: string, b: string) => Number(a.slice(1)) - Number(b.slice(1));
const keys = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `i${from + i}`);
function fakeItems(count: number, shape: (i: number) => Partial<FakeItem> = () => ({})): FakeItem[] {
  return Array.from({ length: count }, (_, i) => ({ key: `i${i}`, ms: 200, ...shape(i) }));
}

const ts = useTimeSkipping(require.resolve('./workflows/fan-out-test-workflows'), 'fan-out-fake');

interface FakeRun {
  rec: FakeRecorder;
  workflowId: string;
  summary?: FakeFanOutSummary;
  error?: unknown;
  history: History;
}

/**
 * Runs one fake fan-out workflow on its own task queue; `during` runs while it is running (e.g. to
 * cancel it). Never throws for the workflow's failure: it is returned as `error`.
 */
async function runFake(
  input: FakeFanOutInput,
  opts: {
    workflowType?: string;
    during?: (handle: WorkflowHandle, rec: FakeRecorder) => Promise<void>;
  } = {},
): Promise<FakeRun> {
  const rec = new FakeRecorder();
  const workflowId = `fan-out-fake/${randomUUID()}`;
  return ts.withWorker(fakeActivities(rec), async (taskQueue) => {
    const handle = await ts.env.client.workflow.start(opts.workflowType ?? 'fakeFanOutWorkflow', {
      taskQueue,
      workflowId,
      args: [input],
    });
    const result = handle.result() as Promise<FakeFanOutSummary>;
    result.catch(() => undefined); // awaited below; `during` may run first
    if (opts.during) await opts.during(handle, rec);
    let summary: FakeFanOutSummary | undefined;
    let error: unknown;
    try {
      summary = await result;
    } catch (err) {
      error = err;
    }
    return { rec, workflowId, summary, error, history: await handle.fetchHistory() };
  });
}

async function historyOf(workflowId: string): Promise<History> {
  return ts.env.client.workflow.getHandle(workflowId).fetchHistory();
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function signalNames(history: History): string[] {
  return (history.events ?? []).flatMap((e) =>
    e.workflowExecutionSignaledEventAttributes
      ? [e.workflowExecutionSignaledEventAttributes.signalName!]
      : [],
  );
}

function startInput<T>(history: History): T {
  const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  return JSON.parse(Buffer.from(payload.data!).toString('utf8')) as T;
}

/** Per child workflow: [first activity start, last activity end], from the fake's records. */
function childIntervals(rec: FakeRecorder): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const r of rec.records) {
    const [s, e] = out.get(r.workflowId) ?? [Infinity, -Infinity];
    out.set(r.workflowId, [Math.min(s, r.start), Math.max(e, r.end ?? Infinity)]);
  }
  return out;
}

function replay(history: History, workflowId: string): Promise<void> {
  return Worker.runReplayHistory({ workflowBundle: ts.bundle }, history, workflowId);
}

describe('in-workflow fake fan-out', () => {
  test('20 fake items, bound 4: max in flight is exactly 4 and never above; lanes start in item order', async () => {
    const r = await runFake({ items: fakeItems(20), maxParallel: 4, maxFailures: 3 });
    expect(r.error).toBeUndefined();
    expect(r.rec.maxRunning).toBe(4);
    expect(r.rec.started()).toEqual(keys(0, 19));
    expect(r.summary!.batches).toBe(0);
    expect(r.summary!.results.map((x) => [x.key, x.status, x.outcome])).toEqual(
      keys(0, 19).map((k) => [k, 'done', 'ok']),
    );
    // boundedPool's order: the four lanes take items 0..3 first, each next item after a done one.
    expect(r.summary!.hooks.slice(0, 4)).toEqual(['start:i0', 'start:i1', 'start:i2', 'start:i3']);
    let inFlight = 0;
    for (const h of r.summary!.hooks) {
      inFlight += h.startsWith('start:') ? 1 : -1;
      expect(inFlight).toBeLessThanOrEqual(4);
    }
    await replay(r.history, r.workflowId);
  });

  test('fake failure budget: after 2 failures no new item starts; the rest come back not-started', async () => {
    // Sequential: exactly the two failing items run.
    const seq = await runFake({
      items: fakeItems(6, () => ({ ms: 20, fail: 'result' })),
      maxParallel: 1,
      maxFailures: 2,
    });
    expect(seq.rec.started()).toEqual(['i0', 'i1']);
    expect(seq.summary).toMatchObject({ failures: 2, budgetSpent: true });
    expect(seq.summary!.results.filter((x) => x.status === 'not-started').map((x) => x.key)).toEqual(
      keys(2, 5),
    );

    // Bound 3, items 0 and 1 fail fast: nothing starts once the second failure is in.
    const par = await runFake({
      items: fakeItems(10, (i) => (i < 2 ? { ms: 50, fail: 'result' } : { ms: 600 })),
      maxParallel: 3,
      maxFailures: 2,
    });
    const s = par.summary!;
    expect(s).toMatchObject({ failures: 2, budgetSpent: true });
    const secondFailure = s.hooks.filter((h) => h.endsWith(':failed'))[1]!;
    const after = s.hooks.slice(s.hooks.indexOf(secondFailure) + 1);
    expect(after.filter((h) => h.startsWith('start:'))).toEqual([]);
    const notStarted = s.results.filter((x) => x.status === 'not-started').map((x) => x.key);
    expect(notStarted.length).toBeGreaterThan(0);
    expect(after.filter((h) => h.startsWith('not-started:'))).toEqual(
      notStarted.map((k) => `not-started:${k}`),
    );
    // What ran is exactly what is reported done.
    expect(par.rec.started()).toEqual(s.results.filter((x) => x.status === 'done').map((x) => x.key));
  });

  test('fake cancellation mid-fan-out: every running activity sees it, none starts after, the workflow ends cancelled', async () => {
    let cancelledAt = 0;
    const r = await runFake(
      { items: fakeItems(12, () => ({ ms: 60_000 })), maxParallel: 4, maxFailures: 3 },
      {
        during: async (handle, rec) => {
          await waitFor('4 running fake items', () => rec.running === 4);
          cancelledAt = Date.now();
          await handle.cancel();
        },
      },
    );
    expect(r.error).toBeInstanceOf(WorkflowFailedError);
    expect((r.error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(r.rec.records).toHaveLength(4);
    expect(r.rec.records.every((x) => x.cancelled === true && x.end !== undefined)).toBe(true);
    expect(r.rec.records.filter((x) => x.start > cancelledAt)).toEqual([]);
    expect((await ts.env.client.workflow.getHandle(r.workflowId).describe()).status.name).toBe('CANCELLED');
  });

  test('onError turns a fake activity failure into a failed result; the others complete', async () => {
    const r = await runFake({
      items: fakeItems(8, (i) => (i === 3 ? { ms: 50, fail: 'throw' } : { ms: 150 })),
      maxParallel: 3,
      maxFailures: 5,
      useOnError: true,
    });
    expect(r.error).toBeUndefined();
    expect(r.summary).toMatchObject({ failures: 1, budgetSpent: false });
    expect(r.summary!.results.find((x) => x.key === 'i3')).toEqual({
      key: 'i3',
      status: 'done',
      outcome: 'failed',
      reason: 'FakeItemFailed',
    });
    expect(r.summary!.results.filter((x) => x.outcome === 'ok')).toHaveLength(7);
    expect(r.rec.started()).toEqual(keys(0, 7));
  });

  test('without onError, a fake activity failure stops new starts, lets in-flight items finish, then fails the fan-out', async () => {
    const r = await runFake({
      items: fakeItems(8, (i) => (i === 1 ? { ms: 50, fail: 'throw' } : { ms: 1000 })),
      maxParallel: 2,
      maxFailures: 5,
    });
    expect(r.error).toBeInstanceOf(WorkflowFailedError);
    const cause = (r.error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect((cause as ActivityFailure).cause).toMatchObject({ type: 'FakeItemFailed' });
    expect(r.rec.started()).toEqual(['i0', 'i1']);
    const i0 = r.rec.records.find((x) => x.key === 'i0')!;
    expect(i0.cancelled).toBeUndefined(); // it finished, it was not abandoned
    expect(i0.end).toBeDefined();
  });
});

describe('batched fake fan-out: 50 items, batches of 10, bound 6', () => {
  let r: FakeRun;
  beforeAll(async () => {
    r = await runFake({
      items: fakeItems(50, () => ({ ms: 300 })),
      maxParallel: 6,
      maxFailures: 3,
      batchSize: 10,
    });
  });

  test('max in flight ≤ 6 and above the per-child share (1): children share the one bound', () => {
    expect(r.error).toBeUndefined();
    // 5 batches of 10 would be needed; 6 (a divisor of the bound) balanced ones of 9 or 8 are cut.
    expect(r.summary!.batches).toBe(6);
    expect(r.rec.maxRunning).toBeLessThanOrEqual(6);
    expect(r.rec.maxRunning).toBeGreaterThan(1);
    expect(r.rec.maxConcurrentWorkflows).toBeGreaterThanOrEqual(2);
    expect(new Set(r.rec.records.map((x) => x.workflowId))).toEqual(
      new Set([0, 1, 2, 3, 4, 5].map((b) => `${r.workflowId}/batch-${b}`)),
    );
  });

  test('batches overlap in time', () => {
    const intervals = [...childIntervals(r.rec).values()];
    const overlapping = intervals.filter(([s, e]) =>
      intervals.some(([s2, e2]) => (s2 !== s || e2 !== e) && s2 < e && s < e2),
    );
    expect(overlapping.length).toBeGreaterThanOrEqual(2);
  });

  test('every item done once, results in item order, per-item hooks', async () => {
    expect(r.rec.started()).toEqual(keys(0, 49));
    expect(r.summary!.results.map((x) => [x.key, x.status, x.outcome])).toEqual(
      keys(0, 49).map((k) => [k, 'done', 'ok']),
    );
    expect(r.summary!.hooks.filter((h) => h.startsWith('start:'))).toHaveLength(50);
    expect(r.summary!.hooks.filter((h) => h.startsWith('done:'))).toHaveLength(50);
    // Each child got its equal share of the bound: 6 over 6 children.
    const shares = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(
        async (b) =>
          startInput<{ maxParallel: number }>(await historyOf(`${r.workflowId}/batch-${b}`)).maxParallel,
      ),
    );
    expect(shares).toEqual([1, 1, 1, 1, 1, 1]);
  });

  test('parent and child histories replay', async () => {
    await replay(r.history, r.workflowId);
    await replay(await historyOf(`${r.workflowId}/batch-0`), `${r.workflowId}/batch-0`);
  });
});

test('batched fake fan-out with fewer slots than batches: bound 3 → 3 children at a time, a freed share starts the next batch', async () => {
  const r = await runFake({
    items: fakeItems(50, () => ({ ms: 150 })),
    maxParallel: 3,
    maxFailures: 3,
    batchSize: 10,
  });
  expect(r.error).toBeUndefined();
  // 3 slots of share 1; 5 batches needed, rounded up to 6 so every slot runs two equal batches.
  expect(r.summary!.batches).toBe(6);
  expect(r.rec.maxRunning).toBeLessThanOrEqual(3);
  expect(r.rec.maxConcurrentWorkflows).toBeLessThanOrEqual(3);
  expect(r.rec.maxConcurrentWorkflows).toBeGreaterThanOrEqual(2);
  expect(r.rec.started()).toEqual(keys(0, 49));
});

test('fake failure budget across batches: the parent stops running children, later batches get only what is left', async () => {
  // 4 batches of 5, bound 2 → 2 children at a time with a share of 1 each; budget 3.
  //   batch 0 (i0-i4): i0 fails, fast          batch 1 (i5-i9): slow, ok
  //   batch 2 (i10-14): all fail, fast         batch 3 (i15-19): never starts
  // Batch 2 starts when batch 0 ends, with 3 - 1 = 2 failures left: it stops itself after i10, i11
  // (with the whole budget it would start i12 before any stop could reach it). Its 2nd failure
  // spends the budget: the parent tells batch 1 to stop, so batch 1 starts nothing after i5.
  const items = fakeItems(20, (i) =>
    i === 0
      ? { ms: 50, fail: 'result' }
      : i < 5
        ? { ms: 50 }
        : i < 10
          ? { ms: 5000 }
          : i < 15
            ? { ms: 50, fail: 'result' }
            : { ms: 50 },
  );
  const r = await runFake({ items, maxParallel: 2, maxFailures: 3, batchSize: 5 });
  expect(r.error).toBeUndefined();
  expect(r.summary).toMatchObject({ failures: 3, budgetSpent: true, batches: 3 });
  expect(r.rec.started()).toEqual([...keys(0, 5), 'i10', 'i11']);
  expect(r.summary!.results.filter((x) => x.status === 'not-started').map((x) => x.key)).toEqual([
    ...keys(6, 9),
    ...keys(12, 19),
  ]);
  expect(r.summary!.hooks.filter((h) => h.startsWith('not-started:'))).toHaveLength(12);

  const batch = (b: number) => `${r.workflowId}/batch-${b}`;
  expect(startInput<{ maxFailures: number }>(await historyOf(batch(2))).maxFailures).toBe(2);
  expect(signalNames(await historyOf(batch(1)))).toEqual([FAN_OUT_STOP_SIGNAL]);
  expect(signalNames(r.history)).toEqual([
    FAN_OUT_ITEM_FAILED_SIGNAL,
    FAN_OUT_ITEM_FAILED_SIGNAL,
    FAN_OUT_ITEM_FAILED_SIGNAL,
  ]);
  await replay(r.history, r.workflowId);
  for (const b of [0, 1, 2]) await replay(await historyOf(batch(b)), batch(b));
});

test('fake failure budget across concurrent batches: the first child to spend it stops all others', async () => {
  // 5 children at once (bound 5, share 1 each), budget 2: batch 0's first two items fail fast.
  const items = fakeItems(50, (i) => (i < 2 ? { ms: 50, fail: 'result' } : { ms: 4000 }));
  const r = await runFake({ items, maxParallel: 5, maxFailures: 2, batchSize: 10 });
  expect(r.summary).toMatchObject({ failures: 2, budgetSpent: true, batches: 5 });
  // Batch 0 ran its two failures (its own budget), each other child only its first item.
  expect(r.rec.started()).toEqual(['i0', 'i1', 'i10', 'i20', 'i30', 'i40']);
  for (const b of [1, 2, 3, 4]) {
    expect(signalNames(await historyOf(`${r.workflowId}/batch-${b}`))).toEqual([FAN_OUT_STOP_SIGNAL]);
  }
});

test('fake cancellation of a batched fan-out: children are cancelled with the parent, their running activities see it', async () => {
  let cancelledAt = 0;
  const r = await runFake(
    { items: fakeItems(30, () => ({ ms: 60_000 })), maxParallel: 6, maxFailures: 3, batchSize: 10 },
    {
      during: async (handle, rec) => {
        await waitFor('6 running fake items', () => rec.running === 6);
        cancelledAt = Date.now();
        await handle.cancel();
      },
    },
  );
  expect(r.error).toBeInstanceOf(WorkflowFailedError);
  expect((r.error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect(r.rec.records).toHaveLength(6);
  expect(r.rec.records.every((x) => x.cancelled === true && x.end !== undefined)).toBe(true);
  expect(r.rec.records.filter((x) => x.start > cancelledAt)).toEqual([]);
  for (const b of [0, 1, 2]) {
    const child = await ts.env.client.workflow.getHandle(`${r.workflowId}/batch-${b}`).describe();
    expect(child.status.name).toBe('CANCELLED');
  }
});

test('onError in batch children: a fake activity failure becomes a failed result, the other batches go on', async () => {
  const r = await runFake({
    items: fakeItems(25, (i) => (i === 13 ? { ms: 30, fail: 'throw' } : { ms: 100 })),
    maxParallel: 4,
    maxFailures: 5,
    batchSize: 10,
    useOnError: true,
  });
  expect(r.error).toBeUndefined();
  expect(r.summary).toMatchObject({ failures: 1, budgetSpent: false, batches: 4 }); // 3 needed, 4 balanced (a divisor of the bound)
  expect(r.summary!.results.find((x) => x.key === 'i13')).toMatchObject({
    status: 'done',
    outcome: 'failed',
    reason: 'FakeItemFailed',
  });
  expect(r.summary!.results.filter((x) => x.outcome === 'ok')).toHaveLength(24);
  // The failure reached the parent live (signal) and with the batch's result: one onDone, not two.
  expect(r.summary!.hooks.filter((h) => h === 'done:i13:failed')).toHaveLength(1);
  expect(signalNames(r.history)).toEqual([FAN_OUT_ITEM_FAILED_SIGNAL]);
});

test('a batch child that fails (fake activity error, no onError) aborts the fan-out: others told to stop, in-flight items finish, the error propagates', async () => {
  const items = fakeItems(30, (i) => (i === 0 ? { ms: 50, fail: 'throw' } : { ms: 1500 }));
  const r = await runFake({ items, maxParallel: 3, maxFailures: 5, batchSize: 10 });
  expect(r.error).toBeInstanceOf(WorkflowFailedError);
  const cause = (r.error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ChildWorkflowFailure);
  expect((cause as ChildWorkflowFailure).cause).toBeInstanceOf(ActivityFailure);
  expect(r.rec.started()).toEqual(['i0', 'i10', 'i20']);
  expect(r.rec.records.every((x) => x.end !== undefined && x.cancelled === undefined)).toBe(true);
  for (const b of [1, 2]) {
    const id = `${r.workflowId}/batch-${b}`;
    expect(signalNames(await historyOf(id))).toEqual([FAN_OUT_STOP_SIGNAL]);
    expect((await ts.env.client.workflow.getHandle(id).describe()).status.name).toBe('COMPLETED');
  }
});

describe('planBatches: balanced batches, equal shares that sum to the bound', () => {
  test.each([
    // n, size, bound, maxConcurrent → batch sizes, shares
    [400, 120, 10, undefined, Array(5).fill(80), Array(5).fill(2)],
    [4000, 120, 10, undefined, Array(40).fill(100), Array(10).fill(1)],
    [600, 120, 20, undefined, Array(5).fill(120), Array(5).fill(4)],
    [121, 120, 10, undefined, [61, 60], [5, 5]],
    [50, 10, 6, undefined, [9, 9, 8, 8, 8, 8], Array(6).fill(1)],
    [400, 120, 10, 2, Array(4).fill(100), [5, 5]],
    [30, 10, 7, undefined, [5, 5, 4, 4, 4, 4, 4], Array(7).fill(1)],
  ])('%i items, size %i, bound %i, maxConcurrent %s', (n, size, bound, maxConcurrent, sizes, shares) => {
    const plan = planBatches(n, size, bound, maxConcurrent);
    expect(plan.shares).toEqual(shares);
    expect(plan.sizes.reduce((a, b) => a + b, 0)).toBe(n);
    expect(Math.max(...plan.sizes)).toBeLessThanOrEqual(size);
    expect(plan.shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(bound);
    expect(plan.sizes).toEqual(sizes);
  });
});
