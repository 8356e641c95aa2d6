/**
 * fsGroupChangePolicy (docs/procedures.md §9): with `fsGroup` set, kubelet chowns and chmods the whole
 * volume at every mount and large volumes time out ("timed out waiting for the condition"). Finds the
 * Deployments, StatefulSets and DaemonSets whose pod template sets fsGroup and whose pods show the
 * timeout (or takes a list), sets `securityContext.fsGroupChangePolicy` (OnRootMismatch, or Always if
 * asked) with a resourceVersion-checked patch, waits for each rollout by kubectl's rules, skips those
 * already set, and reports every workload it looked at.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  type FsGroupCandidate,
  FsGroupChangePolicyInputSchema,
  type FsGroupChangePolicyInput,
  type FsGroupChangePolicyOptions,
  type FsGroupChangePolicyResult,
  type FsGroupWorkloadReport,
  isFailedWorkload,
} from '../common/procedures/fs-group-change-policy';
import { notableFirst } from '../common/report';
import { workloadKey } from '../common/workload-kinds';
import {
  clusterScanActivities,
  quickActivities,
  rolloutTimeoutFromPods,
  WAIT_SLACK_SECONDS,
  waitActivities,
} from './activity-profiles';
import { approvalStep } from './lib/approval';
import { withClusterLock } from './lib/cluster-lock';
import { failureSummary, remediationFailed } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { runPreflight } from './lib/preflight';

export const FsGroupPhase = { Scan: 'scan', Patch: 'patch-and-roll', Report: 'report' } as const;

export function fsGroupChangePolicy(raw: FsGroupChangePolicyInput): Promise<FsGroupChangePolicyResult> {
  return runRemediation('fsGroupChangePolicy', raw, FsGroupChangePolicyInputSchema, fix);
}

/** The exact merge patch (the activity sends the same; see fsGroupPolicyPatch). */
const patchOf = (policy: string) =>
  JSON.stringify({ spec: { template: { spec: { securityContext: { fsGroupChangePolicy: policy } } } } });

/** What a run does with one workload it found. */
function planOne(c: FsGroupCandidate, input: FsGroupChangePolicyOptions): FsGroupWorkloadReport {
  const base = {
    kind: c.kind,
    namespace: c.namespace,
    name: c.name,
    ...(c.fsGroup !== undefined ? { fsGroup: c.fsGroup } : {}),
    ...(c.policy !== undefined ? { previousPolicy: c.policy } : {}),
    symptomPods: c.symptomPods,
    ...(c.evidence ? { evidence: c.evidence } : {}),
    ...(c.desiredPods !== undefined ? { desiredPods: c.desiredPods } : {}),
  };
  const listed = input.workloads !== undefined;
  if (!c.found) return { ...base, outcome: 'missing', detail: 'not found' };
  if (c.fsGroup === undefined)
    return { ...base, outcome: 'no-fsgroup', detail: 'pod template sets no fsGroup; left alone' };
  if (c.policy === input.policy)
    return { ...base, outcome: 'already-set', detail: `fsGroupChangePolicy already ${input.policy}` };
  if (!listed && c.symptomPods.length === 0)
    return { ...base, outcome: 'no-symptom', detail: 'no pod shows the mount timeout; left alone' };
  return {
    ...base,
    outcome: 'would-patch',
    patch: patchOf(input.policy),
    detail: `set fsGroupChangePolicy ${c.policy ?? '(unset)'} → ${input.policy}`,
  };
}

async function fix(
  input: FsGroupChangePolicyOptions,
  progress: ProgressTracker,
): Promise<FsGroupChangePolicyResult> {
  const mode = input.workloads ? 'list' : 'scan';
  const preflight = await runPreflight(progress, input);
  const plan = await scan(input, progress, preflight.nodes.length);
  const toPatch = plan.filter((w) => w.outcome === 'would-patch');
  const result = (
    outcome: FsGroupChangePolicyResult['outcome'],
    workloads: FsGroupWorkloadReport[],
    summary: string,
    approvedBy?: string,
  ): FsGroupChangePolicyResult => bounded(input, mode, outcome, workloads, summary, approvedBy);
  const missing = plan.filter((w) => w.outcome === 'missing');
  if (missing.length)
    throw remediationFailed(
      result('failed', plan, `not found: ${missing.map(workloadKey).join(', ')}; nothing changed`),
    );
  if (toPatch.length === 0) {
    const none = mode === 'scan' ? 'shows the mount timeout without' : 'lacks';
    return result(
      'nothing-to-do',
      plan,
      `nothing to do: ${plan.length} workload(s) with fsGroup looked at, none ${none} fsGroupChangePolicy ${input.policy}`,
    );
  }
  const what = `set fsGroupChangePolicy ${input.policy} on ${toPatch.map(workloadKey).join(', ')}`;
  if (input.dryRun) return result('planned', plan, `dry run: would ${what}`);
  let approvedBy: string | undefined;
  const gate = await approvalStep(progress, what, input);
  if (gate) {
    if (gate.decision === 'expired')
      return result(
        'approval-expired',
        plan,
        `approval expired: no decision within ${gate.after}; nothing changed`,
      );
    approvedBy = gate.approver;
  }
  const workloads = await withClusterLock(progress, input, () =>
    patchAndRoll(input, progress, plan, toPatch),
  );
  progress.phase(FsGroupPhase.Report);
  const failed = workloads.filter(isFailedWorkload);
  const patched = workloads.filter((w) => w.outcome === 'patched');
  const final = result(
    failed.length ? 'failed' : 'fixed',
    workloads,
    failed.length
      ? `failed: ${failed.map((w) => `${workloadKey(w)} ${w.outcome}`).join(', ')}${patched.length ? `; patched: ${patched.map(workloadKey).join(', ')}` : ''}`
      : `fsGroupChangePolicy ${input.policy} set and rolled out on ${patched.map(workloadKey).join(', ') || 'nothing'}`,
    approvedBy,
  );
  if (failed.length) throw remediationFailed(final);
  return final;
}

