/**
 * Test-only workflows for test/unit/fan-out.test.ts: fanOut (src/workflows/lib/fan-out.ts) over a
 * FAKE activity, `fakeItemWork`, that only sleeps and records what ran when (the test implements it).
 * Not part of the worker's workflows.
 */
import { ActivityCancellationType, proxyActivities, workflowInfo } from '@temporalio/workflow';
import {
  fanOut,
  runFanOutBatch,
  type FanOutBatchInput,
  type FanOutBatchOptions,
} from '../../../src/workflows/lib/fan-out';

export interface FakeItem {
  key: string;
  /** How long the fake work takes (real time: activities do not skip time). */
  ms: number;
  /** 'result': returns outcome 'failed'; 'throw': throws a non-retryable ApplicationFailure. */
  fail?: 'result' | 'throw';
}

export interface FakeItemOutcome {
  key: string;
  outcome: 'ok' | 'failed';
  reason?: string;
}

export interface FakeActivities {
  fakeItemWork(item: FakeItem): Promise<FakeItemOutcome>;
}

const { fakeItemWork } = proxyActivities<FakeActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '1s',
  retry: { maximumAttempts: 1 },
  // The fan-out waits for each running item to acknowledge the cancellation (the fake records it).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export interface FakeFanOutInput {
  items: FakeItem[];
  maxParallel: number;
  maxFailures: number;
  /** Batch children above this many items. */
  batchSize?: number;
  maxConcurrentBatches?: number;
  /** Map a thrown activity failure to a failed result instead of failing the fan-out. */
  useOnError?: boolean;
}

export interface FakeFanOutSummary {
  results: { key: string; status: string; outcome?: string; reason?: string }[];
  failures: number;
  budgetSpent: boolean;
  batches: number;
  /** Hook calls, in order: `start:<key>`, `done:<key>:<outcome>`, `not-started:<key>`. */
  hooks: string[];
}

interface FakeContext {
  useOnError: boolean;
}

function batchOptions(useOnError: boolean): FanOutBatchOptions<FakeItem, FakeItemOutcome> {
  return {
    isFailure: (r) => r.outcome === 'failed',
    onError: useOnError ? activityFailureAsResult : undefined,
  };
}

function activityFailureAsResult(item: FakeItem, err: unknown): FakeItemOutcome {
  const cause = (err as { cause?: { type?: string } }).cause;
  return { key: item.key, outcome: 'failed', reason: cause?.type ?? 'ActivityFailed' };
}

/** A plain (or, with batchSize, batched) fan-out over the fake activity. */
export async function fakeFanOutWorkflow(input: FakeFanOutInput): Promise<FakeFanOutSummary> {
  const hooks: string[] = [];
  const context: FakeContext = { useOnError: input.useOnError ?? false };
  const r = await fanOut<FakeItem, FakeItemOutcome>({
    items: input.items,
    key: (i) => i.key,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: (item) => fakeItemWork(item),
    ...batchOptions(context.useOnError),
    onStart: (item) => hooks.push(`start:${item.key}`),
    onDone: (item, result) => hooks.push(`done:${item.key}:${result.outcome}`),
    onNotStarted: (item) => hooks.push(`not-started:${item.key}`),
    batching: input.batchSize
      ? {
          size: input.batchSize,
          workflowType: 'fakeFanOutBatchWorkflow',
          workflowId: (b) => `${workflowInfo().workflowId}/batch-${b}`,
          context,
          maxConcurrent: input.maxConcurrentBatches,
        }
      : undefined,
  });
  return {
    results: r.results.map((x) => ({
      key: x.key,
      status: x.status,
      ...(x.result ? { outcome: x.result.outcome, reason: x.result.reason } : {}),
    })),
    failures: r.failures,
    budgetSpent: r.budgetSpent,
    batches: r.batches,
    hooks,
  };
}

/** The batch child of fakeFanOutWorkflow: the ~3-line batch workflow a procedure writes. */
export async function fakeFanOutBatchWorkflow(input: FanOutBatchInput<FakeItem, FakeContext>) {
  return runFanOutBatch(
    input,
    (item) => fakeItemWork(item),
    batchOptions(input.context?.useOnError ?? false),
  );
}
