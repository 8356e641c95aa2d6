/**
 * calicoImageRepair's pre-pull: every target image on every Ready node before any workload changes,
 * as the guide's script does, but bounded, with a failure budget, and never leaving a pod behind
 * without naming it.
 *
 * The pairs (node × image) are cut into batches (prePullActivityPlan), one prePullImagesOnNodes
 * activity per batch, `lanes` batches at once, each with at most `inFlight` pods undecided, so at
 * most maxParallel pods over the run. The failure budget counts pairs: no batch starts once it is
 * spent, and each batch gets what is left of it. A batch keeps its decided pods (a retry after a
 * lost worker reads them again instead of pulling again); the next batch to start deletes them, once
 * their verdicts are in history, and the run's cleanup the last ones.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import { prePullActivityPlan, progressKey } from '../../common/calico';
import { prePullPodNameFor } from '../../common/calico-prepull';
import { PREPULL_BATCH_PROGRESS_DETAIL } from '../../common/calico-types';
import type { Activities } from '../../activities';
import { heartbeatingWait, WAIT_SLACK_SECONDS } from '../activity-profiles';
import type {
  CalicoPrePullBatchProgress,
  CalicoPrePullCleanup,
  CalicoPrePullOutcome,
  CalicoPrePullPair,
} from '../definitions';
import { type Batch, batchesOf, fanOut } from '../lib/fan-out';
import { failureType } from '../lib/failures';
import type { RepairRun } from './plan';
import {
  cleanUpPrePulls,
  cleanUpPullSecret,
  ensurePullSecret,
  type PrePullTarget,
  runLabelOfThisRun,
  sweepEarlierRuns,
} from './pre-pull-cleanup';

export const PRE_PULL_PHASE = 'pre-pull';
/** A batch lists, creates and deletes up to its share of pods between heartbeats: room on a loaded API server. */
const PREPULL_BATCH_HEARTBEAT_TIMEOUT = '30s';

/** What the pre-pull phase hands on: every pair's outcome, and what its cleanup did. */
export interface PrePullPhaseResult {
  prePulls: CalicoPrePullOutcome[];
  cleanup: CalicoPrePullCleanup;
}

/** Per-pair progress, and which pairs may still have a pod (named if the cleanup fails). */
class PrePullTracker {
  private readonly mayHavePod = new Map<string, CalicoPrePullPair>();
  constructor(private readonly run: RepairRun) {}

  started(p: CalicoPrePullPair): void {
    this.mayHavePod.set(pairKey(p), p);
    this.run.progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'running');
  }
  removed(p: CalicoPrePullPair): void {
    this.mayHavePod.delete(pairKey(p));
  }
  done(o: CalicoPrePullOutcome): void {
    if (o.podRemoved || o.outcome === 'not-started') this.mayHavePod.delete(pairKey(o));
    const status = o.outcome === 'pulled' ? 'succeeded' : o.outcome === 'failed' ? 'failed' : 'skipped';
    this.run.progress.item(progressKey.prePull(o.node, o.image), 'node-image', status, prePullDetail(o));
  }
  podsPossiblyLeft(): CalicoPrePullPair[] {
    return [...this.mayHavePod.values()];
  }
}

/**
 * Pods labelled by this run (workflow ID and run ID: a rerun under the same workflow ID is another
 * run), pods and pull secrets of earlier runs deleted first, the run's Docker Hub pull secret made
 * before its first pod when the plan says so, and a cleanup (pods, then the pull secret) that never
 * replaces the phase's outcome (a failure, a cancellation, or the verdicts) and names whatever it
 * may have left.
 */
export async function prePullPhase(run: RepairRun): Promise<PrePullPhaseResult> {
  const { input, progress, plan } = run;
  const target: PrePullTarget = {
    cluster: input.cluster,
    namespace: input.namespace,
    runLabel: runLabelOfThisRun(),
  };
  const pairs = plan.nodes.flatMap((node) => plan.images.map((image) => ({ node, image })));
  for (const p of pairs) progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'pending');
  progress.phase(
    PRE_PULL_PHASE,
    `${plan.images.length} images × ${plan.nodes.length} nodes, ${input.maxParallel} at a time`,
  );
  const stale = await sweepEarlierRuns(run, target);

  const withSecret = plan.dockerHubPulls?.mode === 'pull-secret';
  const tracker = new PrePullTracker(run);
  let prePulls: CalicoPrePullOutcome[] = [];
  let failure: { err: unknown } | undefined;
  try {
    prePulls = await run.clock.timed(PRE_PULL_PHASE, async () => {
      const pullSecret = withSecret ? await ensurePullSecret(run, target) : undefined;
      return prePullInBatches(run, { ...target, ...(pullSecret ? { pullSecret } : {}) }, pairs, tracker);
    });
  } catch (err) {
    failure = { err };
  }
  const cleanup = await CancellationScope.nonCancellable(async () => ({
    ...(await cleanUpPrePulls(run, target, tracker.podsPossiblyLeft(), stale.pods)),
    staleSecretsDeleted: stale.secrets,
    ...(withSecret ? { pullSecret: await cleanUpPullSecret(run, target) } : {}),
  }));
  if (failure) throw failure.err;
  return { prePulls, cleanup };
}

/** One prePullImagesOnNodes activity's pairs; its index labels its pods. */
type PrePullBatch = Batch<CalicoPrePullPair>;

