/**
 * fanOut: run one piece of work (activities) per item, deterministically, under one global bound on
 * items in flight and one failure budget, either in the calling workflow or, above a batch size, in
 * child workflows that run concurrently and share the bound. Cancellation is never swallowed.
 *
 * Why a library: every procedure that touches many nodes (pre-pull, logrotate sync, reboot, rescan)
 * needs the same four guarantees (bound, budget, not-started reporting, cancellation), and getting
 * them right once, with tests on the time-skipping server, beats re-deriving them per procedure.
 *
 * In-workflow path (items ≤ batching.size, or no batching): `min(maxParallel, items)` lanes are
 * started in item order; each lane takes the next item when its previous item is done, and stops
 * taking items once the budget is spent, a fatal error was seen, or the scope is cancelled.
 *
 * Batched path: items are cut into balanced batches of at most `batching.size` (planBatches); a
 * divisor of maxParallel's worth of child workflows run at once, each with an equal share of
 * `maxParallel` (shares sum to maxParallel, each ≥ 1); when a child ends, the next batch starts on its share. A
 * child signals the parent on each failure (`nksFanOutItemFailed`); once the total reaches the budget
 * the parent signals every running child to stop starting items (`nksFanOutStop`), starts no more
 * batches, and a batch started later gets only what is left of the budget. The parent sees
 * per-item results when a batch completes and failures live (with their result); every other per-item
 * detail (when each item started and ended, its activity attempts) lives in the child's history.
 *
 * Limits: one batched fan-out at a time per workflow (the parent's signal handler is per workflow);
 * failures already in flight when the budget is spent still finish and count, and across children a
 * child may start an item in the round trip between another child's failure and the parent's stop
 * signal, so `failures` may exceed `maxFailures`.
 *
 * Workflow code: imports only @temporalio/workflow and @temporalio/common.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  CancellationScope,
  type ChildWorkflowHandle,
  type ChildWorkflowOptions,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';

/**
 * Signal names are part of recorded histories: never rename them (a history replayed with another
 * name would no longer deliver its signals to the handler).
 */
export const FAN_OUT_ITEM_FAILED_SIGNAL = 'nksFanOutItemFailed';
export const FAN_OUT_STOP_SIGNAL = 'nksFanOutStop';
/** ApplicationFailure type for options a fan-out cannot run with (a programming error, not retried). */
export const INVALID_FAN_OUT_OPTIONS = 'InvalidFanOutOptions';

/** Child → parent: one item of the batch failed (sent once per failed item, as soon as it is known). */
export interface FanOutItemFailed {
  /** The batch child's workflow ID: the parent ignores signals from children it did not start. */
  batchWorkflowId: string;
  key: string;
  /** The item's result (as the child's isFailure judged it), so the parent's progress shows it live. */
  result: unknown;
}
/** Sent by each batch child to its parent, so the parent can enforce the global failure budget live. */
export const fanOutItemFailedSignal = defineSignal<[FanOutItemFailed]>(FAN_OUT_ITEM_FAILED_SIGNAL);

/** Parent → child: start no new item (in-flight items finish). */
export interface FanOutStop {
  reason: 'failure-budget-spent' | 'fan-out-aborted';
  /** Failures the parent knew of when it decided to stop. */
  failures: number;
}
/** Sent by the parent to every running batch child once the budget is spent (or the fan-out aborts). */
export const fanOutStopSignal = defineSignal<[FanOutStop]>(FAN_OUT_STOP_SIGNAL);

/** One item's outcome, in the order of `items`: what the caller reports per node/pair. */
export interface FanOutItemResult<T, R> {
  item: T;
  key: string;
  /** 'not-started': the budget was spent (or a stop came) before the item's turn. */
  status: 'done' | 'not-started';
  /** Present when status is 'done'. */
  result?: R;
  /** isFailure(result) (false for not-started items): what the budget counted. */
  failed: boolean;
}

/** What fanOut returns: every item, plus the numbers a report needs without recounting. */
export interface FanOutResult<T, R> {
  results: FanOutItemResult<T, R>[];
  /** Failed items (in-flight failures after the budget was spent included). */
  failures: number;
  /** failures ≥ maxFailures: some items may be not-started because of it. */
  budgetSpent: boolean;
  /** Child workflows started (0: everything ran in this workflow). */
  batches: number;
}

