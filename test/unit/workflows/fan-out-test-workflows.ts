/**
 * Test-only workflows for test/unit/fan-out.test.ts: fanOut (src/workflows/lib/fan-out.ts) over a
 * FAKE activity, `fakeItemWork`, that only sleeps and records what ran when (the test implements it).
 * Not part of the worker's workflows.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import { fanOut } from '../../../src/workflows/lib/fan-out';

export interface FakeItem {
  key: string;
  /** How long the fake work takes (real time: activities do not skip time). */
  ms: number;
  /** 'result': returns outcome 'failed'; 'throw': throws a non-retryable ApplicationFailure. */
  fail?: 'result' | 'throw';
  /** With fail 'result': how many failures the result counts for (FakeFanOutInput.countFailures). */
  failureWeight?: number;
}

export interface FakeItemOutcome {
  key: string;
  outcome: 'ok' | 'failed';
  reason?: string;
  /** A failed result's failure count (its item's failureWeight). */
  weight?: number;
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
  /** Count each failed result as its `weight` failures (fanOut's failureCount). */
  countFailures?: boolean;
  /** Map a thrown activity failure to a failed result instead of failing the fan-out. */
  useOnError?: boolean;
}

export interface FakeFanOutSummary {
  results: { key: string; status: string; outcome?: string; reason?: string }[];
  failures: number;
  budgetSpent: boolean;
  /** Hook calls, in order: `start:<key>`, `done:<key>:<outcome>`, `not-started:<key>`. */
  hooks: string[];
}

function activityFailureAsResult(item: FakeItem, err: unknown): FakeItemOutcome {
  const cause = (err as { cause?: { type?: string } }).cause;
  return { key: item.key, outcome: 'failed', reason: cause?.type ?? 'ActivityFailed' };
}

/** A fan-out over the fake activity. */
export async function fakeFanOutWorkflow(input: FakeFanOutInput): Promise<FakeFanOutSummary> {
  const hooks: string[] = [];
  const r = await fanOut<FakeItem, FakeItemOutcome>({
    items: input.items,
    key: (i) => i.key,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: (item) => fakeItemWork(item),
    isFailure: (r) => r.outcome === 'failed',
    ...(input.useOnError ? { onError: activityFailureAsResult } : {}),
    ...(input.countFailures
      ? { failureCount: (r: FakeItemOutcome) => (r.outcome === 'failed' ? (r.weight ?? 1) : 0) }
      : {}),
    onStart: (item) => hooks.push(`start:${item.key}`),
    onDone: (item, result) => hooks.push(`done:${item.key}:${result.outcome}`),
    onNotStarted: (item) => hooks.push(`not-started:${item.key}`),
  });
  return {
    results: r.results.map((x) => ({
      key: x.key,
      status: x.status,
      ...(x.result ? { outcome: x.result.outcome, reason: x.result.reason } : {}),
    })),
    failures: r.failures,
    budgetSpent: r.budgetSpent,
    hooks,
  };
}
