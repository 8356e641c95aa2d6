/**
 * fanOut: run one piece of work (activities) per item, deterministically, in the calling workflow,
 * under one bound on items in flight and one failure budget. Cancellation is never swallowed.
 *
 * Why a library: every procedure that touches many nodes (pre-pull, logrotate sync, reboot, rescan)
 * needs the same four guarantees (bound, budget, not-started reporting, cancellation), and getting
 * them right once, with tests on the time-skipping server, beats re-deriving them per procedure.
 *
 * `min(maxParallel, items)` lanes are started in item order; each lane takes the next item when its
 * previous item is done, and stops taking items once the budget is spent, a fatal error was seen, or
 * the scope is cancelled. Failures already in flight when the budget is spent still finish and count,
 * so `failures` may exceed `maxFailures`. A large fan-out keeps its history small by making each item
 * stand for many (calico's pre-pull runs batches of pairs as one activity each, `failureCount`).
 *
 * Workflow code: imports only @temporalio/workflow and @temporalio/common.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { CancellationScope, isCancellation } from '@temporalio/workflow';

/** ApplicationFailure type for options a fan-out cannot run with (a programming error, not retried). */
export const INVALID_FAN_OUT_OPTIONS = 'InvalidFanOutOptions';

/** One item's outcome, in the order of `items`: what the caller reports per node/pair. */
export interface FanOutItemResult<T, R> {
  item: T;
  key: string;
  /** 'not-started': the budget was spent (or an error came) before the item's turn. */
  status: 'done' | 'not-started';
  /** Present when status is 'done'. */
  result?: R;
  /** isFailure(result) (false for not-started items): what the budget counted. */
  failed: boolean;
}

/**
 * A fan-out item that stands for several (one batch activity's nodes): its index names it in
 * results and progress.
 */
export interface Batch<T> {
  index: number;
  items: T[];
}

/** `items` cut in order into batches of `size` (the last one shorter). */
export function batchesOf<T>(items: readonly T[], size: number): Batch<T>[] {
  const out: Batch<T>[] = [];
  for (let start = 0; start < items.length; start += size)
    out.push({ index: out.length, items: items.slice(start, start + size) });
  return out;
}

/** What fanOut returns: every item, plus the numbers a report needs without recounting. */
export interface FanOutResult<T, R> {
  results: FanOutItemResult<T, R>[];
  /** Failed items (in-flight failures after the budget was spent included). */
  failures: number;
  /** failures ≥ maxFailures: some items may be not-started because of it. */
  budgetSpent: boolean;
}

/** Options of fanOut; the hooks run in workflow code (deterministic, no I/O). */
export interface FanOutOptions<T, R> {
  items: T[];
  /** Stable and unique per item: names the item in results and progress. */
  key: (item: T) => string;
  /** Bound on items in flight. */
  maxParallel: number;
  /** Once this many items failed, no new item starts (in-flight ones finish). Infinity: no budget. */
  maxFailures: number;
  /** The item's work (activities). A cancellation it throws always propagates. */
  run: (item: T) => Promise<R>;
  /** A result that counts as a failure (e.g. outcome 'failed'); default: never. */
  isFailure?: (result: R) => boolean;
  /**
   * How many failures a result counts for against `maxFailures` (default: 1 if isFailure, else 0),
   * for an item that stands for several (a batch of pairs in one activity).
   */
  failureCount?: (result: R) => number;
  /**
   * Turns a thrown error (NOT a cancellation: those always propagate) into a result; default:
   * rethrow, i.e. no new item starts, in-flight items finish, then fanOut throws the first error.
   */
  onError?: (item: T, err: unknown) => R;
  /** The item starts. */
  onStart?: (item: T) => void;
  /** The item is done. */
  onDone?: (item: T, result: R) => void;
  /** Called once per item that never started, when the fan-out ends (not when it throws). */
  onNotStarted?: (item: T) => void;
}

