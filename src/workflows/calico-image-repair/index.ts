/**
 * calicoImageRepair: the guide's calico_manifest_image_change.sh as a durable workflow. Same phases
 * in the same order (check images, pre-pull on every node, set image and wait for rollout on
 * calico-node, calico-kube-controllers, calico-typha, report), with what the script leaves to luck
 * done properly: bounded pre-pulls with a failure budget, skip instead of abort for workloads already
 * on target, every typha pod of before the update deleted when its rollout fails, a report per node /
 * image / workload, and every finished step kept in history so a new worker resumes where the last
 * one died.
 *
 * This file only sequences the phases: plan.ts, pre-pull.ts, rollout.ts, report.ts.
 */
import {
  CALICO_DEFAULTS,
  CalicoImageRepairInputSchema,
  needsRollout,
  progressKey,
  resourceRef,
} from '../../common/calico';
import type { CalicoImageRepairParsed } from '../../common/calico';
import { isDefaultRegistry, prePullSecretNameFor } from '../../common/calico-prepull';
import { quickActivities } from '../activity-profiles';
import type { CalicoImageRepairInput, CalicoImageRepairResult, CalicoPrePullOutcome } from '../definitions';
import { approvalRequirement, awaitApproval } from '../lib/approval';
import { remediationFailed } from '../lib/failures';
import { withClusterLock } from '../lib/cluster-lock';
import { runRemediation, Phase, type ProgressTracker } from '../lib/progress';
import { PhaseClock, planRepair, type RepairRun } from './plan';
import { prePullPhase, type PrePullPhaseResult } from './pre-pull';
import { runLabelOfThisRun } from './pre-pull-cleanup';
import { buildReport, changeNote, initialWorkloadReport, nodeReports } from './report';
import { rollOutPhase } from './rollout';

const REPORT_PHASE = 'report';

export function calicoImageRepair(raw: CalicoImageRepairInput): Promise<CalicoImageRepairResult> {
  return runRemediation('calicoImageRepair', raw, CalicoImageRepairInputSchema, repair);
}

async function repair(
  input: CalicoImageRepairParsed,
  progress: ProgressTracker,
): Promise<CalicoImageRepairResult> {
  const run = await planRepair(input, progress, new PhaseClock());
  const { plan, toUpdate, missing } = run;
  if (toUpdate.length === 0) {
    const summary = missing.length
      ? `nothing to update; missing: ${missing.map((w) => w.note).join('; ')}`
      : `nothing to do: every calico workload already runs ${input.registry}/*:${input.tag}`;
    const result = buildReport(run, missing.length ? 'failed' : 'nothing-to-do', summary);
    if (missing.length) throw remediationFailed(result);
    return result;
  }
  const approvalReason = await checkRegistry(run);
  if (input.dryRun) {
    const summary = `dry run: would pre-pull ${plan.images.length} images on ${plan.nodes.length} nodes and update ${toUpdate.map((w) => w.name).join(', ')}${pullNote(run)}`;
    return buildReport(run, 'planned', summary);
  }
  const gate = await approve(run, approvalReason);
  if (gate.expired) return gate.expired;
  // Under the cluster lock, so another run cannot sweep this run's pre-pull pods as stale.
  const { prePull, workloads } = await withClusterLock(progress, input, async () => {
    const prePull = await prePullPhase(run);
    failIfPrePullFailed(run, prePull, gate.approvedBy);
    // Set images and wait for each rollout, in the guide's order; a failed rollout does not stop
    // the next, an API step that failed past its retries does.
    return { prePull, workloads: await rollOutPhase(run) };
  });
  progress.phase(REPORT_PHASE);
  const failedResources = workloads
    .filter((w) => w.outcome === 'failed' || w.outcome === 'missing')
    .map((w) => resourceRef(w.kind, w.name));
  const updated = workloads.filter((w) => w.outcome === 'updated').map((w) => w.name);
  const left = leftNote(prePull);
  const summary = failedResources.length
    ? `failed: ${failedResources.join(', ')}${updated.length ? `; updated: ${updated.join(', ')}` : ''}${changeNote(workloads)}${left}`
    : `repaired: ${updated.join(', ')} now on ${input.registry}/*:${input.tag}; ${prePull.prePulls.length} pre-pulls on ${plan.nodes.length} nodes${pullNote(run)}${left}`;
  const result = buildReport(run, failedResources.length ? 'failed' : 'repaired', summary, {
    prePullCleanup: prePull.cleanup,
    approvedBy: gate.approvedBy,
    prePulls: prePull.prePulls,
    nodes: nodeReports(plan.nodes, prePull.prePulls),
    workloads,
    failedResources,
  });
  if (failedResources.length) throw remediationFailed(result);
  return result;
}