/** Above `size` items, the work runs in child workflows of `size` items each, concurrently. */
export interface FanOutBatching {
  /** Items per child workflow; at most this many items run in the calling workflow itself. */
  size: number;
  /** The batch child workflow type: a workflow that calls runFanOutBatch with its input. */
  workflowType: string;
  /** The child's workflow ID for a batch; unique per batch and per fan-out (e.g. `${parentId}/pre-pull-${i}`). */
  workflowId: (batchIndex: number) => string;
  /** Passed to every child in FanOutBatchInput.context (and to its run): cluster, namespace, timeouts. */
  context?: unknown;
  /** Fewer concurrent children than min(batches, maxParallel), each with a larger share. */
  maxConcurrent?: number;
  /**
   * Other child options (task queue, timeouts, search attributes). Default retry: one attempt (a
   * retried batch would run its done items again and count their failures twice). The default
   * cancellationType (WAIT_CANCELLATION_COMPLETED) and parentClosePolicy (TERMINATE) are what make
   * children end with the parent; change them only knowingly.
   */
  childOptions?: Omit<ChildWorkflowOptions, 'workflowId' | 'args'>;
}

/** Options of fanOut; the hooks run in workflow code (deterministic, no I/O). */
export interface FanOutOptions<T, R> {
  items: T[];
  /** Stable and unique per item: names the item in results, signals and progress. */
  key: (item: T) => string;
  /** Global bound on items in flight, across concurrently running child batches too. */
  maxParallel: number;
  /** Once this many items failed, no new item starts (in-flight ones finish). Infinity: no budget. */
  maxFailures: number;
  /**
   * The item's work (activities). A cancellation it throws always propagates. With batching, items
   * above `batching.size` run in the batch workflow's own run (runFanOutBatch), and this one runs
   * only fan-outs small enough for this workflow: the two should do the same.
   */
  run: (item: T) => Promise<R>;
  /**
   * A result that counts as a failure (e.g. outcome 'failed'); default: never. With batching, the
   * children judge with the isFailure given to runFanOutBatch: define it once, pass it to both.
   */
  isFailure?: (result: R) => boolean;
  /**
   * How many failures a result counts for against `maxFailures` (default: 1 if isFailure, else 0),
   * for an item that stands for several (a batch of pairs in one activity). In-workflow only: not
   * with `batching`.
   */
  failureCount?: (result: R) => number;
  /**
   * Turns a thrown error (NOT a cancellation: those always propagate) into a result; default:
   * rethrow, i.e. no new item starts, in-flight items finish, then fanOut throws the first error.
   */
  onError?: (item: T, err: unknown) => R;
  /** The item starts (in batches: its batch child is being started). */
  onStart?: (item: T) => void;
  /** The item is done (in batches: failures live via signal, the others when the batch completes). */
  onDone?: (item: T, result: R) => void;
  /** Called once per item that never started, when the fan-out ends (not when it throws). */
  onNotStarted?: (item: T) => void;
  /** Above `size` items, run the work in child workflows of `size` items each. */
  batching?: FanOutBatching;
}

/** The single argument of a batch child workflow: its slice, its share of the bound and budget. */
export interface FanOutBatchInput<T, C = unknown> {
  batchIndex: number;
  items: T[];
  /** keys[i] is items[i]'s key, as the parent computed it. */
  keys: string[];
  /** This child's share of the global bound. */
  maxParallel: number;
  /** What was left of the failure budget when this child started (at most its item count). */
  maxFailures: number;
  context?: C;
}

/** What a batch child returns: one entry per input item, in input order. */
export interface FanOutBatchResult<R> {
  results: { key: string; status: 'done' | 'not-started'; result?: R; failed: boolean }[];
  failures: number;
  budgetSpent: boolean;
  /** The parent told this child to stop starting items. */
  stopped: boolean;
}

/** The per-item hooks a batch child applies; give it the same isFailure/onError as the parent's. */
export type FanOutBatchOptions<T, R> = Pick<
  FanOutOptions<T, R>,
  'isFailure' | 'onError' | 'onStart' | 'onDone'
>;

/**
 * Runs `run` on every item under the bound and the failure budget, in this workflow or in concurrent
 * batch children (see the module comment). Resolves with every item's result or not-started status;
 * rejects with the cancellation if the scope is cancelled (after every running item has settled),
 * or with the first non-cancellation error when there is no onError (after in-flight items finish).
 */
export async function fanOut<T, R>(opts: FanOutOptions<T, R>): Promise<FanOutResult<T, R>> {
  validate(opts);
  const keys = opts.items.map(opts.key);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw invalid(`duplicate item key "${k}"`);
    seen.add(k);
  }
  let out: FanOutResult<T, R>;
  if (opts.batching && opts.items.length > opts.batching.size) {
    out = await fanOutBatched(opts, keys, opts.batching);
  } else {
    const r = await runInline({
      items: opts.items,
      keys,
      maxParallel: opts.maxParallel,
      maxFailures: opts.maxFailures,
      run: opts.run,
      isFailure: opts.isFailure,
      failureCount: opts.failureCount,
      onError: opts.onError,
      onStart: opts.onStart,
      onDone: opts.onDone ? (item, result) => opts.onDone!(item, result) : undefined,
    });
    out = { ...r, batches: 0 };
  }
  if (opts.onNotStarted)
    for (const r of out.results) if (r.status === 'not-started') opts.onNotStarted(r.item);
  return out;
}

