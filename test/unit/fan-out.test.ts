/**
 * fanOut (src/workflows/lib/fan-out.ts), the workflows' fan-out building block, on the time-skipping
 * test server with a FAKE activity (fakeItemWork: sleeps, heartbeats, records what ran when and
 * whether it saw a cancellation). Everything asserted about concurrency is measured by the fake
 * activity, not taken from the workflow's own word.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
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
        r.end = Date.now();
      }
      if (item.fail === 'throw') {
        throw ApplicationFailure.nonRetryable(`fake failure of ${item.key}`, 'FakeItemFailed');
      }
      return item.fail === 'result'
        ? { key: item.key, outcome: 'failed', reason: 'fake', weight: item.failureWeight ?? 1 }
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
    during?: (handle: WorkflowHandle, rec: FakeRecorder) => Promise<void>;
  } = {},
): Promise<FakeRun> {
  const rec = new FakeRecorder();
  const workflowId = `fan-out-fake/${randomUUID()}`;
  return ts.withWorker(fakeActivities(rec), async (taskQueue) => {
    const handle = await ts.env.client.workflow.start('fakeFanOutWorkflow', {
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

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
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
    expect(r.summary!.results.map((x) => [x.key, x.status, x.outcome])).toEqual(
      keys(0, 19).map((k) => [k, 'done', 'ok']),
    );
    // Lane order: the four lanes take items 0..3 first, each next item after a done one.
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

  test('failureCount: an item that stands for several spends that many of the budget', async () => {
    // i0 fails counting 3 (a batch of 3 failed pairs): with a budget of 3 nothing starts after it.
    const items = fakeItems(6, (i) => (i === 0 ? { ms: 50, fail: 'result', failureWeight: 3 } : { ms: 400 }));
    const r = await runFake({ items, maxParallel: 2, maxFailures: 3, countFailures: true });
    expect(r.summary).toMatchObject({ failures: 3, budgetSpent: true });
    expect(r.rec.started()).toEqual(['i0', 'i1']);
    expect(r.summary!.results.filter((x) => x.status === 'not-started').map((x) => x.key)).toEqual(
      keys(2, 5),
    );
  });
});