/**
 * The images must be under the cluster's policy.calicoImageRepair.registries (the activities enforce it too); a
 * registry other than the guide's is a risk the worker's approval policy weighs: returns it. Also
 * reads whether the docker.io pre-pulls get the worker's Docker Hub credential (into the plan).
 */
async function checkRegistry(run: RepairRun): Promise<string | undefined> {
  const { checkImagesAllowed, checkPrePullCredential } = quickActivities();
  const { input, plan } = run;
  await run.clock.timed(Phase.Preflight, () =>
    checkImagesAllowed({ cluster: input.cluster, images: plan.images }),
  );
  plan.dockerHubPulls = await run.clock.timed(Phase.Preflight, () =>
    checkPrePullCredential({ cluster: input.cluster, namespace: input.namespace, images: plan.images }),
  );
  return isDefaultRegistry(input.registry)
    ? undefined
    : `registry ${input.registry} is not the default ${CALICO_DEFAULTS.registry}`;
}

/**
 * The approval gate, when the worker's policy wants one (by default for a registry other than the
 * guide's) or the input asks; an expired gate ends the run unchanged.
 */
async function approve(
  run: RepairRun,
  risk: string | undefined,
): Promise<{ approvedBy?: string; expired?: CalicoImageRepairResult }> {
  const { input, plan, toUpdate } = run;
  const what = `pre-pull ${plan.images.length} images on ${plan.nodes.length} nodes, then roll ${toUpdate.map((w) => w.name).join(', ')}`;
  const need = await approvalRequirement(input, risk ? [risk] : []);
  if (!need) return {};
  const gate = await run.clock.timed(Phase.AwaitingApproval, () =>
    awaitApproval(run.progress, need.reason ? `${need.reason}: ${what}` : what, {
      ...input,
      approverOtherThanRequester: need.approverOtherThanRequester,
    }),
  );
  if (gate.decision !== 'expired') return { approvedBy: gate.approver };
  const summary = `approval expired: no decision within ${gate.after}; nothing changed (no image pre-pulled, no workload updated)`;
  return { expired: buildReport(run, 'approval-expired', summary) };
}

/** A node that did not pull every image stops the run before any workload changes. */
function failIfPrePullFailed(
  run: RepairRun,
  prePull: PrePullPhaseResult,
  approvedBy: string | undefined,
): void {
  const { plan, toUpdate, missing, progress } = run;
  const perNode = nodeReports(plan.nodes, prePull.prePulls);
  const failedNodes = perNode.filter((n) => n.outcome !== 'pulled');
  if (failedNodes.length === 0) return;
  for (const w of toUpdate)
    progress.item(progressKey.resource(w.kind, w.name), 'resource', 'skipped', 'not rolled: pre-pull failed');
  const which = failedNodes
    .map((n) => `${n.node}${n.failedImages.length ? `: ${n.failedImages.join(', ')}` : ' (incomplete)'}`)
    .join('; ');
  const summary = `pre-pull failed on ${failedNodes.length} node(s) (${which}); nothing rolled${pullNote(run)}${leftNote(prePull)}`;
  throw remediationFailed(
    buildReport(run, 'failed', summary, {
      prePullCleanup: prePull.cleanup,
      approvedBy,
      prePulls: prePull.prePulls,
      nodes: perNode,
      workloads: plan.workloads.map((w) =>
        needsRollout(w)
          ? { ...initialWorkloadReport(w), outcome: 'not-attempted', detail: 'pre-pull failed; not rolled' }
          : initialWorkloadReport(w),
      ),
      failedResources: [...missing, ...toUpdate].map((w) => resourceRef(w.kind, w.name)),
    }),
  );
}

function leftNote({
  cleanup,
}: {
  prePulls: CalicoPrePullOutcome[];
  cleanup: PrePullPhaseResult['cleanup'];
}): string {
  const pods = cleanup.leftovers.length
    ? `; pre-pull pods possibly left (cleanup failed): ${cleanup.leftovers.join(', ')}`
    : '';
  const secret =
    cleanup.pullSecret && !cleanup.pullSecret.deleted
      ? `; pull secret ${cleanup.pullSecret.name} possibly left (cleanup failed; it holds the Docker Hub credential)`
      : '';
  return pods + secret;
}

/** How the docker.io pre-pulls authenticate, for the summary: it says so when they are anonymous. */
function pullNote(run: RepairRun): string {
  const pulls = run.plan.dockerHubPulls;
  if (pulls?.mode === 'anonymous') return `; docker.io pulls anonymous (${pulls.reason})`;
  if (pulls?.mode !== 'pull-secret') return '';
  const secret = `${run.input.namespace}/${prePullSecretNameFor(runLabelOfThisRun())}`;
  return `; docker.io pulls with the worker's Docker Hub credential (pull secret ${secret}, deleted after the pre-pulls)`;
}
