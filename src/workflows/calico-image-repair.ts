/**
 * calicoImageRepair (PROCEDURES.md 6): the guide's calico_manifest_image_change.sh as a durable
 * workflow. Same phases in the same order (check images, pre-pull on every node, set image and wait
 * for rollout on calico-node, calico-kube-controllers, calico-typha, report), with what the script
 * leaves to luck done properly: parallel bounded pre-pulls, skip instead of abort for workloads already
 * on target, every typha pod of before the update deleted when its rollout fails, a report per node /
 * image / workload, and every finished step kept in history so a new worker resumes where the last
 * one died.
 *
 * Each phase is a named function below; `repair` only sequences them. The command order is that of
 * the recorded histories in test/replay (changes go behind patched()).
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import {
  CALICO_DEFAULTS,
  CALICO_WORKLOADS,
  CalicoImageRepairInputSchema,
  imagesToPrePull,
  needsRollout,
  planWorkloads,
  progressKey,
  resourceRef,
  rolloutTimeoutSeconds,
  targetImages,
  type CalicoImageRepairOptions,
  type CalicoImageRepairParsed,
  defaultPrePullParallelism,
  prePullActivityPlan,
} from '../common/calico';
import { isDefaultRegistry, prePullPodNameFor, runLabelOf as labelOfRun } from '../common/calico-prepull';
import { PREPULL_BATCH_PROGRESS_DETAIL } from '../common/calico-types';
import { ErrorType } from '../common/errors';
import { MAX_LISTED_SUCCESSES, notableFirst } from '../common/report';
import type { Activities } from '../activities';
import {
  heartbeatingWait,
  PERMANENT_ERROR_TYPES,
  quickActivities,
  waitActivities,
} from './activity-profiles';
import type {
  CalicoImageRepairInput,
  CalicoImageRepairResult,
  CalicoNodeReport,
  CalicoPlan,
  CalicoPrePullBatchInput,
  CalicoPrePullBatchProgress,
  CalicoPrePullCleanup,
  CalicoPrePullBatchResult,
  CalicoPrePullContext,
  CalicoPrePullOutcome,
  CalicoPrePullPair,
  CalicoWorkloadPlan,
  CalicoWorkloadReport,
  ClusterPreflightResult,
} from './definitions';
import { awaitApproval } from './lib/approval';
import { failureSummary, failureType } from './lib/failures';
import { type FanOutBatchInput, type FanOutBatchResult, fanOut, runFanOutBatch } from './lib/fan-out';
import { beginRemediation, Phase, runPreflight, type ProgressTracker } from './lib/progress';

export const CalicoPhase = {
  PrePull: 'pre-pull',
  RolloutCalicoNode: 'rollout-calico-node',
  RolloutKubeControllers: 'rollout-calico-kube-controllers',
  RolloutTypha: 'rollout-calico-typha',
  Report: 'report',
} as const;

const ROLLOUT_PHASE: Record<string, string> = {
  'calico-node': CalicoPhase.RolloutCalicoNode,
  'calico-kube-controllers': CalicoPhase.RolloutKubeControllers,
  'calico-typha': CalicoPhase.RolloutTypha,
};

/** Slack on top of a step's own timeout for retries of a lost worker (heartbeat timeout + backoff). */
const WAIT_SLACK_SECONDS = 300;
/** patched() ID: pre-pull pods are deleted by their own activity, after the verdict is recorded. */
const PREPULL_POD_DELETED_AFTER_VERDICT = 'prepull-pod-deleted-after-verdict';
/** patched() ID: after typha's pre-update pods are deleted, its rollout is waited for once more. */
const TYPHA_REWAIT_AFTER_OLD_PODS = 'typha-rewait-after-old-pods';
/** patched() ID: batches of a large cluster run concurrently (calicoPrePullFanOutBatch), not in turn. */
const PREPULL_BATCHES_CONCURRENT = 'prepull-batches-concurrent';
/**
 * patched() ID, one pre-pull (issue 8 findings 5, 6; issue 14 defects 1, 3): run-scoped pod names;
 * a cancellation waits until the activity has stopped (no pod recreated under the cleanup); a pull
 * whose activity failed counts at once, without a deletion that would wait out the same outage.
 */
const PREPULL_HARDENED = 'calico-prepull-hardened';
/**
 * patched() ID, the pre-pull phase (findings 5, 9; issue 14 defect 3): labelled per run (workflow ID
 * and run ID), stale pods of earlier runs swept first, the cleanup heartbeats, is bounded, never
 * replaces the run's outcome and names what it left.
 */
const PREPULL_PHASE_HARDENED = 'calico-prepull-phase-hardened';
/**
 * patched() ID, the rollout (findings 2, 7, 10): each workload's step outcome recorded and the run
 * stops with a report when an API step fails; previousImages from the plan; with NotReady nodes
 * skipped, calico-node's rollout is judged on the Ready nodes, its timeout counts every node.
 */
const ROLLOUT_HARDENED = 'calico-rollout-hardened';
/** patched() ID (finding 3): images checked against the cluster's allowedRegistries; a non-default registry needs approval. */
const REGISTRY_ALLOWLIST = 'calico-registry-allowlist';
/** patched() ID: without `maxParallel` in the input, it follows the node count (runs before: 10). */
const PARALLELISM_FROM_NODE_COUNT = 'prepull-parallelism-from-node-count';
/**
 * patched() ID (issue 8, throughput): the pre-pull runs as batches of pairs, one prePullImagesOnNodes
 * activity each (one watch, one list per round, heartbeated verdicts), a few batches at once under
 * maxParallel, in this workflow: no per-pair activities, no batch child workflows.
 */
const PREPULL_BATCHED_ACTIVITY = 'prepull-batched-activity';
const PREPULL_HEARTBEAT_TIMEOUT = '15s';
/** A batch lists, creates and deletes up to its share of pods between heartbeats: more room on a loaded API server. */
const PREPULL_BATCH_HEARTBEAT_TIMEOUT = '30s';
/** The whole final cleanup, retries included: bounded even when the API server is gone for good. */
const CLEANUP_TIMEOUT = '3m';

/** A short, stable label value for a workflow ID (FNV-1a, 32 bit): names the run's pre-pull pods. */
export function runLabelOf(workflowId: string): string {
  return labelOfRun(workflowId);
}