async function prePullInBatches(
  run: RepairRun,
  target: PrePullTarget,
  pairs: CalicoPrePullPair[],
  tracker: PrePullTracker,
): Promise<CalicoPrePullOutcome[]> {
  const { input } = run;
  const plan = prePullActivityPlan(pairs.length, input.maxParallel, input.prePullBatchSize);
  const batches = batchesOf(pairs, plan.size);
  const rounds = Math.ceil(plan.size / plan.inFlight);
  const { prePullImagesOnNodes } = proxyActivities<Activities>({
    ...heartbeatingWait({
      scheduleToCloseTimeout: `${rounds * input.prePullTimeoutSeconds + WAIT_SLACK_SECONDS}s`,
      heartbeatTimeout: PREPULL_BATCH_HEARTBEAT_TIMEOUT,
      // A cancelled run resumes only once every batch has stopped and deleted its pods.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    }),
    // Through the task queue, not eagerly to the worker running this workflow: with more worker
    // processes on the queue the batches spread over them (how a run outgrows one machine).
    allowEagerDispatch: false,
  });
  let failures = 0;
  // Decided pairs whose pods their batch kept (verdict now in history): the next batch deletes them.
  let toDelete: CalicoPrePullOutcome[] = [];
  const runBatch = async (b: PrePullBatch): Promise<CalicoPrePullOutcome[]> => {
    const deleting = toDelete;
    toDelete = [];
    try {
      const r = await prePullImagesOnNodes({
        ...target,
        batch: b.index,
        pairs: b.items,
        maxInFlight: plan.inFlight,
        failureBudget: input.maxFailures - failures,
        timeoutSeconds: input.prePullTimeoutSeconds,
        ...(deleting.length ? { deletePods: deleting.map((o) => o.podName!) } : {}),
      });
      const gone = new Set(r.deleted);
      for (const o of deleting) {
        if (!gone.has(o.podName!)) continue;
        o.podRemoved = true;
        tracker.removed(o);
      }
      for (const o of r.outcomes) if (o.podName && !o.podRemoved) toDelete.push(o);
      return r.outcomes;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Not known to be deleted: a later batch tries again, else the run's cleanup removes them.
      toDelete.push(...deleting);
      return failedBatch(b, target.runLabel, err);
    }
  };
  const fan = await fanOut<PrePullBatch, CalicoPrePullOutcome[]>({
    items: batches,
    key: (b) => String(b.index),
    maxParallel: plan.lanes,
    maxFailures: input.maxFailures,
    isFailure: (outcomes) => outcomes.some(isFailedPull),
    failureCount: (outcomes) => outcomes.filter(isFailedPull).length,
    run: runBatch,
    onStart: (b) => b.items.forEach((p) => tracker.started(p)),
    onDone: (_b, outcomes) => {
      for (const o of outcomes) {
        if (isFailedPull(o)) failures++;
        tracker.done(o);
      }
    },
    onNotStarted: (b) => b.items.forEach((p) => tracker.done(notStarted(p))),
  });
  return fan.results.flatMap((r) => r.result ?? r.item.items.map(notStarted));
}

/**
 * The outcomes of a batch whose activity failed past its retries (the API server gone for its whole
 * budget): what it last knew is kept (its verdicts; a pair it never started is not-started), every
 * other pair failed, and at least one pair failed.
 */
function failedBatch(b: PrePullBatch, runLabel: string, err: unknown): CalicoPrePullOutcome[] {
  const reason = failureType(err) ?? 'ActivityFailed';
  const last = lastBatchProgress(err);
  const outcomes = b.items.map((p, i): CalicoPrePullOutcome => {
    const podName = prePullPodNameFor(runLabel, p.node, p.image);
    const v = last?.verdicts?.[String(i)];
    if (v) {
      return {
        ...p,
        outcome: v.o,
        ...(v.r ? { reason: v.r } : {}),
        podName,
        durationMs: v.d,
        ...(v.rm ? { podRemoved: true } : {}),
      };
    }
    if (last?.started && last.started[String(i)] === undefined)
      return { ...p, outcome: 'not-started', reason: `its batch failed first (${reason})` };
    return { ...p, outcome: 'failed', reason, podName };
  });
  // A batch that failed before starting any pull (the API server already gone) still failed: its
  // first pair counts against the budget, else every later batch would start and wait out its own
  // schedule-to-close against the same outage.
  if (!outcomes.some(isFailedPull)) {
    const first = outcomes.findIndex((o) => o.outcome === 'not-started');
    if (first >= 0) {
      const { node, image } = outcomes[first]!;
      outcomes[first] = {
        node,
        image,
        outcome: 'failed',
        reason: `its batch failed before this pull started (${reason})`,
      };
    }
  }
  return outcomes;
}

/** What a failed batch activity last knew: its failure's details, or a timeout's last heartbeat. */
function lastBatchProgress(err: unknown): Partial<CalicoPrePullBatchProgress> | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof TimeoutFailure)
    return cause.lastHeartbeatDetails as Partial<CalicoPrePullBatchProgress> | undefined;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  for (const d of cause.details ?? []) {
    const progress = (d as Record<string, unknown> | null)?.[PREPULL_BATCH_PROGRESS_DETAIL];
    if (progress) return progress as Partial<CalicoPrePullBatchProgress>;
  }
  return undefined;
}

const pairKey = (p: CalicoPrePullPair) => `${p.node}\0${p.image}`;
const isFailedPull = (o: CalicoPrePullOutcome) => o.outcome === 'failed';
const notStarted = (p: CalicoPrePullPair): CalicoPrePullOutcome => ({
  ...p,
  outcome: 'not-started',
  reason: 'failure budget spent',
});

function prePullDetail(o: CalicoPrePullOutcome): string {
  const secs = o.durationMs !== undefined ? ` in ${(o.durationMs / 1000).toFixed(1)}s` : '';
  return o.outcome === 'pulled' ? `pulled${secs}` : `${o.outcome}${o.reason ? `: ${o.reason}` : ''}${secs}`;
}
