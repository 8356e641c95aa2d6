/**
 * Disruption safety for every procedure that takes nodes (or system pods) down:
 * - `withDisruptionLock`: the cluster's disruption Lease (coordination.k8s.io, kube-system), holder =
 *   this workflow's ID, renewed every TTL/3 while the body runs, released however the body ends
 *   (result, failure, cancellation). A held lock makes the run wait (phase `waiting-for-lock (held by
 *   …)`, bounded) or fail fast. A resumed run (new worker, same workflow) still holds its own Lease:
 *   the holder is the workflow ID, and the renewals are workflow timers that survive the worker.
 * - `awaitHealthGate`: before a node goes down, enough of the other nodes Ready and no blocking pod
 *   on it; otherwise wait (bounded), saying why.
 * - `awaitMaintenanceWindow`: a durable timer until the window opens (no polling).
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { DISRUPTION_LEASE, type MaintenanceWindow, windowState } from '../../common/disruption';
import { ErrorType } from '../../common/errors';
import { quickActivities } from '../activity-profiles';
import type { ProgressTracker } from './progress';

/** What these gates report through: a run's ProgressTracker, or anything with the same two methods. */
export type PhaseSink = Pick<ProgressTracker, 'phase' | 'note'>;

export interface DisruptionLockOptions {
  cluster: string;
  lockTtlSeconds: number;
  failIfLocked: boolean;
  lockWaitMinutes: number;
  lockPollSeconds: number;
}

export interface DisruptionLock {
  namespace: string;
  name: string;
  holder: string;
  waitedSeconds: number;
  /** Set when a renewal found the Lease held by someone else (or failed): stop disrupting. */
  lost(): string | undefined;
}

/** Phase while another run holds the lock. */
export const waitingForLockPhase = (holder: string) => `waiting-for-lock (held by ${holder})`;

/**
 * Runs `body` holding the cluster's disruption lock. Throws RemediationFailed (nothing done) when
 * the lock is held and `failIfLocked`, or when it stays held longer than `lockWaitMinutes`.
 */
export async function withDisruptionLock<T>(
  progress: PhaseSink,
  opts: DisruptionLockOptions,
  body: (lock: DisruptionLock) => Promise<T>,
): Promise<T> {
  const holder = workflowInfo().workflowId;
  const { acquireDisruptionLease, renewDisruptionLease, releaseDisruptionLease } = quickActivities();
  const lease = { cluster: opts.cluster, holder, ttlSeconds: opts.lockTtlSeconds };
  const started = Date.now();
  const giveUpAt = started + opts.lockWaitMinutes * 60_000;
  let lastHolder = '';
  for (;;) {
    const r = await acquireDisruptionLease(lease);
    if (r.acquired) {
      progress.note(
        `disruption lock ${DISRUPTION_LEASE.namespace}/${DISRUPTION_LEASE.name} held (${r.how}${r.previousHolder ? ` from ${r.previousHolder}` : ''})`,
      );
      break;
    }
    if (opts.failIfLocked || Date.now() >= giveUpAt) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${opts.cluster}": the disruption lock is held by ${r.holder} (until ${r.expiresAt} unless renewed)` +
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
          const r = await renewDisruptionLease(lease);
          if (!r.held) {
            lostTo = `the disruption lock is now held by ${r.holder ?? 'nobody'}`;
            progress.note(`lost the disruption lock: ${lostTo}`);
            return;
          }
        } catch (err) {
          if (isCancellation(err)) throw err;
          lostTo = 'the disruption lock could not be renewed';
          progress.note(lostTo);
          return;
        }
      }
    })
    .catch(() => undefined);
  try {
    return await body({
      ...DISRUPTION_LEASE,
      holder,
      waitedSeconds: Math.round((Date.now() - started) / 1000),
      lost: () => lostTo,
    });
  } finally {
    renewals.cancel();
    await renewing;
    await CancellationScope.nonCancellable(async () => {
      const r = await releaseDisruptionLease({ cluster: opts.cluster, holder });
      progress.note(`disruption lock ${r.status === 'released' ? 'released' : 'was no longer ours'}`);
    });
  }
}

export interface HealthGateOptions {
  cluster: string;
  nodes: string[];
  minReadyPercent: number;
  blockingPodSelector?: string;
  healthWaitMinutes: number;
  healthPollSeconds: number;
}

/** Waits until the health gate passes: `{ ok: true }`, or `{ ok: false, reasons }` after healthWaitMinutes. */
export async function awaitHealthGate(
  progress: PhaseSink,
  opts: HealthGateOptions,
): Promise<{ ok: true; waitedSeconds: number } | { ok: false; reasons: string[] }> {
  const { checkDisruptionHealth } = quickActivities();
  const started = Date.now();
  const giveUpAt = started + opts.healthWaitMinutes * 60_000;
  let said = '';
  for (;;) {
    const r = await checkDisruptionHealth({
      cluster: opts.cluster,
      nodes: opts.nodes,
      minReadyPercent: opts.minReadyPercent,
      ...(opts.blockingPodSelector ? { blockingPodSelector: opts.blockingPodSelector } : {}),
    });
    if (r.ok) {
      if (said) progress.note(`health gate passed for ${opts.nodes.join(', ')}`);
      return { ok: true, waitedSeconds: Math.round((Date.now() - started) / 1000) };
    }
    if (Date.now() >= giveUpAt) return { ok: false, reasons: r.reasons };
    const why = r.reasons.join('; ');
    if (why !== said) {
      said = why;
      progress.phase('waiting-for-health', `${opts.nodes.join(', ')}: ${why}`);
    }
    await sleep(opts.healthPollSeconds * 1000);
  }
}

/** Waits (a durable timer) until the maintenance window is open; returns at once without a window. */
export async function awaitMaintenanceWindow(
  progress: PhaseSink,
  window: MaintenanceWindow | undefined,
): Promise<void> {
  if (!window) return;
  for (;;) {
    const s = windowState(window, Date.now());
    if (s.open) return;
    progress.phase(
      `waiting-for-window (opens ${s.opensAt})`,
      `${window.days.join(',')} ${window.start}-${window.end} ${window.timezone}`,
    );
    await sleep(s.waitMs);
  }
}