/**
 * The body of a batch child workflow: runs its slice in this workflow with its share of the bound
 * and what was left of the budget, tells the parent about each failure, and stops starting items
 * when the parent says so. A procedure's batch workflow is then one line, e.g.
 *
 *   export async function calicoPrePullBatch(input: FanOutBatchInput<Pair, PrePullContext>) {
 *     return runFanOutBatch(input, (pair, ctx) => prePullOne(pair, ctx), { isFailure: isFailedPull });
 *   }
 *
 * Call it before the workflow's first await (it registers the stop signal's handler); a synchronous
 * `patched()` before it is fine.
 */
export async function runFanOutBatch<T, R, C = unknown>(
  input: FanOutBatchInput<T, C>,
  run: (item: T, context: C) => Promise<R>,
  options: FanOutBatchOptions<T, R> = {},
): Promise<FanOutBatchResult<R>> {
  let stop: FanOutStop | undefined;
  setHandler(fanOutStopSignal, (s) => {
    stop ??= s;
  });
  const info = workflowInfo();
  const parent = info.parent
    ? getExternalWorkflowHandle(info.parent.workflowId, info.parent.runId)
    : undefined;
  const signalErrors: unknown[] = [];
  const signals: Promise<void>[] = [];
  const r = await runInline({
    items: input.items,
    keys: input.keys,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: (item) => run(item, input.context as C),
    isFailure: options.isFailure,
    onError: options.onError,
    onStart: options.onStart,
    onDone: (item, result, key, failed) => {
      if (failed && parent) {
        // Not awaited: the lane goes on; settled below, before this batch's result is returned, so
        // the parent has every failure signal before it sees the batch complete.
        signals.push(
          parent
            .signal(fanOutItemFailedSignal, { batchWorkflowId: info.workflowId, key, result })
            .catch((err: unknown) => {
              // Held (not swallowed): a cancellation is rethrown below; any other error means the
              // parent is gone, and then nobody is left to tell.
              signalErrors.push(err);
            }),
        );
      }
      options.onDone?.(item, result);
    },
    stopRequested: () => stop !== undefined,
  });
  await Promise.all(signals);
  const cancelled = signalErrors.find(isCancellation);
  if (cancelled !== undefined) throw cancelled;
  return {
    results: r.results.map(({ key, status, result, failed }) =>
      status === 'done' ? { key, status, result, failed } : { key, status, failed },
    ),
    failures: r.failures,
    budgetSpent: r.budgetSpent,
    stopped: stop !== undefined,
  };
}

interface InlineRun<T, R> {
  items: T[];
  keys: string[];
  maxParallel: number;
  maxFailures: number;
  run: (item: T) => Promise<R>;
  isFailure?: (result: R) => boolean;
  failureCount?: (result: R) => number;
  onError?: (item: T, err: unknown) => R;
  onStart?: (item: T) => void;
  onDone?: (item: T, result: R, key: string, failed: boolean) => void;
  /** An outside reason to start no new item (the parent's stop signal). */
  stopRequested?: () => boolean;
}

/**
 * The lanes. Command order matters for replay: lanes are started synchronously in order, each calls
 * `run` for its first item before the next lane starts, and a lane takes the next item right after
 * its previous one is done, with no await in between.
 */
async function runInline<T, R>(o: InlineRun<T, R>): Promise<Omit<FanOutResult<T, R>, 'batches'>> {
  const scope = CancellationScope.current();
  const done = new Map<number, { result: R; failed: boolean }>();
  let next = 0;
  let failures = 0;
  const errors: { cancellation?: unknown; fatal?: unknown; hasFatal: boolean } = { hasFatal: false };
  const stopStarting = () =>
    failures >= o.maxFailures ||
    errors.hasFatal ||
    errors.cancellation !== undefined ||
    scope.consideredCancelled ||
    (o.stopRequested?.() ?? false);

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
        o.onDone?.(item, result, o.keys[index]!, failed);
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
  // Lanes never reject (see the catch above), so this is an allSettled.
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
        ? { item, key: o.keys[i]!, status: 'done', result: d.result, failed: d.failed }
        : { item, key: o.keys[i]!, status: 'not-started', failed: false };
    }),
    failures,
    budgetSpent: failures >= o.maxFailures,
  };
}