/** The workloads with fsGroup (scanned, or the listed ones) and what the run would do with each. */
async function scan(
  input: FsGroupChangePolicyOptions,
  progress: ProgressTracker,
  nodeCount: number,
): Promise<FsGroupWorkloadReport[]> {
  const { findFsGroupWorkloads } = clusterScanActivities(nodeCount);
  progress.phase(
    FsGroupPhase.Scan,
    input.workloads
      ? `${input.workloads.length} listed workload(s)`
      : `workloads with fsGroup in ${input.namespaces?.join(', ') ?? 'every namespace'}`,
  );
  const found = await findFsGroupWorkloads({
    cluster: input.cluster,
    ...(input.namespaces ? { namespaces: input.namespaces } : {}),
    ...(input.workloads ? { workloads: input.workloads } : {}),
  });
  const plan = found.map((c) => planOne(c, input));
  for (const w of plan) {
    const state = w.outcome === 'would-patch' ? 'pending' : w.outcome === 'missing' ? 'failed' : 'unchanged';
    progress.item(workloadKey(w), 'resource', state, w.detail);
  }
  return plan;
}

/** Patch each workload to patch and wait for its rollout (bounded); every workload of the plan, as it ended. */
async function patchAndRoll(
  input: FsGroupChangePolicyOptions,
  progress: ProgressTracker,
  plan: FsGroupWorkloadReport[],
  toPatch: FsGroupWorkloadReport[],
): Promise<FsGroupWorkloadReport[]> {
  progress.phase(FsGroupPhase.Patch, `${toPatch.length} workload(s), ${input.maxParallel} at a time`);
  const fan = await fanOut<FsGroupWorkloadReport, FsGroupWorkloadReport>({
    items: toPatch,
    key: workloadKey,
    maxParallel: input.maxParallel,
    maxFailures: Number.POSITIVE_INFINITY,
    run: (w) => patchOne(input, progress, w),
    isFailure: isFailedWorkload,
    onError: (w, err) => ({ ...w, outcome: 'failed', detail: failureSummary(err) }),
    onStart: (w) => progress.item(workloadKey(w), 'resource', 'running', 'patching'),
    onDone: (w, r) =>
      progress.item(workloadKey(w), 'resource', isFailedWorkload(r) ? 'failed' : 'succeeded', r.detail),
  });
  const done = new Map(
    fan.results.map((r) => [
      workloadKey(r.item),
      r.result ?? { ...r.item, outcome: 'not-attempted' as const, detail: 'not started' },
    ]),
  );
  return plan.map((w) => done.get(workloadKey(w)) ?? w);
}

async function patchOne(
  input: FsGroupChangePolicyOptions,
  progress: ProgressTracker,
  w: FsGroupWorkloadReport,
): Promise<FsGroupWorkloadReport> {
  const { setFsGroupChangePolicy } = quickActivities();
  const timeoutSeconds = rolloutTimeoutFromPods(w.desiredPods ?? 1, input.rolloutTimeoutSeconds);
  const { waitForRollout } = waitActivities({
    scheduleToCloseTimeout: `${timeoutSeconds + WAIT_SLACK_SECONDS}s`,
  });
  const ref = { cluster: input.cluster, kind: w.kind, namespace: w.namespace, name: w.name };
  const set = await setFsGroupChangePolicy({ ...ref, policy: input.policy, dryRun: false });
  if (set.outcome === 'missing' || set.outcome === 'no-fsgroup')
    return {
      ...w,
      outcome: set.outcome === 'missing' ? 'missing' : 'no-fsgroup',
      patch: undefined,
      detail: `changed since the scan: ${set.outcome}`,
    };
  progress.item(workloadKey(w), 'resource', 'running', `${set.outcome}; waiting for rollout`);
  let rollout: { outcome: string; message: string };
  try {
    rollout = await waitForRollout({ ...ref, timeoutSeconds });
  } catch (err) {
    if (isCancellation(err)) throw err;
    rollout = { outcome: 'failed', message: failureSummary(err) };
  }
  const outcome = set.outcome === 'already-set' ? 'already-set' : 'patched';
  return rollout.outcome === 'complete'
    ? { ...w, outcome, detail: `${w.detail}; ${rollout.message}` }
    : { ...w, outcome: 'rollout-failed', detail: `patched; rollout ${rollout.outcome}: ${rollout.message}` };
}

/** Every workload acted on or failing; the others while the list stays short. */
function bounded(
  input: FsGroupChangePolicyOptions,
  mode: FsGroupChangePolicyResult['mode'],
  outcome: FsGroupChangePolicyResult['outcome'],
  all: FsGroupWorkloadReport[],
  summary: string,
  approvedBy?: string,
): FsGroupChangePolicyResult {
  const notable = (w: FsGroupWorkloadReport) =>
    !['no-symptom', 'no-fsgroup', 'already-set'].includes(w.outcome);
  const { listed, omitted } = notableFirst(all, notable);
  const counts: Record<string, number> = {};
  for (const w of all) counts[w.outcome] = (counts[w.outcome] ?? 0) + 1;
  return {
    cluster: input.cluster,
    dryRun: input.dryRun,
    policy: input.policy,
    mode,
    outcome,
    workloads: listed,
    counts,
    omitted,
    ...(approvedBy ? { approvedBy } : {}),
    summary,
  };
}