const pairKey = (p: CalicoPrePullPair) => `${p.node}\0${p.image}`;
const isFailedPull = (o: CalicoPrePullOutcome) => o.outcome === 'failed';
const notStarted = (p: CalicoPrePullPair): CalicoPrePullOutcome => ({
  ...p,
  outcome: 'not-started',
  reason: 'failure budget spent',
});

/**
 * One pre-pull: the pull (a pod on the node, watched), then, once its verdict is in history, the
 * pod's deletion. A failure of the activity (retries exhausted) is this pair's failure; a
 * cancellation always propagates.
 */
async function prePullOne(
  pair: CalicoPrePullPair,
  ctx: CalicoPrePullContext,
  deleteAfterVerdict: boolean,
): Promise<CalicoPrePullOutcome> {
  const hardened = patched(PREPULL_HARDENED);
  const { prePullImage } = waitActivities({
    scheduleToCloseTimeout: `${ctx.prePullTimeoutSeconds + WAIT_SLACK_SECONDS}s`,
    heartbeatTimeout: PREPULL_HEARTBEAT_TIMEOUT,
    // A cancelled run resumes only once the pre-pull has stopped (and removed its pod), so the
    // cleanup after it never races a pre-pull that recreates the pod just deleted.
    ...(hardened ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  });
  const { deletePrePullPod } = quickActivities();
  const podName = hardened ? prePullPodNameFor(ctx.runLabel, pair.node, pair.image) : undefined;
  let outcome: CalicoPrePullOutcome;
  let activityFailed = false;
  try {
    outcome = await prePullImage({
      cluster: ctx.cluster,
      namespace: ctx.namespace,
      node: pair.node,
      image: pair.image,
      runLabel: ctx.runLabel,
      timeoutSeconds: ctx.prePullTimeoutSeconds,
      ...(deleteAfterVerdict ? { keepPod: true } : {}),
      ...(podName ? { podName } : {}),
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Retries exhausted (API unreachable for the whole budget, say): this pair failed, the rest go on.
    activityFailed = true;
    outcome = {
      ...pair,
      outcome: 'failed',
      reason: failureType(err) ?? 'ActivityFailed',
      ...(podName ? { podName } : {}),
    };
  }
  // After a failed activity the failure counts at once (the budget stops new starts); a deletion
  // now would only wait out the same outage. The run's cleanup removes the pod, or names it.
  if (deleteAfterVerdict && !(hardened && activityFailed)) {
    // The verdict is in history now, so the pod can go. If this fails, the run's label cleanup
    // (always run after the pre-pull phase) removes it: the pair's verdict stands.
    const removed = await deletePrePullPod({
      cluster: ctx.cluster,
      namespace: ctx.namespace,
      ...pair,
      ...(podName ? { podName } : {}),
    }).then(
      () => true,
      (err: unknown) => {
        if (isCancellation(err)) throw err;
        return false;
      },
    );
    if (hardened && removed) outcome = { ...outcome, podRemoved: true };
  }
  return outcome;
}

/** Per-pair progress: `running` when it starts, its verdict when done. */
interface PrePullHooks {
  onStart(pair: CalicoPrePullPair): void;
  onDone(outcome: CalicoPrePullOutcome): void;
  /** Batched pre-pulls: a later batch deleted the pair's pod (kept until its verdict was recorded). */
  onRemoved?(pair: CalicoPrePullPair): void;
}

/**
 * Pairs in this workflow, under the bound and the failure budget (shared by the workflow itself and
 * the batch children of runs before concurrent batches). Pairs never started come back as not-started.
 */
async function runPrePulls(
  run: CalicoPrePullBatchInput,
  hooks?: PrePullHooks,
): Promise<CalicoPrePullOutcome[]> {
  // Runs recorded before this deleted the pod inside prePullImage; replaying them must do the same.
  const deleteAfterVerdict = patched(PREPULL_POD_DELETED_AFTER_VERDICT);
  const fan = await fanOut<CalicoPrePullPair, CalicoPrePullOutcome>({
    items: run.pairs,
    key: pairKey,
    maxParallel: run.maxParallel,
    maxFailures: run.failureBudget,
    run: (pair) => prePullOne(pair, run, deleteAfterVerdict),
    isFailure: isFailedPull,
    onStart: hooks?.onStart,
    onDone: hooks ? (_pair, o) => hooks.onDone(o) : undefined,
  });
  return fan.results.map((r) => r.result ?? notStarted(r.item));
}

/**
 * One batch of pre-pulls of a large cluster, run one batch after another (runs started before
 * concurrent batches). Kept so their histories replay; new runs use calicoPrePullFanOutBatch.
 */
export async function calicoPrePullBatch(input: CalicoPrePullBatchInput): Promise<CalicoPrePullBatchResult> {
  return { outcomes: await runPrePulls(input) };
}

/**
 * One batch of pre-pulls of a large cluster, as a child workflow so each history stays far below
 * Temporal's event limit; several run at once under the run's one bound (lib/fan-out). Changes
 * nothing but short-lived pre-pull pods, which it deletes.
 */
export async function calicoPrePullFanOutBatch(
  input: FanOutBatchInput<CalicoPrePullPair, CalicoPrePullContext>,
): Promise<FanOutBatchResult<CalicoPrePullOutcome>> {
  return runFanOutBatch(input, (pair, ctx) => prePullOne(pair, ctx, true), { isFailure: isFailedPull });
}

function prePullDetail(o: CalicoPrePullOutcome): string {
  const secs = o.durationMs !== undefined ? ` in ${(o.durationMs / 1000).toFixed(1)}s` : '';
  return o.outcome === 'pulled' ? `pulled${secs}` : `${o.outcome}${o.reason ? `: ${o.reason}` : ''}${secs}`;
}

function nodeReports(nodes: string[], outcomes: CalicoPrePullOutcome[]): CalicoNodeReport[] {
  const byNode = new Map<string, CalicoPrePullOutcome[]>();
  for (const o of outcomes) byNode.set(o.node, [...(byNode.get(o.node) ?? []), o]);
  return nodes.map((node) => {
    const mine = byNode.get(node) ?? [];
    const failedImages = mine.filter(isFailedPull).map((o) => o.image);
    const outcome =
      failedImages.length > 0
        ? 'failed'
        : mine.every((o) => o.outcome === 'pulled')
          ? 'pulled'
          : 'incomplete';
    return { node, outcome, failedImages };
  });
}

export async function calicoImageRepair(raw: CalicoImageRepairInput): Promise<CalicoImageRepairResult> {
  const { input, progress } = beginRemediation('calicoImageRepair', raw, CalicoImageRepairInputSchema);
  return progress.run(
    () => repair(input, progress),
    (r) => r.summary,
  );
}

/** Wall time per phase, for the report (workflow time: deterministic on replay). */
class PhaseClock {
  readonly durationsMs: Record<string, number> = {};
  async timed<T>(phase: string, body: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await body();
    } finally {
      this.durationsMs[phase] = (this.durationsMs[phase] ?? 0) + (Date.now() - started);
    }
  }
}

/** What one run works from: its input, progress, clock, the plan, and the report it builds. */
interface RepairRun {
  input: CalicoImageRepairOptions;
  progress: ProgressTracker;
  clock: PhaseClock;
  plan: CalicoPlan;
  toUpdate: CalicoWorkloadPlan[];
  missing: CalicoWorkloadPlan[];
}

async function repair(
  input: CalicoImageRepairParsed,
  progress: ProgressTracker,
): Promise<CalicoImageRepairResult> {
  const clock = new PhaseClock();
  const run = await planRepair(input, progress, clock);
  const { plan, toUpdate, missing } = run;

  if (toUpdate.length === 0) {
    const result = buildReport(
      run,
      missing.length ? 'failed' : 'nothing-to-do',
      missing.length
        ? `nothing to update; missing: ${missing.map((w) => w.note).join('; ')}`
        : `nothing to do: every calico workload already runs ${input.registry}/*:${input.tag}`,
    );
    if (missing.length) throw remediationFailed(result);
    return result;
  }
  // The images must be under the cluster's allowedRegistries (the activities enforce it too); a
  // registry other than the guide's is a choice an approver confirms.
  let approvalReason: string | undefined;
  if (patched(REGISTRY_ALLOWLIST)) {
    const { checkImagesAllowed } = quickActivities();
    await clock.timed(Phase.Preflight, () =>
      checkImagesAllowed({ cluster: input.cluster, images: plan.images }),
    );
    if (!isDefaultRegistry(input.registry))
      approvalReason = `registry ${input.registry} is not the default ${CALICO_DEFAULTS.registry}`;
  }
  if (input.dryRun) {
    return buildReport(
      run,
      'planned',
      `dry run: would pre-pull ${plan.images.length} images on ${plan.nodes.length} nodes and update ${toUpdate.map((w) => w.name).join(', ')}`,
    );
  }

  let approvedBy: string | undefined;
  if (input.requireApproval || approvalReason) {
    const gate = await clock.timed(Phase.AwaitingApproval, () =>
      awaitApproval(
        progress,
        `${approvalReason ? `${approvalReason}: ` : ''}pre-pull ${plan.images.length} images on ${plan.nodes.length} nodes, then roll ${toUpdate.map((w) => w.name).join(', ')}`,
        input,
      ),
    );
    if (gate.decision === 'expired') {
      return buildReport(
        run,
        'approval-expired',
        `approval expired: no decision within ${gate.after}; nothing changed (no image pre-pulled, no workload updated)`,
      );
    }
    approvedBy = gate.approver;
  }

  const { prePulls, cleanup } = await prePullPhase(run);
  const perNode = nodeReports(plan.nodes, prePulls);
  const failedNodes = perNode.filter((n) => n.outcome !== 'pulled');
  const cleanupExtra = cleanup ? { prePullCleanup: cleanup } : {};
  const leftNote = cleanup?.leftovers.length
    ? `; pre-pull pods possibly left (cleanup failed): ${cleanup.leftovers.join(', ')}`
    : '';
  if (failedNodes.length > 0) {
    for (const w of toUpdate)
      progress.item(
        progressKey.resource(w.kind, w.name),
        'resource',
        'skipped',
        'not rolled: pre-pull failed',
      );
    throw remediationFailed(
      buildReport(
        run,
        'failed',
        `pre-pull failed on ${failedNodes.length} node(s) (${failedNodes.map((n) => `${n.node}${n.failedImages.length ? `: ${n.failedImages.join(', ')}` : ' (incomplete)'}`).join('; ')}); nothing rolled${leftNote}`,
        {
          ...cleanupExtra,
          approvedBy,
          prePulls,
          nodes: perNode,
          workloads: plan.workloads.map((w) =>
            needsRollout(w)
              ? {
                  ...initialWorkloadReport(w),
                  outcome: 'not-attempted',
                  detail: 'pre-pull failed; not rolled',
                }
              : initialWorkloadReport(w),
          ),
          failedResources: [...missing, ...toUpdate].map((w) => resourceRef(w.kind, w.name)),
        },
      ),
    );
  }

  // 3–5. Set images and wait for each rollout, in the guide's order; a failed rollout does not stop
  // the next, an API step that failed past its retries does (rollOutPhase).
  const workloads = await rollOutPhase(run);

  // 6. Report.
  progress.phase(CalicoPhase.Report);
  const failedResources = workloads
    .filter((w) => w.outcome === 'failed' || w.outcome === 'missing')
    .map((w) => resourceRef(w.kind, w.name));
  const updated = workloads.filter((w) => w.outcome === 'updated').map((w) => w.name);
  const result = buildReport(
    run,
    failedResources.length ? 'failed' : 'repaired',
    failedResources.length
      ? `failed: ${failedResources.join(', ')}${updated.length ? `; updated: ${updated.join(', ')}` : ''}${changeNote(workloads)}${leftNote}`
      : `repaired: ${updated.join(', ')} now on ${input.registry}/*:${input.tag}; ${prePulls.length} pre-pulls on ${plan.nodes.length} nodes${leftNote}`,
    { ...cleanupExtra, approvedBy, prePulls, nodes: perNode, workloads, failedResources },
  );
  if (failedResources.length) throw remediationFailed(result);
  return result;
}

/** 1. Preflight: nodes Ready, and which workloads are not on the target images yet. */
async function planRepair(
  input: CalicoImageRepairParsed,
  progress: ProgressTracker,
  clock: PhaseClock,
): Promise<RepairRun> {
  const { readWorkloadImages } = quickActivities();
  const preflight: ClusterPreflightResult = await clock.timed(Phase.Preflight, () =>
    runPreflight(progress, input, { requireAllReady: !input.skipNotReadyNodes }),
  );
  const nodes = preflight.nodes.filter((n) => n.ready).map((n) => n.name);
  if (nodes.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${input.cluster}": no Ready node`,
      ErrorType.NodesNotReady,
      {
        notReady: preflight.notReady,
      },
    );
  }
  const observed = await clock.timed(Phase.Preflight, () =>
    readWorkloadImages({
      cluster: input.cluster,
      namespace: input.namespace,
      workloads: CALICO_WORKLOADS.map(({ kind, name }) => ({ kind, name })),
    }),
  );
  const workloadPlans = planWorkloads(observed, targetImages(input.registry, input.tag));
  const images = imagesToPrePull(workloadPlans);
  // The guide's calico-node timeout counts every node the DaemonSet targets, NotReady ones included.
  const timeoutNodes = patched(ROLLOUT_HARDENED) ? preflight.nodes.length : nodes.length;
  const plan: CalicoPlan = {
    namespace: input.namespace,
    nodes,
    skippedNodes: preflight.notReady,
    images,
    workloads: workloadPlans,
    rolloutTimeouts: Object.fromEntries(
      workloadPlans.map((w) => [
        resourceRef(w.kind, w.name),
        rolloutTimeoutSeconds(w.kind, timeoutNodes, input),
      ]),
    ),
  };
  for (const w of workloadPlans) {
    progress.item(
      progressKey.resource(w.kind, w.name),
      'resource',
      needsRollout(w) ? 'pending' : w.action === 'skip-up-to-date' ? 'unchanged' : 'failed',
      w.note,
    );
  }
  progress.note(
    `plan: ${workloadPlans.map((w) => `${w.name} ${w.action}`).join(', ')}; ${images.length} images on ${nodes.length} nodes` +
      (plan.skippedNodes.length ? `; NotReady nodes skipped: ${plan.skippedNodes.join(', ')}` : ''),
  );
  const maxParallel =
    input.maxParallel ??
    (patched(PARALLELISM_FROM_NODE_COUNT)
      ? defaultPrePullParallelism(nodes.length)
      : CALICO_DEFAULTS.maxParallel);
  return {
    input: { ...input, maxParallel },
    progress,
    clock,
    plan,
    toUpdate: workloadPlans.filter(needsRollout),
    missing: workloadPlans.filter((w) => w.action === 'missing'),
  };
}

/** What the pre-pull phase hands on: every pair's outcome, and its cleanup (runs since PREPULL_PHASE_HARDENED). */
interface PrePullPhaseResult {
  prePulls: CalicoPrePullOutcome[];
  cleanup?: CalicoPrePullCleanup;
}

/**
 * 2. Pre-pull every image on every node. Whatever happens (failure, cancellation), no pre-pull pod
 * of this run stays behind, or the run names the ones it could not delete.
 */
async function prePullPhase(run: RepairRun): Promise<PrePullPhaseResult> {
  if (patched(PREPULL_PHASE_HARDENED)) return prePullPhaseScoped(run);
  const { input, progress, plan } = run;
  const { deletePrePullPods } = quickActivities();
  const runLabel = runLabelOf(workflowInfo().workflowId);
  const pairs = plan.nodes.flatMap((node) => plan.images.map((image) => ({ node, image })));
  for (const p of pairs) progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'pending');
  progress.phase(
    CalicoPhase.PrePull,
    `${plan.images.length} images × ${plan.nodes.length} nodes, ${input.maxParallel} at a time`,
  );
  const hooks: PrePullHooks = {
    onStart: (p) => progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'running'),
    onDone: (o) =>
      progress.item(
        progressKey.prePull(o.node, o.image),
        'node-image',
        o.outcome === 'pulled' ? 'succeeded' : o.outcome === 'failed' ? 'failed' : 'skipped',
        prePullDetail(o),
      ),
  };
  try {
    return {
      prePulls: await run.clock.timed(CalicoPhase.PrePull, () => prePullAll(input, runLabel, pairs, hooks)),
    };
  } finally {
    await CancellationScope.nonCancellable(() =>
      deletePrePullPods({ cluster: input.cluster, namespace: input.namespace, runLabel }),
    );
  }
}

