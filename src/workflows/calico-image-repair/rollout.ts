/**
 * calicoImageRepair's rollouts: calico-node, calico-kube-controllers, calico-typha in the guide's
 * order. Per workload: list typha's pods, set the images, wait for the rollout; when typha's rollout
 * fails, delete its pods of before the update (the guide's delete_old_pods) and wait once more.
 *
 * Every step's outcome is recorded: an API step failing past its retries ends that workload `failed`
 * with `failedStep` and whether the images were changed (`unknown` if the patch call itself failed),
 * and the workloads after it are reported not attempted. previousImages are the plan's (read before
 * any change), not what a retried patch found. With NotReady nodes skipped, calico-node's rollout is
 * judged on the nodes the run pre-pulled on, and its timeout counts every node, as the guide's does.
 */
import { isCancellation } from '@temporalio/workflow';
import { needsRollout, progressKey, resourceRef } from '../../common/calico';
import {
  calicoRolloutTimeoutSeconds,
  quickActivities,
  WAIT_SLACK_SECONDS,
  waitActivities,
} from '../activity-profiles';
import type { CalicoWorkloadPlan, CalicoWorkloadReport } from '../definitions';
import { failureSummary } from '../lib/failures';
import type { RepairRun } from './plan';
import { initialWorkloadReport } from './report';

export const ROLLOUT_PHASE: Record<string, string> = {
  'calico-node': 'rollout-calico-node',
  'calico-kube-controllers': 'rollout-calico-kube-controllers',
  'calico-typha': 'rollout-calico-typha',
};

type Changed = NonNullable<CalicoWorkloadReport['changed']>;
type RolloutWait = { outcome: string; message: string };

export async function rollOutPhase(run: RepairRun): Promise<CalicoWorkloadReport[]> {
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
      const report = await rollOutWorkload(run, w);
      if (report.failedStep) stoppedBy = `${resourceRef(w.kind, w.name)}: ${report.failedStep} failed`;
      workloads.push(report);
    }
  }
  return workloads;
}

/** One workload's steps, as they went; tracks the step and whether the images were changed yet. */
class WorkloadRollout {
  step = 'list-pods';
  changed: Changed = 'no';
  readonly started = Date.now();
  readonly phase: string;
  readonly key: string;
  readonly timeout: number;
  /** With NotReady nodes skipped, calico-node is judged on the Ready (pre-pulled) nodes only. */
  readonly onlyNodes: string[] | undefined;
  /** An unfinished rollout of an earlier run (wait-rollout) is waited for, not patched again. */
  readonly patching: boolean;
  readonly ref: { cluster: string; namespace: string; kind: CalicoWorkloadPlan['kind']; name: string };

  constructor(
    readonly run: RepairRun,
    readonly w: CalicoWorkloadPlan,
  ) {
    const { input, plan } = run;
    this.phase = ROLLOUT_PHASE[w.name] ?? `rollout-${w.name}`;
    this.key = progressKey.resource(w.kind, w.name);
    this.timeout = calicoRolloutTimeoutSeconds(w.kind, plan.nodes.length + plan.skippedNodes.length, input);
    this.onlyNodes = w.kind === 'DaemonSet' && plan.skippedNodes.length > 0 ? plan.nodes : undefined;
    this.patching = w.action === 'update';
    this.ref = { cluster: input.cluster, namespace: input.namespace, kind: w.kind, name: w.name };
  }

  report(
    fields: Omit<CalicoWorkloadReport, 'kind' | 'name' | 'changed' | 'startedAt'>,
  ): CalicoWorkloadReport {
    const previousImages =
      this.patching && this.changed !== 'no'
        ? this.w.changes.map((c) => ({ container: c.container, init: c.init, image: c.current ?? '' }))
        : undefined;
    return {
      kind: this.w.kind,
      name: this.w.name,
      ...(previousImages ? { previousImages } : {}),
      changed: this.changed,
      startedAt: new Date(this.started).toISOString(),
      ...fields,
    };
  }