type BatchWorkflow = (input: FanOutBatchInput<unknown>) => Promise<FanOutBatchResult<unknown>>;

interface BatchState {
  indexes: number[];
  /** Keys whose failure the child signalled. */
  liveFailed: Set<string>;
  /** The child's own count, once it completed (authoritative; ≥ liveFailed.size). */
  finalFailures?: number;
  handle?: ChildWorkflowHandle<BatchWorkflow>;
}

/**
 * How a batched fan-out is cut: batch sizes (balanced, each ≤ `size`, differing by at most one) and
 * the share of the bound of each concurrently running child (equal shares summing to maxParallel).
 * Balance matters because a fan-out ends with its slowest child: cutting 400 items into 120+120+120+40
 * with shares 3,3,2,2 of a bound of 10 takes 60 rounds in the child with share 2, where 5 children of
 * 80 items with share 2 each take the 40 rounds of one workflow with 10 lanes. So the number of
 * concurrent children is a divisor of maxParallel (the smallest that gives each batch ≤ `size` items,
 * else maxParallel children of share 1 with the batch count rounded up to a multiple of it, so every
 * slot runs the same number of equal batches).
 */
export function planBatches(
  n: number,
  size: number,
  maxParallel: number,
  maxConcurrent = Number.POSITIVE_INFINITY,
): { sizes: number[]; shares: number[] } {
  const minBatches = Math.ceil(n / size);
  const cap = Math.max(1, Math.min(maxParallel, maxConcurrent));
  const divisors = Array.from({ length: maxParallel }, (_, i) => i + 1).filter(
    (d) => maxParallel % d === 0 && d <= cap,
  );
  const children = divisors.find((d) => d >= minBatches) ?? divisors[divisors.length - 1]!;
  const batches = Math.min(n, Math.ceil(minBatches / children) * children);
  const sizes = Array.from(
    { length: batches },
    (_, b) => Math.floor(n / batches) + (b < n % batches ? 1 : 0),
  );
  const slots = Math.min(children, batches);
  const shares = Array.from({ length: slots }, () => Math.floor(maxParallel / children));
  return { sizes, shares };
}