/** Activities of the sweep and the cleanup: they heartbeat while they delete and wait, bounded in total. */
const cleanupActivities = () =>
  waitActivities({ scheduleToCloseTimeout: CLEANUP_TIMEOUT, heartbeatTimeout: '30s' });

/**
 * The pre-pull phase of runs since PREPULL_PHASE_HARDENED: pods labelled by this run (workflow ID
 * and run ID: a rerun under the same workflow ID is another run), pods of earlier runs deleted
 * first, and a cleanup that never replaces the phase's outcome (a failure, a cancellation, or the
 * verdicts) and names every pod it may have left.
 */
async function prePullPhaseScoped(run: RepairRun): Promise<PrePullPhaseResult> {
  const { input, progress, plan } = run;
  const info = workflowInfo();
  const runLabel = labelOfRun(`${info.workflowId}/${info.runId}`);
  const target = { cluster: input.cluster, namespace: input.namespace, runLabel };
  const pairs = plan.nodes.flatMap((node) => plan.images.map((image) => ({ node, image })));
  for (const p of pairs) progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'pending');
  progress.phase(
    CalicoPhase.PrePull,
    `${plan.images.length} images × ${plan.nodes.length} nodes, ${input.maxParallel} at a time`,
  );
  const { deleteStalePrePullPods } = cleanupActivities();
  const stale = await deleteStalePrePullPods(target);
  if (stale.deleted.length > 0)
    progress.note(
      `deleted ${stale.deleted.length} pre-pull pod(s) of earlier runs: ${stale.deleted.join(', ')}`,
    );

  // Pods this run may have: pairs started and not yet known to be deleted (named if the cleanup fails).
  const mayHavePod = new Map<string, CalicoPrePullPair>();
  const hooks: PrePullHooks = {
    onStart: (p) => {
      mayHavePod.set(pairKey(p), p);
      progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'running');
    },
    onRemoved: (p) => mayHavePod.delete(pairKey(p)),
    onDone: (o) => {
      if (o.podRemoved || o.outcome === 'not-started') mayHavePod.delete(pairKey(o));
      progress.item(
        progressKey.prePull(o.node, o.image),
        'node-image',
        o.outcome === 'pulled' ? 'succeeded' : o.outcome === 'failed' ? 'failed' : 'skipped',
        prePullDetail(o),
      );
    },
  };
  let prePulls: CalicoPrePullOutcome[] = [];
  let failure: { err: unknown } | undefined;
  try {
    prePulls = await run.clock.timed(CalicoPhase.PrePull, () => prePullAll(input, runLabel, pairs, hooks));
  } catch (err) {
    failure = { err };
  }
  const cleanup = await CancellationScope.nonCancellable(() =>
    cleanUpPrePulls(run, target, [...mayHavePod.values()], stale.deleted),
  );
  if (failure) throw failure.err;
  return { prePulls, cleanup };
}

