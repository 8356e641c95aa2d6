/**
 * calicoImageRepair's first phase: nodes Ready (or skipped when the input allows), which workloads
 * are not on the target images yet, which images every node must pull, and each rollout's timeout.
 * Reads only.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import {
  CALICO_WORKLOADS,
  defaultPrePullParallelism,
  imagesToPrePull,
  needsRollout,
  planWorkloads,
  progressKey,
  resourceRef,
  targetImages,
  type CalicoImageRepairOptions,
  type CalicoImageRepairParsed,
} from '../../common/calico';
import { ErrorType } from '../../common/errors';
import { calicoRolloutTimeoutSeconds, quickActivities } from '../activity-profiles';
import type { CalicoPlan, CalicoWorkloadPlan } from '../definitions';
import { Phase, type ProgressTracker } from '../lib/progress';
import { runPreflight } from '../lib/preflight';

/** Wall time per phase, for the report (workflow time: deterministic on replay). */
export class PhaseClock {
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

/** What one run works from: its input, progress, clock, the plan, and the workloads to roll. */
export interface RepairRun {
  input: CalicoImageRepairOptions;
  progress: ProgressTracker;
  clock: PhaseClock;
  plan: CalicoPlan;
  toUpdate: CalicoWorkloadPlan[];
  missing: CalicoWorkloadPlan[];
}

export async function planRepair(
  input: CalicoImageRepairParsed,
  progress: ProgressTracker,
  clock: PhaseClock,
): Promise<RepairRun> {
  const { readWorkloadImages } = quickActivities();
  const preflight = await clock.timed(Phase.Preflight, () =>
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
  const workloads = planWorkloads(observed, targetImages(input.registry, input.tag));
  const images = imagesToPrePull(workloads);
  // The guide's calico-node timeout counts every node the DaemonSet targets, NotReady ones included.
  const plan: CalicoPlan = {
    namespace: input.namespace,
    nodes,
    skippedNodes: preflight.notReady,
    images,
    workloads,
    rolloutTimeouts: Object.fromEntries(
      workloads.map((w) => [
        resourceRef(w.kind, w.name),
        calicoRolloutTimeoutSeconds(w.kind, preflight.nodes.length, input),
      ]),
    ),
  };
  for (const w of workloads) {
    const status = needsRollout(w) ? 'pending' : w.action === 'skip-up-to-date' ? 'unchanged' : 'failed';
    progress.item(progressKey.resource(w.kind, w.name), 'resource', status, w.note);
  }
  progress.note(
    `plan: ${workloads.map((w) => `${w.name} ${w.action}`).join(', ')}; ${images.length} images on ${nodes.length} nodes` +
      (plan.skippedNodes.length ? `; NotReady nodes skipped: ${plan.skippedNodes.join(', ')}` : ''),
  );
  return {
    input: { ...input, maxParallel: input.maxParallel ?? defaultPrePullParallelism(nodes.length) },
    progress,
    clock,
    plan,
    toUpdate: workloads.filter(needsRollout),
    missing: workloads.filter((w) => w.action === 'missing'),
  };
}