async function fanOutBatched<T, R>(
  o: FanOutOptions<T, R>,
  keys: string[],
  batching: FanOutBatching,
): Promise<FanOutResult<T, R>> {
  const scope = CancellationScope.current();
  const n = o.items.length;
  const { sizes, shares } = planBatches(n, batching.size, o.maxParallel, batching.maxConcurrent);
  const batchIndexes: number[][] = [];
  for (let b = 0, start = 0; b < sizes.length; start += sizes[b]!, b++) {
    batchIndexes.push(Array.from({ length: sizes[b]! }, (_, j) => start + j));
  }
  const states = new Map<number, BatchState>();
  const batchOfChild = new Map<string, number>();
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const results: (FanOutItemResult<T, R> | undefined)[] = new Array(n);
  const reported = new Set<number>();
  const stopSignals: Promise<void>[] = [];
  const errors: { cancellation?: unknown; fatal?: unknown; hasFatal: boolean } = { hasFatal: false };
  let stopSent: FanOutStop['reason'] | undefined;
  let nextBatch = 0;
  let started = 0;

  const failures = () => {
    let total = 0;
    for (const s of states.values()) total += Math.max(s.liveFailed.size, s.finalFailures ?? 0);
    return total;
  };
  const fatal = (err: unknown) => {
    if (!errors.hasFatal) {
      errors.hasFatal = true;
      errors.fatal = err;
    }
  };
  const sendStop = (s: BatchState) => {
    if (!s.handle || s.finalFailures !== undefined || !stopSent) return;
    stopSignals.push(
      s.handle.signal(fanOutStopSignal, { reason: stopSent, failures: failures() }).catch((err: unknown) => {
        // The child had already ended (its result is awaited by its slot) or we are being
        // cancelled (the slots see and rethrow that cancellation themselves).
        if (isCancellation(err)) errors.cancellation ??= err;
      }),
    );
  };
  const stopAll = (reason: FanOutStop['reason']) => {
    if (stopSent) return;
    stopSent = reason;
    for (const s of states.values()) sendStop(s);
  };
  const checkBudget = () => {
    if (failures() >= o.maxFailures) stopAll('failure-budget-spent');
  };
  const stopStarting = () =>
    stopSent !== undefined ||
    failures() >= o.maxFailures ||
    errors.hasFatal ||
    errors.cancellation !== undefined ||
    scope.consideredCancelled;

  setHandler(fanOutItemFailedSignal, ({ batchWorkflowId, key, result }) => {
    const b = batchOfChild.get(batchWorkflowId);
    const index = keyIndex.get(key);
    if (b === undefined || index === undefined) return; // another fan-out's child: not ours
    const s = states.get(b)!;
    if (s.liveFailed.has(key)) return;
    s.liveFailed.add(key);
    if (!reported.has(index)) {
      reported.add(index);
      try {
        o.onDone?.(o.items[index]!, result as R);
      } catch (err) {
        fatal(err);
        stopAll('fan-out-aborted');
      }
    }
    checkBudget();
  });

  const slot = async (share: number) => {
    while (nextBatch < batchIndexes.length && !stopStarting()) {
      const b = nextBatch++;
      const indexes = batchIndexes[b]!;
      const state: BatchState = { indexes, liveFailed: new Set() };
      const input: FanOutBatchInput<T> = {
        batchIndex: b,
        items: indexes.map((i) => o.items[i]!),
        keys: indexes.map((i) => keys[i]!),
        maxParallel: share,
        maxFailures: Math.min(o.maxFailures - failures(), indexes.length),
        ...(batching.context !== undefined ? { context: batching.context } : {}),
      };
      try {
        const workflowId = batching.workflowId(b);
        if (batchOfChild.has(workflowId)) throw invalid(`batching.workflowId(${b}) repeats "${workflowId}"`);
        states.set(b, state);
        batchOfChild.set(workflowId, b);
        for (const i of indexes) o.onStart?.(o.items[i]!);
        state.handle = await startChild<BatchWorkflow>(batching.workflowType, {
          retry: { maximumAttempts: 1 },
          ...batching.childOptions,
          workflowId,
          args: [input],
        });
        started++;
        sendStop(state); // the budget was spent while this child was being started
        const child = (await state.handle.result()) as FanOutBatchResult<R>;
        state.finalFailures = child.failures;
        for (const [j, r] of child.results.entries()) {
          const index = keyIndex.get(r.key) ?? indexes[j]!;
          const item = o.items[index]!;
          if (r.status === 'done') {
            results[index] = { item, key: r.key, status: 'done', result: r.result, failed: r.failed };
            if (!reported.has(index)) {
              reported.add(index);
              o.onDone?.(item, r.result as R);
            }
          }
        }
        checkBudget();
      } catch (err) {
        // Never swallowed: kept and rethrown once every slot has settled (children are cancelled
        // with this scope; with WAIT_CANCELLATION_COMPLETED their results settle once they ended).
        if (isCancellation(err)) errors.cancellation ??= err;
        else {
          fatal(err);
          stopAll('fan-out-aborted');
        }
        return;
      }
    }
  };

  try {
    await Promise.all(shares.map(slot));
    await Promise.all(stopSignals);
  } finally {
    // Later signals (a child's last failure after its batch completed) are buffered, not delivered
    // into this finished fan-out; a later fan-out's handler ignores them (unknown child ID).
    setHandler(fanOutItemFailedSignal, undefined);
  }
  if (errors.cancellation !== undefined) throw errors.cancellation;
  if (errors.hasFatal) throw errors.fatal;
  const total = failures();
  if (scope.consideredCancelled && results.some((r) => r === undefined)) {
    throw new CancelledFailure('fan-out cancelled before every batch started');
  }
  return {
    results: o.items.map(
      (item, i) => results[i] ?? { item, key: keys[i]!, status: 'not-started', failed: false },
    ),
    failures: total,
    budgetSpent: total >= o.maxFailures,
    batches: started,
  };
}

function validate<T, R>(o: FanOutOptions<T, R>): void {
  const problems: string[] = [];
  if (!Number.isInteger(o.maxParallel) || o.maxParallel < 1)
    problems.push('maxParallel must be an integer ≥ 1');
  if (!(o.maxFailures === Infinity || (Number.isInteger(o.maxFailures) && o.maxFailures >= 1))) {
    problems.push('maxFailures must be an integer ≥ 1 or Infinity');
  }
  if (o.batching) {
    if (!Number.isInteger(o.batching.size) || o.batching.size < 1)
      problems.push('batching.size must be an integer ≥ 1');
    const mc = o.batching.maxConcurrent;
    if (mc !== undefined && (!Number.isInteger(mc) || mc < 1))
      problems.push('batching.maxConcurrent must be an integer ≥ 1');
    if (o.failureCount) problems.push('failureCount is not supported with batching');
  }
  if (problems.length) throw invalid(problems.join('; '));
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`fanOut: ${message}`, INVALID_FAN_OUT_OPTIONS);
}
