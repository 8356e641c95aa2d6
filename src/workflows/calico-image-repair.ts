/**
 * calicoImageRepair (PROCEDURES.md 6): the guide's calico_manifest_image_change.sh as a durable
 * workflow. Same phases in the same order (check images, pre-pull on every node, set image and wait
 * for rollout on calico-node, calico-kube-controllers, calico-typha, report), with what the script
 * leaves to luck done properly: parallel bounded pre-pulls, skip instead of abort for workloads already
 * on target, every typha pod of before the update deleted when its rollout fails, a report per node /
 * image / workload, and every finished step kept in history so a new worker resumes where the last
 * one died.
 */
import {
  ApplicationFailure,
  CancellationScope,
  executeChild,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import {
  CALICO_WORKLOADS,
  CalicoImageRepairInputSchema,
  imagesToPrePull,
  planWorkloads,
  progressKey,
  resourceRef,
  rolloutTimeoutSeconds,
  targetImages,
  type CalicoImageRepairOptions,
} from '../common/calico';
import { ErrorType } from '../common/errors';
import { PERMANENT_ERROR_TYPES, quickActivities, waitActivities } from './activity-profiles';
import type {
  CalicoImageRepairInput,
  CalicoImageRepairResult,
  CalicoNodeReport,
  CalicoPlan,
  CalicoPrePullBatchInput,
  CalicoPrePullBatchResult,
  CalicoPrePullOutcome,
  CalicoWorkloadPlan,
  CalicoWorkloadReport,
} from './definitions';
import { awaitApproval } from './lib/approval';
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
const PREPULL_HEARTBEAT_TIMEOUT = '15s';

/** A short, stable label value for a workflow ID (FNV-1a, 32 bit): names the run's pre-pull pods. */
export function runLabelOf(workflowId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workflowId.length; i++) {
    hash ^= workflowId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `wf-${hash.toString(16).padStart(8, '0')}`;
}

/** Starts `run` on items, at most `limit` at a time, and stops starting new ones once `shouldStop()`. */
async function boundedPool<T>(
  items: T[],
  limit: number,
  shouldStop: () => boolean,
  run: (item: T) => Promise<void>,
) {
  let next = 0;
  const lane = async () => {
    while (next < items.length && !shouldStop()) {
      const item = items[next++]!;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function prePullActivities(timeoutSeconds: number) {
  return waitActivities({
    scheduleToCloseTimeout: `${timeoutSeconds + WAIT_SLACK_SECONDS}s`,
    heartbeatTimeout: PREPULL_HEARTBEAT_TIMEOUT,
  });
}

/**
 * The pre-pull fan-out, shared by the workflow (small clusters) and its batch children (large ones).
 * Pairs never started (failure budget spent) come back as not-started.
 */
async function runPrePulls(
  run: CalicoPrePullBatchInput,
  onChange?: (outcome: CalicoPrePullOutcome | { node: string; image: string; outcome: 'running' }) => void,
): Promise<CalicoPrePullOutcome[]> {
  const { prePullImage } = prePullActivities(run.prePullTimeoutSeconds);
  const { deletePrePullPod } = quickActivities();
  // Runs recorded before this deleted the pod inside prePullImage; replaying them must do the same.
  const deleteAfterVerdict = patched(PREPULL_POD_DELETED_AFTER_VERDICT);
  const outcomes = new Map<string, CalicoPrePullOutcome>();
  let failures = 0;
  await boundedPool(
    run.pairs,
    run.maxParallel,
    () => failures >= run.failureBudget,
    async ({ node, image }) => {
      onChange?.({ node, image, outcome: 'running' });
      let outcome: CalicoPrePullOutcome;
      try {
        outcome = await prePullImage({
          cluster: run.cluster,
          namespace: run.namespace,
          node,
          image,
          runLabel: run.runLabel,
          timeoutSeconds: run.prePullTimeoutSeconds,
          ...(deleteAfterVerdict ? { keepPod: true } : {}),
        });
      } catch (err) {
        // Retries exhausted (API unreachable for the whole budget, say): this pair failed, the rest go on.
        const cause = (err as { cause?: { type?: string; message?: string } }).cause;
        outcome = { node, image, outcome: 'failed', reason: cause?.type ?? 'ActivityFailed' };
      }
      if (deleteAfterVerdict) {
        // The verdict is in history now, so the pod can go. If this fails, the run's label cleanup
        // (always run after the pre-pull phase) removes it: the pair's verdict stands.
        await deletePrePullPod({ cluster: run.cluster, namespace: run.namespace, node, image }).catch(
          (err: unknown) => {
            if (isCancellation(err)) throw err;
          },
        );
      }
      if (outcome.outcome === 'failed') failures++;
      outcomes.set(`${node}\0${image}`, outcome);
      onChange?.(outcome);
    },
  );
  return run.pairs.map(
    ({ node, image }) =>
      outcomes.get(`${node}\0${image}`) ?? {
        node,
        image,
        outcome: 'not-started',
        reason: 'failure budget spent',
      },
  );
}

/**
 * One batch of pre-pulls of a large cluster, as a child workflow so each history stays far below
 * Temporal's event limit. Changes nothing but short-lived pre-pull pods, which it deletes.
 */
export async function calicoPrePullBatch(input: CalicoPrePullBatchInput): Promise<CalicoPrePullBatchResult> {
  return { outcomes: await runPrePulls(input) };
}

function prePullDetail(o: CalicoPrePullOutcome): string {
  const secs = o.durationMs !== undefined ? ` in ${(o.durationMs / 1000).toFixed(1)}s` : '';
  return o.outcome === 'pulled' ? `pulled${secs}` : `${o.outcome}${o.reason ? `: ${o.reason}` : ''}${secs}`;
}

function nodeReports(nodes: string[], outcomes: CalicoPrePullOutcome[]): CalicoNodeReport[] {
  return nodes.map((node) => {
    const mine = outcomes.filter((o) => o.node === node);
    const failedImages = mine.filter((o) => o.outcome === 'failed').map((o) => o.image);
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

async function repair(
  input: CalicoImageRepairOptions,
  progress: ProgressTracker,
): Promise<CalicoImageRepairResult> {
  const { readWorkloadImages, setWorkloadImages, listWorkloadPods, deletePodsByUid, deletePrePullPods } =
    quickActivities();
  const phaseDurationsMs: Record<string, number> = {};
  const timed = async <T>(phase: string, body: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await body();
    } finally {
      phaseDurationsMs[phase] = (phaseDurationsMs[phase] ?? 0) + (Date.now() - started);
    }
  };
  const ns = input.namespace;

  // 1. Preflight: nodes Ready, and which workloads are not on the target images yet.
  const preflight = await timed(Phase.Preflight, () =>
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
  const targets = targetImages(input.registry, input.tag);
  const observed = await timed(Phase.Preflight, () =>
    readWorkloadImages({
      cluster: input.cluster,
      namespace: ns,
      workloads: CALICO_WORKLOADS.map(({ kind, name }) => ({ kind, name })),
    }),
  );
  const workloadPlans = planWorkloads(observed, targets);
  const images = imagesToPrePull(workloadPlans);
  const plan: CalicoPlan = {
    namespace: ns,
    nodes,
    skippedNodes: preflight.notReady,
    images,
    workloads: workloadPlans,
    rolloutTimeouts: Object.fromEntries(
      workloadPlans.map((w) => [
        resourceRef(w.kind, w.name),
        rolloutTimeoutSeconds(w.kind, nodes.length, input),
      ]),
    ),
  };
  for (const w of workloadPlans) {
    progress.item(
      progressKey.resource(w.kind, w.name),
      'resource',
      w.action === 'update' ? 'pending' : w.action === 'skip-up-to-date' ? 'unchanged' : 'failed',
      w.note,
    );
  }
  progress.note(
    `plan: ${workloadPlans.map((w) => `${w.name} ${w.action}`).join(', ')}; ${images.length} images on ${nodes.length} nodes` +
      (plan.skippedNodes.length ? `; NotReady nodes skipped: ${plan.skippedNodes.join(', ')}` : ''),
  );

  const toUpdate = workloadPlans.filter((w) => w.action === 'update');
  const missing = workloadPlans.filter((w) => w.action === 'missing');
  const report = (
    outcome: CalicoImageRepairResult['outcome'],
    summary: string,
    extra: Partial<CalicoImageRepairResult> = {},
  ): CalicoImageRepairResult => ({
    cluster: input.cluster,
    outcome,
    dryRun: input.dryRun,
    plan,
    prePulls: [],
    nodes: [],
    workloads: workloadPlans.map(initialWorkloadReport),
    failedResources: missing.map((w) => resourceRef(w.kind, w.name)),
    phaseDurationsMs,
    summary,
    ...extra,
  });

  if (toUpdate.length === 0) {
    const result = report(
      missing.length ? 'failed' : 'nothing-to-do',
      missing.length
        ? `nothing to update; missing: ${missing.map((w) => w.note).join('; ')}`
        : `nothing to do: every calico workload already runs ${input.registry}/*:${input.tag}`,
    );
    if (missing.length) throw remediationFailed(result);
    return result;
  }
  if (input.dryRun) {
    return report(
      'planned',
      `dry run: would pre-pull ${images.length} images on ${nodes.length} nodes and update ${toUpdate.map((w) => w.name).join(', ')}`,
    );
  }

  let approvedBy: string | undefined;
  if (input.requireApproval) {
    const gate = await timed(Phase.AwaitingApproval, () =>
      awaitApproval(
        progress,
        `pre-pull ${images.length} images on ${nodes.length} nodes, then roll ${toUpdate.map((w) => w.name).join(', ')}`,
        input,
      ),
    );
    if (gate.decision === 'expired') {
      return report(
        'approval-expired',
        `approval expired: no decision within ${gate.after}; nothing changed (no image pre-pulled, no workload updated)`,
      );
    }
    approvedBy = gate.approver;
  }

  // 2. Pre-pull every image on every node; any failure stops before anything is rolled.
  const runLabel = runLabelOf(workflowInfo().workflowId);
  const pairs = nodes.flatMap((node) => images.map((image) => ({ node, image })));
  for (const p of pairs) progress.item(progressKey.prePull(p.node, p.image), 'node-image', 'pending');
  progress.phase(
    CalicoPhase.PrePull,
    `${images.length} images × ${nodes.length} nodes, ${input.maxParallel} at a time`,
  );
  const onChange = (o: { node: string; image: string; outcome: string }) => {
    const key = progressKey.prePull(o.node, o.image);
    if (o.outcome === 'running') progress.item(key, 'node-image', 'running');
    else {
      const done = o as CalicoPrePullOutcome;
      progress.item(
        key,
        'node-image',
        done.outcome === 'pulled' ? 'succeeded' : done.outcome === 'failed' ? 'failed' : 'skipped',
        prePullDetail(done),
      );
    }
  };
  let prePulls: CalicoPrePullOutcome[];
  try {
    prePulls = await timed(CalicoPhase.PrePull, () => prePullAll(input, runLabel, pairs, onChange));
  } finally {
    // Whatever happened (failure, cancellation), no pre-pull pod of this run stays behind.
    await CancellationScope.nonCancellable(() =>
      deletePrePullPods({ cluster: input.cluster, namespace: ns, runLabel }),
    );
  }
  const perNode = nodeReports(nodes, prePulls);
  for (const n of perNode) {
    progress.item(
      progressKey.node(n.node),
      'node',
      n.outcome === 'pulled' ? 'succeeded' : 'failed',
      n.outcome === 'pulled'
        ? `${images.length} images pre-pulled`
        : `pre-pull ${n.outcome}${n.failedImages.length ? `: ${n.failedImages.join(', ')}` : ''}`,
    );
  }
  const failedNodes = perNode.filter((n) => n.outcome !== 'pulled');
  if (failedNodes.length > 0) {
    for (const w of toUpdate)
      progress.item(
        progressKey.resource(w.kind, w.name),
        'resource',
        'skipped',
        'not rolled: pre-pull failed',
      );
    const result = report(
      'failed',
      `pre-pull failed on ${failedNodes.length} node(s) (${failedNodes.map((n) => `${n.node}${n.failedImages.length ? `: ${n.failedImages.join(', ')}` : ' (incomplete)'}`).join('; ')}); nothing rolled`,
      {
        approvedBy,
        prePulls,
        nodes: perNode,
        workloads: workloadPlans.map((w) =>
          w.action === 'update'
            ? { ...initialWorkloadReport(w), outcome: 'not-attempted', detail: 'pre-pull failed; not rolled' }
            : initialWorkloadReport(w),
        ),
        failedResources: [...missing, ...toUpdate].map((w) => resourceRef(w.kind, w.name)),
      },
    );
    throw remediationFailed(result);
  }

  // 3–5. Set images and wait for each rollout, in the guide's order; a failure does not stop the next.
  const workloads: CalicoWorkloadReport[] = [];
  for (const w of workloadPlans) {
    if (w.action !== 'update') {
      workloads.push(initialWorkloadReport(w));
      continue;
    }
    const phase = ROLLOUT_PHASE[w.name] ?? `rollout-${w.name}`;
    const key = progressKey.resource(w.kind, w.name);
    const timeout = rolloutTimeoutSeconds(w.kind, nodes.length, input);
    progress.phase(phase, `${w.note} (timeout ${timeout}s)`);
    progress.item(key, 'resource', 'running', 'setting images');
    const started = Date.now();
    const ref = { cluster: input.cluster, namespace: ns, kind: w.kind, name: w.name };
    const entry = await timed(phase, async (): Promise<CalicoWorkloadReport> => {
      // The guide deletes typha's pods of before the update when its rollout fails: list them first.
      const podsBefore = w.name === 'calico-typha' ? await listWorkloadPods(ref) : [];
      const set = await setWorkloadImages({
        ...ref,
        images: w.changes.map((c) => ({ container: c.container, init: c.init, image: c.target })),
      });
      progress.item(
        key,
        'resource',
        'running',
        `${set.changed ? 'images set' : 'images already set'}; waiting for rollout`,
      );
      const { waitForRollout } = waitActivities({
        scheduleToCloseTimeout: `${timeout + WAIT_SLACK_SECONDS}s`,
      });
      let rollout: { outcome: string; message: string };
      try {
        rollout = await waitForRollout({ ...ref, timeoutSeconds: timeout });
      } catch (err) {
        const cause = (err as { cause?: { type?: string; message?: string } }).cause;
        rollout = { outcome: 'failed', message: cause?.message ?? 'rollout wait failed' };
      }
      const base = {
        kind: w.kind,
        name: w.name,
        previousImages: set.previousImages,
        rolloutMessage: rollout.message,
        startedAt: new Date(started).toISOString(),
      };
      if (rollout.outcome === 'complete') return { ...base, outcome: 'updated', detail: rollout.message };
      let cleanup: { deleted: string[]; alreadyGone: string[] } | undefined;
      if (podsBefore.length > 0) {
        cleanup = await deletePodsByUid({ cluster: input.cluster, namespace: ns, pods: podsBefore });
      }
      return {
        ...base,
        outcome: 'failed',
        detail:
          `rollout ${rollout.outcome}: ${rollout.message}` +
          (cleanup
            ? `; pre-update pods: ${cleanup.deleted.length} deleted, ${cleanup.alreadyGone.length} already gone`
            : ''),
        oldPodsDeleted: cleanup?.deleted,
        oldPodsAlreadyGone: cleanup?.alreadyGone,
      };
    });
    entry.durationMs = Date.now() - started;
    progress.item(key, 'resource', entry.outcome === 'updated' ? 'succeeded' : 'failed', entry.detail);
    workloads.push(entry);
  }

  // 6. Report.
  progress.phase(CalicoPhase.Report);
  const failedResources = workloads
    .filter((w) => w.outcome === 'failed' || w.outcome === 'missing')
    .map((w) => resourceRef(w.kind, w.name));
  const updated = workloads.filter((w) => w.outcome === 'updated').map((w) => w.name);
  const result = report(
    failedResources.length ? 'failed' : 'repaired',
    failedResources.length
      ? `failed: ${failedResources.join(', ')}${updated.length ? `; updated: ${updated.join(', ')}` : ''}`
      : `repaired: ${updated.join(', ')} now on ${input.registry}/*:${input.tag}; ${pairs.length} pre-pulls on ${nodes.length} nodes`,
    { approvedBy, prePulls, nodes: perNode, workloads, failedResources },
  );
  if (failedResources.length) throw remediationFailed(result);
  return result;
}

function initialWorkloadReport(w: CalicoWorkloadPlan): CalicoWorkloadReport {
  const outcome =
    w.action === 'update' ? 'not-attempted' : w.action === 'skip-up-to-date' ? 'skipped' : 'missing';
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

/**
 * Runs the pairs in this workflow when they fit one history comfortably, else in child workflows of
 * `prePullBatchSize` pairs, one after another, each with what is left of the failure budget.
 */
async function prePullAll(
  input: CalicoImageRepairOptions,
  runLabel: string,
  pairs: { node: string; image: string }[],
  onChange: (o: { node: string; image: string; outcome: string }) => void,
): Promise<CalicoPrePullOutcome[]> {
  const base = {
    cluster: input.cluster,
    namespace: input.namespace,
    runLabel,
    maxParallel: input.maxParallel,
    prePullTimeoutSeconds: input.prePullTimeoutSeconds,
  };
  if (pairs.length <= input.prePullBatchSize) {
    return runPrePulls({ ...base, pairs, failureBudget: input.maxFailures }, onChange);
  }
  const outcomes: CalicoPrePullOutcome[] = [];
  let failures = 0;
  for (let start = 0, batch = 0; start < pairs.length; start += input.prePullBatchSize, batch++) {
    const slice = pairs.slice(start, start + input.prePullBatchSize);
    if (failures >= input.maxFailures) {
      for (const p of slice) {
        const o: CalicoPrePullOutcome = { ...p, outcome: 'not-started', reason: 'failure budget spent' };
        outcomes.push(o);
        onChange(o);
      }
      continue;
    }
    for (const p of slice) onChange({ ...p, outcome: 'running' });
    const child = await executeChild(calicoPrePullBatch, {
      workflowId: `${workflowInfo().workflowId}/pre-pull-${batch}`,
      args: [{ ...base, pairs: slice, failureBudget: input.maxFailures - failures }],
      retry: { maximumAttempts: 1, nonRetryableErrorTypes: PERMANENT_ERROR_TYPES },
    });
    for (const o of child.outcomes) {
      if (o.outcome === 'failed') failures++;
      outcomes.push(o);
      onChange(o);
    }
  }
  return outcomes;
}