/**
 * Deletes every pre-pull pod of the run and waits until they are gone, bounded by CLEANUP_TIMEOUT.
 * Never throws: a failed cleanup is reported (in progress and the result) with every pod of this
 * run not known to be gone, by name.
 */
async function cleanUpPrePulls(
  run: RepairRun,
  target: { cluster: string; namespace: string; runLabel: string },
  mayHavePod: CalicoPrePullPair[],
  staleDeleted: string[],
): Promise<CalicoPrePullCleanup> {
  const { deletePrePullPods } = cleanupActivities();
  const base = { runLabel: target.runLabel, staleDeleted };
  try {
    const r = await deletePrePullPods(target);
    return { ...base, deleted: r.deleted.length, leftovers: [] };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const leftovers = mayHavePod.map((p) => prePullPodNameFor(target.runLabel, p.node, p.image)).sort();
    const error = failureSummary(err);
    run.progress.note(
      `pre-pull cleanup failed (${error}); pods possibly left in ${target.namespace} ` +
        `(label nksr.io/run=${target.runLabel}): ${leftovers.join(', ') || 'none known'}`,
    );
    return { ...base, deleted: 0, leftovers, error };
  }
}

/**
 * The pairs in this workflow while they fit one history comfortably, else in child workflows of
 * `prePullBatchSize` pairs that run concurrently under the one `maxParallel` bound and share the
 * failure budget (runs before that patch: one batch after another).
 */