  /** A rollout that did not complete in time, or whose wait failed, is an outcome, not an error. */
  async waitOnce(): Promise<RolloutWait> {
    const { waitForRollout } = waitActivities({
      scheduleToCloseTimeout: `${this.timeout + WAIT_SLACK_SECONDS}s`,
    });
    try {
      return await waitForRollout({
        ...this.ref,
        timeoutSeconds: this.timeout,
        ...(this.onlyNodes ? { nodes: this.onlyNodes } : {}),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return { outcome: 'failed', message: failureSummary(err) };
    }
  }
}

async function rollOutWorkload(run: RepairRun, w: CalicoWorkloadPlan): Promise<CalicoWorkloadReport> {
  const r = new WorkloadRollout(run, w);
  const { plan, progress } = run;
  const skipped = r.onlyNodes
    ? `; judged on the ${r.onlyNodes.length} Ready nodes, NotReady skipped: ${plan.skippedNodes.join(', ')}`
    : '';
  progress.phase(r.phase, `${w.note} (timeout ${r.timeout}s${skipped})`);
  progress.item(r.key, 'resource', 'running', 'setting images');
  const entry = await run.clock.timed(r.phase, async () => {
    try {
      return await rollOutSteps(r);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const what =
        r.changed === 'unknown'
          ? 'the images may or may not have been set'
          : r.changed === 'yes'
            ? 'after the images were set'
            : 'before any change';
      const detail = `${r.step} failed (${what}): ${failureSummary(err)}`;
      return r.report({ outcome: 'failed', failedStep: r.step, detail });
    }
  });
  entry.durationMs = Date.now() - r.started;
  progress.item(r.key, 'resource', entry.outcome === 'updated' ? 'succeeded' : 'failed', entry.detail);
  return entry;
}

/** The steps; an API step that fails past its retries throws, with `r.step` naming it. */
async function rollOutSteps(r: WorkloadRollout): Promise<CalicoWorkloadReport> {
  const { setWorkloadImages, listWorkloadPods } = quickActivities();
  const { progress } = r.run;
  // Pods of an unfinished earlier rollout are not "pods of before the update" (some may already run
  // the target), so only a patching run lists them for deletion.
  const podsBefore = r.patching && r.w.name === 'calico-typha' ? await listWorkloadPods(r.ref) : [];
  r.step = 'set-images';
  if (r.patching) {
    r.changed = 'unknown';
    const set = await setWorkloadImages({
      ...r.ref,
      images: r.w.changes.map((c) => ({ container: c.container, init: c.init, image: c.target })),
    });
    // Not changed by this call: an earlier attempt of it did (its result was lost).
    r.changed = 'yes';
    const how = set.changed ? 'images set' : 'images already set';
    progress.item(r.key, 'resource', 'running', `${how}; waiting for rollout`);
  } else {
    progress.item(r.key, 'resource', 'running', 'images already set by an earlier run; waiting for rollout');
  }
  r.step = 'wait-rollout';
  const rollout = await r.waitOnce();
  if (rollout.outcome === 'complete')
    return r.report({ rolloutMessage: rollout.message, outcome: 'updated', detail: rollout.message });
  if (podsBefore.length === 0) {
    const detail = `rollout ${rollout.outcome}: ${rollout.message}`;
    return r.report({ rolloutMessage: rollout.message, outcome: 'failed', detail });
  }
  return deleteOldPodsAndWait(r, podsBefore);
}

/** typha's pre-update pods deleted (every one, as the guide does), then its rollout waited for again. */
async function deleteOldPodsAndWait(
  r: WorkloadRollout,
  podsBefore: Awaited<ReturnType<ReturnType<typeof quickActivities>['listWorkloadPods']>>,
): Promise<CalicoWorkloadReport> {
  const { deletePodsByUid } = quickActivities();
  r.step = 'delete-old-pods';
  const { cluster, namespace } = r.ref;
  const cleanup = await deletePodsByUid({ cluster, namespace, pods: podsBefore });
  const cleanupDetail = `pre-update pods: ${cleanup.deleted.length} deleted, ${cleanup.alreadyGone.length} already gone`;
  const old = { oldPodsDeleted: cleanup.deleted, oldPodsAlreadyGone: cleanup.alreadyGone };
  r.step = 'wait-rollout';
  const again = await r.waitOnce();
  return again.outcome === 'complete'
    ? r.report({
        ...old,
        rolloutMessage: again.message,
        outcome: 'updated',
        detail: `${again.message} (after ${cleanupDetail})`,
      })
    : r.report({
        ...old,
        rolloutMessage: again.message,
        outcome: 'failed',
        detail: `rollout ${again.outcome} after ${cleanupDetail}: ${again.message}`,
      });
}
