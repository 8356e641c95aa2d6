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
  const { acquireClusterLock, renewClusterLock, releaseClusterLock } = quickActivities();
  const lease = { cluster: opts.cluster, holder, ttlSeconds: opts.lockTtlSeconds };
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

  let lostTo: string | undefined;
  const renewals = new CancellationScope();
  // Handled at once: a cancelled run rejects this while the body still cleans up (an unhandled
  // rejection would fail the workflow task).
  const renewing = renewals
    .run(async () => {
      const every = Math.max(1, Math.floor(opts.lockTtlSeconds / 3)) * 1000;
      for (;;) {
        await sleep(every);
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
  try {
    return await body({
      ...CLUSTER_LOCK_LEASE,
      holder,
      waitedSeconds: Math.round((Date.now() - started) / 1000),
      lost: () => lostTo,
    });
  } finally {
    renewals.cancel();
    await renewing;
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