async function prePullAll(
  input: CalicoImageRepairOptions,
  runLabel: string,
  pairs: CalicoPrePullPair[],
  hooks: PrePullHooks,
): Promise<CalicoPrePullOutcome[]> {
  const ctx: CalicoPrePullContext = {
    cluster: input.cluster,
    namespace: input.namespace,
    runLabel,
    prePullTimeoutSeconds: input.prePullTimeoutSeconds,
  };
  if (patched(PREPULL_BATCHED_ACTIVITY)) return prePullInBatches(input, ctx, pairs, hooks);
  if (pairs.length <= input.prePullBatchSize) {
    return runPrePulls(
      { ...ctx, maxParallel: input.maxParallel, pairs, failureBudget: input.maxFailures },
      hooks,
    );
  }
  if (!patched(PREPULL_BATCHES_CONCURRENT)) return prePullBatchesInTurn(input, ctx, pairs, hooks);
  const parentId = workflowInfo().workflowId;
  const fan = await fanOut<CalicoPrePullPair, CalicoPrePullOutcome>({
    items: pairs,
    key: pairKey,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    // Runs only in the children (every batched run has more pairs than one batch); kept equal to theirs.
    run: (pair) => prePullOne(pair, ctx, true),
    isFailure: isFailedPull,
    onStart: hooks.onStart,
    onDone: (_pair, o) => hooks.onDone(o),
    onNotStarted: (pair) => hooks.onDone(notStarted(pair)),
    batching: {
      size: input.prePullBatchSize,
      workflowType: 'calicoPrePullFanOutBatch',
      workflowId: (batch) => `${parentId}/pre-pull-${batch}`,
      context: ctx,
      childOptions: { retry: { maximumAttempts: 1, nonRetryableErrorTypes: PERMANENT_ERROR_TYPES } },
    },
  });
  return fan.results.map((r) => r.result ?? notStarted(r.item));
}

/** One prePullImagesOnNodes activity's pairs; its index labels its pods. */
interface PrePullBatch {
  index: number;
  pairs: CalicoPrePullPair[];
}

/**
 * The pre-pull of runs since PREPULL_BATCHED_ACTIVITY: the pairs cut into batches
 * (prePullActivityPlan), one prePullImagesOnNodes activity per batch, `lanes` batches at once, each
 * with at most `inFlight` pods undecided, so at most maxParallel pods over the run. The failure
 * budget counts pairs: no batch starts once it is spent, and each batch gets what is left of it (it
 * stops and deletes its pods once that is spent too). A batch whose activity failed past its
 * retries (the API server gone for its whole budget) fails the pairs it had started, keeps the
 * verdicts it had, and reports the pairs it never started not-started (failedBatch). A batch keeps its
 * decided pods (a retry after a lost worker reads them again instead of pulling again); the next
 * batch to start deletes them, once their verdicts are in history, and the run's cleanup the last
 * ones. Progress follows each batch as it completes.
 */
