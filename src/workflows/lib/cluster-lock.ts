/**
 * The cluster lock (src/common/cluster-lock.ts): every procedure that changes a cluster runs its
 * changes inside `withClusterLock`. The Lease's holder is this run (workflow and run ID), renewed
 * every TTL/3 while the body runs and released however the body ends (result, failure,
 * cancellation). A held lock makes the run wait (phase `waiting-for-lock (held by …)`, bounded) or
 * fail fast. A resumed run (new worker, same run) still holds its own Lease: the renewals are
 * workflow timers that survive the worker.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { CLUSTER_LOCK_LEASE } from '../../common/cluster-lock';
import { ErrorType } from '../../common/errors';
import { quickActivities } from '../activity-profiles';
import type { ProgressTracker } from './progress';

/** What these gates report through: a run's ProgressTracker, or anything with the same two methods. */
export type PhaseSink = Pick<ProgressTracker, 'phase' | 'note'>;

export interface ClusterLockWaitOptions {
  cluster: string;
  lockTtlSeconds: number;
  failIfLocked: boolean;
  lockWaitMinutes: number;
  lockPollSeconds: number;
}

export interface ClusterLock {
  namespace: string;
  name: string;
  holder: string;
  waitedSeconds: number;
  /** Set when a renewal found the Lease held by someone else (or failed): stop disrupting. */
  lost(): string | undefined;
  /**
   * Runs `fn` (a child workflow that renews `lease` itself, with keepClusterLock) while this run
   * renews nothing, so the renewals of a long run land in its children's histories, not in one
   * history that grows with the run's length.
   */
  handOver<T>(fn: (lease: ClusterLease) => Promise<T>): Promise<T>;
}

/** The Lease a run holds, as the renewal activity takes it. */
export interface ClusterLease {
  cluster: string;
  holder: string;
  ttlSeconds: number;
}

/**
 * Renews `lease` every TTL/3 until stopped; `lost()` says why once a renewal finds it held by
 * someone else or fails (then it stops renewing). While `paused()` it renews nothing and waits
 * without a timer, then renews at once: whoever renewed meanwhile did so at most TTL/3 before.
 */
export function keepClusterLock(
  progress: PhaseSink,
  lease: ClusterLease,
  paused: () => boolean = () => false,
): { lost(): string | undefined; stop(): Promise<void> } {
  const { renewClusterLock } = quickActivities();
  let lostTo: string | undefined;
  const renewals = new CancellationScope();
  // Handled at once: a cancelled run rejects this while the body still cleans up (an unhandled
  // rejection would fail the workflow task).
  const renewing = renewals
    .run(async () => {
      const every = Math.max(1, Math.floor(lease.ttlSeconds / 3)) * 1000;
      for (;;) {
        await sleep(every);
        if (paused()) await condition(() => !paused());
        try {
          const r = await renewClusterLock(lease);
          if (!r.held) {
            lostTo = `the cluster lock is now held by ${r.holder ?? 'nobody'}`;
            progress.note(`lost the cluster lock: ${lostTo}`);
            return;
          }
        } catch (err) {
          if (isCancellation(err)) throw err;
          lostTo = 'the cluster lock could not be renewed';
          progress.note(lostTo);
          return;
        }
      }
    })
    .catch(() => undefined);
  return {
    lost: () => lostTo,
    stop: async () => {
      renewals.cancel();
      await renewing;
    },
  };
}

/** Phase while another run holds the lock. */
export const waitingForLockPhase = (holder: string) => `waiting-for-lock (held by ${holder})`;

/** The lock's holder: this run, so another run under the same workflow ID does not share it. */
export function lockHolderId(): string {
  const { workflowId, runId } = workflowInfo();
  return `${workflowId}@${runId}`;
}

/**
 * Runs `body` holding the cluster lock. Throws RemediationFailed (nothing done) when the lock is
 * held and `failIfLocked`, or when it stays held longer than `lockWaitMinutes`.
 */
export async function withClusterLock<T>(
  progress: PhaseSink,
  opts: ClusterLockWaitOptions,
  body: (lock: ClusterLock) => Promise<T>,
): Promise<T> {
  const holder = lockHolderId();
  const { acquireClusterLock, releaseClusterLock } = quickActivities();
  const lease: ClusterLease = { cluster: opts.cluster, holder, ttlSeconds: opts.lockTtlSeconds };
  const started = Date.now();
  const giveUpAt = started + opts.lockWaitMinutes * 60_000;
  let lastHolder = '';
  for (;;) {
    const r = await acquireClusterLock(lease);
    if (r.acquired) {
      progress.note(
        `cluster lock ${CLUSTER_LOCK_LEASE.namespace}/${CLUSTER_LOCK_LEASE.name} held (${r.how}${r.previousHolder ? ` from ${r.previousHolder}` : ''})`,
      );
      break;
    }
    if (opts.failIfLocked || Date.now() >= giveUpAt) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${opts.cluster}": the cluster lock is held by ${r.holder} (until ${r.expiresAt} unless renewed)` +
          (opts.failIfLocked
            ? '; failIfLocked: nothing done'
            : `; waited ${opts.lockWaitMinutes} min, nothing done`),
        ErrorType.RemediationFailed,
        { holder: r.holder },
      );
    }
    if (r.holder !== lastHolder) {
      lastHolder = r.holder;
      progress.phase(waitingForLockPhase(r.holder), `checking every ${opts.lockPollSeconds} s`);
    }
    await sleep(opts.lockPollSeconds * 1000);
  }

  let handedOver = false;
  const renewals = keepClusterLock(progress, lease, () => handedOver);
  try {
    return await body({
      ...CLUSTER_LOCK_LEASE,
      holder,
      waitedSeconds: Math.round((Date.now() - started) / 1000),
      lost: renewals.lost,
      handOver: async (fn) => {
        handedOver = true;
        try {
          return await fn(lease);
        } finally {
          handedOver = false;
        }
      },
    });
  } finally {
    await renewals.stop();
    await CancellationScope.nonCancellable(async () => {
      try {
        const r = await releaseClusterLock({ cluster: opts.cluster, holder });
        progress.note(`cluster lock ${r.status === 'released' ? 'released' : 'was no longer ours'}`);
      } catch {
        // The body's own outcome (often: the API server is gone) is what the run reports; the Lease
        // expires by itself.
        progress.note(
          `the cluster lock could not be released; it expires ${opts.lockTtlSeconds} s after its last renewal`,
        );
      }
    });
  }
}