/**
 * Runs `run` on every item under the bound and the failure budget. Resolves with every item's result
 * or not-started status; rejects with the cancellation if the scope is cancelled (after every running
 * item has settled), or with the first non-cancellation error when there is no onError (after
 * in-flight items finish).
 */
export async function fanOut<T, R>(opts: FanOutOptions<T, R>): Promise<FanOutResult<T, R>> {
  validate(opts);
  const keys = opts.items.map(opts.key);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw invalid(`duplicate item key "${k}"`);
    seen.add(k);
  }
  const out = await runLanes(opts, keys);
  if (opts.onNotStarted)
    for (const r of out.results) if (r.status === 'not-started') opts.onNotStarted(r.item);
  return out;
}

/**
 * The lanes. Command order is part of every recorded history: lanes are started synchronously in
 * order, each calls `run` for its first item before the next lane starts, and a lane takes the next
 * item right after its previous one is done, with no await in between.
 */
async function runLanes<T, R>(o: FanOutOptions<T, R>, keys: string[]): Promise<FanOutResult<T, R>> {
  const scope = CancellationScope.current();
  const done = new Map<number, { result: R; failed: boolean }>();
  let next = 0;
  let failures = 0;
  const errors: { cancellation?: unknown; fatal?: unknown; hasFatal: boolean } = { hasFatal: false };
  const stopStarting = () =>
    failures >= o.maxFailures ||
    errors.hasFatal ||
    errors.cancellation !== undefined ||
    scope.consideredCancelled;

  const lane = async () => {
    while (next < o.items.length && !stopStarting()) {
      const index = next++;
      const item = o.items[index]!;
      try {
        o.onStart?.(item);
        let result: R;
        try {
          result = await o.run(item);
        } catch (err) {
          if (isCancellation(err) || !o.onError) throw err;
          result = o.onError(item, err);
        }
        const failed = o.isFailure?.(result) ?? false;
        failures += o.failureCount ? o.failureCount(result) : failed ? 1 : 0;
        done.set(index, { result, failed });
        o.onDone?.(item, result);
      } catch (err) {
        // Never swallowed: kept, the lane ends, and it is rethrown once every lane has settled, so
        // every running item sees the cancellation (or finishes) before the caller moves on.
        if (isCancellation(err)) errors.cancellation ??= err;
        else if (!errors.hasFatal) {
          errors.hasFatal = true;
          errors.fatal = err;
        }
        return;
      }
    }
  };
  // Lanes never reject (see the catch above): this waits for every lane to settle.
  await Promise.all(Array.from({ length: Math.min(o.maxParallel, o.items.length) }, lane));
  if (errors.cancellation !== undefined) throw errors.cancellation;
  if (errors.hasFatal) throw errors.fatal;
  if (scope.consideredCancelled && done.size < o.items.length) {
    // Cancelled between items (every running item had just finished): still not a normal end.
    throw new CancelledFailure('fan-out cancelled before every item started');
  }
  return {
    results: o.items.map((item, i) => {
      const d = done.get(i);
      return d
        ? { item, key: keys[i]!, status: 'done', result: d.result, failed: d.failed }
        : { item, key: keys[i]!, status: 'not-started', failed: false };
    }),
    failures,
    budgetSpent: failures >= o.maxFailures,
  };
}

function validate<T, R>(o: FanOutOptions<T, R>): void {
  const problems: string[] = [];
  if (!Number.isInteger(o.maxParallel) || o.maxParallel < 1)
    problems.push('maxParallel must be an integer ≥ 1');
  if (!(o.maxFailures === Infinity || (Number.isInteger(o.maxFailures) && o.maxFailures >= 1))) {
    problems.push('maxFailures must be an integer ≥ 1 or Infinity');
  }
  if (problems.length) throw invalid(problems.join('; '));
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`fanOut: ${message}`, INVALID_FAN_OUT_OPTIONS);
}