async function prePullInBatches(
  input: CalicoImageRepairOptions,
  ctx: CalicoPrePullContext,
  pairs: CalicoPrePullPair[],
  hooks: PrePullHooks,
): Promise<CalicoPrePullOutcome[]> {
  const plan = prePullActivityPlan(pairs.length, input.maxParallel, input.prePullBatchSize);
  const batches: PrePullBatch[] = [];
  for (let start = 0; start < pairs.length; start += plan.size)
    batches.push({ index: batches.length, pairs: pairs.slice(start, start + plan.size) });
  const rounds = Math.ceil(plan.size / plan.inFlight);
  const { prePullImagesOnNodes } = proxyActivities<Activities>({
    ...heartbeatingWait({
      scheduleToCloseTimeout: `${rounds * ctx.prePullTimeoutSeconds + WAIT_SLACK_SECONDS}s`,
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
  const fan = await fanOut<PrePullBatch, CalicoPrePullOutcome[]>({
    items: batches,
    key: (b) => String(b.index),
    maxParallel: plan.lanes,
    maxFailures: input.maxFailures,
    isFailure: (outcomes) => outcomes.some(isFailedPull),
    failureCount: (outcomes) => outcomes.filter(isFailedPull).length,
    run: async (b) => {
      const deleting = toDelete;
      toDelete = [];
      try {
        const r = await prePullImagesOnNodes({
          cluster: ctx.cluster,
          namespace: ctx.namespace,
          runLabel: ctx.runLabel,
          batch: b.index,
          pairs: b.pairs,
          maxInFlight: plan.inFlight,
          failureBudget: input.maxFailures - failures,
          timeoutSeconds: ctx.prePullTimeoutSeconds,
          ...(deleting.length ? { deletePods: deleting.map((o) => o.podName!) } : {}),
        });
        const gone = new Set(r.deleted);
        for (const o of deleting) {
          if (!gone.has(o.podName!)) continue;
          o.podRemoved = true;
          hooks.onRemoved?.(o);
        }
        for (const o of r.outcomes) if (o.podName && !o.podRemoved) toDelete.push(o);
        return r.outcomes;
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Not known to be deleted: a later batch tries again, else the run's cleanup removes them.
        toDelete.push(...deleting);
        return failedBatch(b, ctx.runLabel, err);
      }
    },
    onStart: (b) => b.pairs.forEach((p) => hooks.onStart(p)),
    onDone: (_b, outcomes) => {
      for (const o of outcomes) {
        if (isFailedPull(o)) failures++;
        hooks.onDone(o);
      }
    },
    onNotStarted: (b) => b.pairs.forEach((p) => hooks.onDone(notStarted(p))),
  });
  return fan.results.flatMap((r) => r.result ?? r.item.pairs.map(notStarted));
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

/**
 * The outcomes of a batch whose activity failed past its retries: what it last knew is kept (its
 * verdicts; a pair it never started is not-started), every other pair failed, and at least one
 * pair failed.
 */
function failedBatch(b: PrePullBatch, runLabel: string, err: unknown): CalicoPrePullOutcome[] {
  const reason = failureType(err) ?? 'ActivityFailed';
  const last = lastBatchProgress(err);
  const outcomes = b.pairs.map((p, i): CalicoPrePullOutcome => {
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

/** Runs before concurrent batches: child workflows one after another, each with what is left of the budget. */
async function prePullBatchesInTurn(
  input: CalicoImageRepairOptions,
  ctx: CalicoPrePullContext,
  pairs: CalicoPrePullPair[],
  hooks: PrePullHooks,
): Promise<CalicoPrePullOutcome[]> {
  const outcomes: CalicoPrePullOutcome[] = [];
  let failures = 0;
  for (let start = 0, batch = 0; start < pairs.length; start += input.prePullBatchSize, batch++) {
    const slice = pairs.slice(start, start + input.prePullBatchSize);
    if (failures >= input.maxFailures) {
      for (const p of slice) {
        const o = notStarted(p);
        outcomes.push(o);
        hooks.onDone(o);
      }
      continue;
    }
    for (const p of slice) hooks.onStart(p);
    const child = await executeChild(calicoPrePullBatch, {
      workflowId: `${workflowInfo().workflowId}/pre-pull-${batch}`,
      args: [
        { ...ctx, maxParallel: input.maxParallel, pairs: slice, failureBudget: input.maxFailures - failures },
      ],
      retry: { maximumAttempts: 1, nonRetryableErrorTypes: PERMANENT_ERROR_TYPES },
    });
    for (const o of child.outcomes) {
      if (isFailedPull(o)) failures++;
      outcomes.push(o);
      hooks.onDone(o);
    }
  }
  return outcomes;
}

/**
 * 3–5. Every workload in the guide's order. Since ROLLOUT_HARDENED, an API step that failed past its
 * retries (the API server gone longer than the quick budget) stops the phase: the workloads after it
 * are reported not attempted, and the report says which ones this run changed.
 */
async function rollOutPhase(run: RepairRun): Promise<CalicoWorkloadReport[]> {
  const hardened = patched(ROLLOUT_HARDENED);
  const workloads: CalicoWorkloadReport[] = [];
  let stoppedBy: string | undefined;
  for (const w of run.plan.workloads) {
    if (!needsRollout(w)) {
      workloads.push(initialWorkloadReport(w));
    } else if (stoppedBy) {
      const detail = `not attempted: ${stoppedBy}`;
      run.progress.item(progressKey.resource(w.kind, w.name), 'resource', 'skipped', detail);
      workloads.push({ ...initialWorkloadReport(w), outcome: 'not-attempted', detail, changed: 'no' });
    } else {
      const report = hardened ? await rollOutWorkloadSteps(run, w) : await rollOutWorkload(run, w);
      if (report.failedStep) stoppedBy = `${resourceRef(w.kind, w.name)}: ${report.failedStep} failed`;
      workloads.push(report);
    }
  }
  return workloads;
}

/** "; images changed: a, b (maybe: c); not attempted: d" for a failed run's summary (step outcomes only). */
function changeNote(workloads: CalicoWorkloadReport[]): string {
  const named = (pred: (w: CalicoWorkloadReport) => boolean) =>
    workloads.filter(pred).map((w) => resourceRef(w.kind, w.name));
  if (workloads.every((w) => w.changed === undefined)) return '';
  const yes = named((w) => w.changed === 'yes');
  const maybe = named((w) => w.changed === 'unknown');
  const notAttempted = named((w) => w.outcome === 'not-attempted');
  return (
    `; images changed by this run: ${yes.length ? yes.join(', ') : 'none'}` +
    (maybe.length ? ` (maybe: ${maybe.join(', ')})` : '') +
    (notAttempted.length ? `; not attempted: ${notAttempted.join(', ')}` : '')
  );
}

/**
 * 3–5. One workload (since ROLLOUT_HARDENED): list typha's pods, set the images, wait for the
 * rollout, delete typha's pre-update pods and wait again, as rollOutWorkload does; and:
 * - every step's outcome is recorded: an API step failing past its retries ends this workload
 *   `failed` with `failedStep` and whether the images were changed (`unknown` if the patch call
 *   itself failed), instead of failing the run without a report;
 * - previousImages are the plan's (read before any change), not what a retried patch found;
 * - with NotReady nodes skipped, calico-node's rollout is judged on the nodes the run pre-pulled on
 *   (the DaemonSet still targets the NotReady ones, whose pods cannot become available), and its
 *   timeout counts every node, as the guide's does.
 */
async function rollOutWorkloadSteps(run: RepairRun, w: CalicoWorkloadPlan): Promise<CalicoWorkloadReport> {
  const { input, progress, plan } = run;
  const { setWorkloadImages, listWorkloadPods, deletePodsByUid } = quickActivities();
  const phase = ROLLOUT_PHASE[w.name] ?? `rollout-${w.name}`;
  const key = progressKey.resource(w.kind, w.name);
  const timeout = rolloutTimeoutSeconds(w.kind, plan.nodes.length + plan.skippedNodes.length, input);
  const onlyNodes = w.kind === 'DaemonSet' && plan.skippedNodes.length > 0 ? plan.nodes : undefined;
  progress.phase(
    phase,
    `${w.note} (timeout ${timeout}s${onlyNodes ? `; judged on the ${onlyNodes.length} Ready nodes, NotReady skipped: ${plan.skippedNodes.join(', ')}` : ''})`,
  );
  progress.item(key, 'resource', 'running', 'setting images');
  const started = Date.now();
  const ref = { cluster: input.cluster, namespace: input.namespace, kind: w.kind, name: w.name };
  // An unfinished rollout of an earlier run (wait-rollout) is waited for, not patched again; its pods
  // are not "pods of before the update" (some may already run the target), so none is deleted.
  const patching = w.action === 'update';
  const previousImages = patching
    ? w.changes.map((c) => ({ container: c.container, init: c.init, image: c.current ?? '' }))
    : undefined;
  let step = 'list-pods';
  let changed: 'yes' | 'no' | 'unknown' = 'no';
  const base = () => ({
    kind: w.kind,
    name: w.name,
    ...(previousImages && changed !== 'no' ? { previousImages } : {}),
    changed,
    startedAt: new Date(started).toISOString(),
  });
  const { waitForRollout } = waitActivities({ scheduleToCloseTimeout: `${timeout + WAIT_SLACK_SECONDS}s` });
  const waitOnce = async (): Promise<{ outcome: string; message: string }> => {
    try {
      return await waitForRollout({
        ...ref,
        timeoutSeconds: timeout,
        ...(onlyNodes ? { nodes: onlyNodes } : {}),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return { outcome: 'failed', message: failureSummary(err) };
    }
  };
  const entry = await run.clock.timed(phase, async (): Promise<CalicoWorkloadReport> => {
    try {
      const podsBefore = patching && w.name === 'calico-typha' ? await listWorkloadPods(ref) : [];
      step = 'set-images';
      if (patching) {
        changed = 'unknown';
        const set = await setWorkloadImages({
          ...ref,
          images: w.changes.map((c) => ({ container: c.container, init: c.init, image: c.target })),
        });
        // Not changed by this call: an earlier attempt of it did (its result was lost).
        changed = 'yes';
        progress.item(
          key,
          'resource',
          'running',
          `${set.changed ? 'images set' : 'images already set'}; waiting for rollout`,
        );
      } else {
        progress.item(
          key,
          'resource',
          'running',
          'images already set by an earlier run; waiting for rollout',
        );
      }
      step = 'wait-rollout';
      const rollout = await waitOnce();
      if (rollout.outcome === 'complete')
        return { ...base(), rolloutMessage: rollout.message, outcome: 'updated', detail: rollout.message };
      if (podsBefore.length === 0) {
        return {
          ...base(),
          rolloutMessage: rollout.message,
          outcome: 'failed',
          detail: `rollout ${rollout.outcome}: ${rollout.message}`,
        };
      }
      step = 'delete-old-pods';
      const cleanup = await deletePodsByUid({
        cluster: input.cluster,
        namespace: input.namespace,
        pods: podsBefore,
      });
      const cleanupDetail = `pre-update pods: ${cleanup.deleted.length} deleted, ${cleanup.alreadyGone.length} already gone`;
      const old = { oldPodsDeleted: cleanup.deleted, oldPodsAlreadyGone: cleanup.alreadyGone };
      step = 'wait-rollout';
      const again = await waitOnce();
      return again.outcome === 'complete'
        ? {
            ...base(),
            ...old,
            rolloutMessage: again.message,
            outcome: 'updated',
            detail: `${again.message} (after ${cleanupDetail})`,
          }
        : {
            ...base(),
            ...old,
            rolloutMessage: again.message,
            outcome: 'failed',
            detail: `rollout ${again.outcome} after ${cleanupDetail}: ${again.message}`,
          };
    } catch (err) {
      if (isCancellation(err)) throw err;
      const what =
        changed === 'unknown'
          ? 'the images may or may not have been set'
          : changed === 'yes'
            ? 'after the images were set'
            : 'before any change';
      return {
        ...base(),
        outcome: 'failed',
        failedStep: step,
        detail: `${step} failed (${what}): ${failureSummary(err)}`,
      };
    }
  });
  entry.durationMs = Date.now() - started;
  progress.item(key, 'resource', entry.outcome === 'updated' ? 'succeeded' : 'failed', entry.detail);
  return entry;
}

/**
 * 3–5. One workload: set its images, wait for its rollout; when typha's rollout fails, delete the
 * typha pods of before the update (the guide's delete_old_pods, every one of them).
 */
async function rollOutWorkload(run: RepairRun, w: CalicoWorkloadPlan): Promise<CalicoWorkloadReport> {
  const { input, progress, plan } = run;
  const { setWorkloadImages, listWorkloadPods, deletePodsByUid } = quickActivities();
  const phase = ROLLOUT_PHASE[w.name] ?? `rollout-${w.name}`;
  const key = progressKey.resource(w.kind, w.name);
  const timeout = rolloutTimeoutSeconds(w.kind, plan.nodes.length, input);
  progress.phase(phase, `${w.note} (timeout ${timeout}s)`);
  progress.item(key, 'resource', 'running', 'setting images');
  const started = Date.now();
  const ref = { cluster: input.cluster, namespace: input.namespace, kind: w.kind, name: w.name };
  const entry = await run.clock.timed(phase, async (): Promise<CalicoWorkloadReport> => {
    // An unfinished rollout of an earlier run (wait-rollout) is waited for, not patched again; its pods
    // are not "pods of before the update" (some may already run the target), so none is deleted.
    const patching = w.action === 'update';
    const podsBefore = patching && w.name === 'calico-typha' ? await listWorkloadPods(ref) : [];
    const set = patching
      ? await setWorkloadImages({
          ...ref,
          images: w.changes.map((c) => ({ container: c.container, init: c.init, image: c.target })),
        })
      : undefined;
    progress.item(
      key,
      'resource',
      'running',
      `${!set ? 'images already set by an earlier run' : set.changed ? 'images set' : 'images already set'}; waiting for rollout`,
    );
    const { waitForRollout } = waitActivities({ scheduleToCloseTimeout: `${timeout + WAIT_SLACK_SECONDS}s` });
    const waitOnce = async (): Promise<{ outcome: string; message: string }> => {
      try {
        return await waitForRollout({ ...ref, timeoutSeconds: timeout });
      } catch (err) {
        if (isCancellation(err)) throw err;
        return { outcome: 'failed', message: failureSummary(err) };
      }
    };
    const rollout = await waitOnce();
    const base = {
      kind: w.kind,
      name: w.name,
      previousImages: set?.previousImages,
      rolloutMessage: rollout.message,
      startedAt: new Date(started).toISOString(),
    };
    if (rollout.outcome === 'complete') return { ...base, outcome: 'updated', detail: rollout.message };
    if (podsBefore.length === 0) {
      return { ...base, outcome: 'failed', detail: `rollout ${rollout.outcome}: ${rollout.message}` };
    }
    const cleanup = await deletePodsByUid({
      cluster: input.cluster,
      namespace: input.namespace,
      pods: podsBefore,
    });
    const cleanupDetail = `pre-update pods: ${cleanup.deleted.length} deleted, ${cleanup.alreadyGone.length} already gone`;
    const old = { oldPodsDeleted: cleanup.deleted, oldPodsAlreadyGone: cleanup.alreadyGone };
    // The guide stops after deleting the old pods; whether typha then rolls out is what the operator
    // needs to know, so wait once more (runs recorded before this did not).
    if (patched(TYPHA_REWAIT_AFTER_OLD_PODS)) {
      const again = await waitOnce();
      if (again.outcome === 'complete') {
        return {
          ...base,
          ...old,
          rolloutMessage: again.message,
          outcome: 'updated',
          detail: `${again.message} (after ${cleanupDetail})`,
        };
      }
      return {
        ...base,
        ...old,
        rolloutMessage: again.message,
        outcome: 'failed',
        detail: `rollout ${again.outcome} after ${cleanupDetail}: ${again.message}`,
      };
    }
    return {
      ...base,
      ...old,
      outcome: 'failed',
      detail: `rollout ${rollout.outcome}: ${rollout.message}; ${cleanupDetail}`,
    };
  });
  entry.durationMs = Date.now() - started;
  progress.item(key, 'resource', entry.outcome === 'updated' ? 'succeeded' : 'failed', entry.detail);
  return entry;
}

/**
 * The result, bounded: every failure in full, successes listed while short, counts of everything.
 * At 1,000 nodes this keeps it far below Temporal's payload limits; the progress query and the
 * (child) histories keep each pair.
 */
function buildReport(
  run: RepairRun,
  outcome: CalicoImageRepairResult['outcome'],
  summary: string,
  extra: Partial<CalicoImageRepairResult> = {},
): CalicoImageRepairResult {
  const prePulls = extra.prePulls ?? [];
  const nodes = extra.nodes ?? [];
  const listedPulls = boundedList(prePulls, (o) => o.outcome !== 'pulled');
  const listedNodes = boundedList(nodes, (n) => n.outcome !== 'pulled');
  const planNodes = run.plan.nodes.slice(0, MAX_LISTED_SUCCESSES);
  const omitted = {
    prePulls: prePulls.length - listedPulls.length,
    nodes: nodes.length - listedNodes.length,
    planNodes: run.plan.nodes.length - planNodes.length,
  };
  const prePullCounts: Record<string, number> = {};
  for (const o of prePulls) prePullCounts[o.outcome] = (prePullCounts[o.outcome] ?? 0) + 1;
  return {
    cluster: run.input.cluster,
    outcome,
    dryRun: run.input.dryRun,
    plan: { ...run.plan, nodes: planNodes, nodeCount: run.plan.nodes.length },
    workloads: run.plan.workloads.map(initialWorkloadReport),
    failedResources: run.missing.map((w) => resourceRef(w.kind, w.name)),
    phaseDurationsMs: run.clock.durationsMs,
    summary,
    ...extra,
    prePulls: listedPulls,
    nodes: listedNodes,
    ...(prePulls.length ? { prePullCounts } : {}),
    ...(omitted.prePulls || omitted.nodes || omitted.planNodes ? { omitted } : {}),
  };
}

/** A short list as it is; a long one: the notable entries, then the others while short. */
function boundedList<T>(items: T[], notable: (item: T) => boolean): T[] {
  return items.length <= MAX_LISTED_SUCCESSES ? items : notableFirst(items, notable).listed;
}

function initialWorkloadReport(w: CalicoWorkloadPlan): CalicoWorkloadReport {
  const outcome = needsRollout(w) ? 'not-attempted' : w.action === 'skip-up-to-date' ? 'skipped' : 'missing';
  return { kind: w.kind, name: w.name, outcome, detail: w.note };
}

/** The workflow's failure: RemediationFailed, non-retryable, the full report in its details. */
function remediationFailed(result: CalicoImageRepairResult): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.RemediationFailed,
    message: result.summary,
    nonRetryable: true,
    details: [result],
  });
}
