/**
 * Disruption safety for every procedure that takes nodes (or system pods) down, besides the
 * cluster lock (cluster-lock.ts) every mutating run holds:
 * - `awaitKuredLockFree`: kured is not rebooting a node (its own lock), or the run waits (bounded).
 * - `awaitHealthGate`: before a node goes down, enough of the other nodes Ready and no blocking pod
 *   on it; otherwise wait (bounded), saying why.
 * - `awaitMaintenanceWindow`: a durable timer until the window opens (no polling).
 */
import { sleep } from '@temporalio/workflow';
import { KURED_LOCK } from '../../common/cluster-lock';
import { type MaintenanceWindow, windowState } from '../../common/disruption';
import { quickActivities } from '../activity-profiles';
import type { ClusterLockWaitOptions, PhaseSink } from './cluster-lock';

/**
 * Waits while kured holds its reboot lock: two tools rebooting nodes at once could take down more
 * than either allows. Returns why it gave up (`failIfLocked`, or held past `lockWaitMinutes`), or
 * undefined once the lock is free.
 */
export async function awaitKuredLockFree(
  progress: PhaseSink,
  opts: ClusterLockWaitOptions,
): Promise<string | undefined> {
  const { readKuredLock } = quickActivities();
  const giveUpAt = Date.now() + opts.lockWaitMinutes * 60_000;
  let said = '';
  for (;;) {
    const kured = await readKuredLock({ cluster: opts.cluster });
    if (!kured.held) {
      if (said) progress.note("kured's lock is free");
      return undefined;
    }
    if (opts.failIfLocked || Date.now() >= giveUpAt) {
      const where = `${KURED_LOCK.namespace}/${KURED_LOCK.daemonSet} ${KURED_LOCK.annotation}`;
      return `${kured.holder} holds kured's lock (${where})${
        opts.failIfLocked ? ' and failIfLocked is set' : `; waited ${opts.lockWaitMinutes} min`
      }`;
    }
    if (kured.holder !== said) {
      said = kured.holder;
      progress.phase(
        `waiting-for-kured (held by ${kured.holder})`,
        `checking every ${opts.lockPollSeconds} s`,
      );
    }
    await sleep(opts.lockPollSeconds * 1000);
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
