/**
 * What calicoImageRepair's pre-pull puts on the cluster besides its pulls, and how it goes away: the
 * pods and pull secrets earlier runs left (swept first), the run's own Docker Hub pull secret (made
 * before the first pre-pull pod), and the final cleanup of both, which never replaces the phase's
 * outcome and names whatever it may have left.
 */
import { isCancellation, workflowInfo } from '@temporalio/workflow';
import { prePullPodNameFor, prePullSecretNameFor, runLabelOf } from '../../common/calico-prepull';
import { quickActivities, waitActivities } from '../activity-profiles';
import type { CalicoPrePullCleanup, CalicoPrePullPair } from '../definitions';
import { failureSummary } from '../lib/failures';
import type { RepairRun } from './plan';

/** The whole final cleanup, retries included: bounded even when the API server is gone for good. */
const CLEANUP_TIMEOUT = '3m';

/** Where the run's pre-pull pods live and the label that marks them as this run's. */
export interface PrePullTarget {
  cluster: string;
  namespace: string;
  runLabel: string;
  /** The run's Docker Hub pull secret, once made: the docker.io pods reference it. */
  pullSecret?: string;
}

/** The label of this run's pre-pull pods and pull secret (workflow ID and run ID). */
export function runLabelOfThisRun(): string {
  const info = workflowInfo();
  return runLabelOf(`${info.workflowId}/${info.runId}`);
}

/** Activities of the sweep and the cleanup: they heartbeat while they delete and wait, bounded in total. */
const cleanupActivities = () =>
  waitActivities({ scheduleToCloseTimeout: CLEANUP_TIMEOUT, heartbeatTimeout: '30s' });

/**
 * Deletes the pre-pull pods and pull secrets of earlier runs (a run terminated or crashed before its
 * cleanup), so none is taken for this run's; returns their names.
 */
export async function sweepEarlierRuns(
  run: RepairRun,
  target: PrePullTarget,
): Promise<{ pods: string[]; secrets: string[] }> {
  const { deleteStalePrePullPods, deleteStalePrePullSecrets } = cleanupActivities();
  const pods = (await deleteStalePrePullPods(target)).deleted;
  if (pods.length > 0)
    run.progress.note(`deleted ${pods.length} pre-pull pod(s) of earlier runs: ${pods.join(', ')}`);
  const secrets = (await deleteStalePrePullSecrets({ cluster: target.cluster, namespace: target.namespace }))
    .deleted;
  if (secrets.length > 0)
    run.progress.note(
      `deleted ${secrets.length} pre-pull pull secret(s) of earlier runs: ${secrets.join(', ')}`,
    );
  return { pods, secrets };
}

/** The run's Docker Hub pull secret, made before its first pre-pull pod: returns its name. */
export async function ensurePullSecret(run: RepairRun, target: PrePullTarget): Promise<string> {
  const { ensurePrePullSecret } = quickActivities();
  const r = await ensurePrePullSecret({ cluster: target.cluster, namespace: target.namespace });
  run.progress.note(
    `pull secret ${target.namespace}/${r.secret} ${r.action} from the worker's Docker Hub credential for the docker.io pre-pulls`,
  );
  return r.secret;
}

/**
 * Deletes the run's pull secret once no pre-pull pod needs it, bounded by CLEANUP_TIMEOUT. Never
 * throws but for a cancellation: a failed deletion is reported with the secret's name. Called
 * whenever the run was to make one, so a create whose answer was lost is cleaned up too.
 */
export async function cleanUpPullSecret(
  run: RepairRun,
  target: PrePullTarget,
): Promise<NonNullable<CalicoPrePullCleanup['pullSecret']>> {
  const name = prePullSecretNameFor(target.runLabel);
  const { deletePrePullSecret } = cleanupActivities();
  try {
    await deletePrePullSecret({ cluster: target.cluster, namespace: target.namespace });
    return { name, deleted: true };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const error = failureSummary(err);
    run.progress.note(
      `deleting pull secret ${target.namespace}/${name} failed (${error}); it holds the Docker Hub credential: delete it`,
    );
    return { name, deleted: false, error };
  }
}

/**
 * Deletes every pre-pull pod of the run and waits until they are gone, bounded by CLEANUP_TIMEOUT.
 * Never throws: a failed cleanup is reported (in progress and the result) with every pod of this
 * run not known to be gone, by name.
 */
export async function cleanUpPrePulls(
  run: RepairRun,
  target: PrePullTarget,
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
