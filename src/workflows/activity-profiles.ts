/**
 * Activity options, in one place, so every workflow retries and times out the same way for the same
 * kind of call. Workflows get typed activity stubs from here; implementations are imported as types
 * only.
 */
import type { Duration } from '@temporalio/common';
import { type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CalicoImageRepairParsed, WorkloadKind } from '../common/calico';
import { ErrorType } from '../common/errors';

/**
 * Failures that a retry cannot fix. Activities already mark these non-retryable (errors.ts); listing
 * them here too keeps that true for a failure raised some other way.
 */
export const PERMANENT_ERROR_TYPES: string[] = [
  ErrorType.InvalidInput,
  ErrorType.UnknownCluster,
  ErrorType.RegistryInvalid,
  ErrorType.KubeUnauthorized,
  ErrorType.KubeForbidden,
  ErrorType.KubeInvalid,
  ErrorType.SshHostKeyMismatch,
  ErrorType.SshHostKeyUnknown,
  ErrorType.SshAuthFailed,
  ErrorType.ApprovalRejected,
  ErrorType.ConfigInvalid,
  ErrorType.ImageNotAllowed,
  ErrorType.PolicyRefused,
];

/**
 * A single Kubernetes API call (get/list/patch). 30 s is far above a healthy API server's latency;
 * 5 attempts with backoff (1+2+4+8 s between them) ride out an API server restart without keeping an
 * operator waiting long for a dead one.
 */
export const QUICK_API_CALL: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: PERMANENT_ERROR_TYPES,
  },
};

/** One command on a node over SSH (file hash, upload, systemctl). */
export const REMOTE_COMMAND: ActivityOptions = {
  startToCloseTimeout: '2m',
  // Node commands heartbeat every 10 s while they run (activities/node/context.ts), so a worker that
  // dies mid-command is noticed in 30 s instead of at the 2-minute start-to-close timeout.
  heartbeatTimeout: '30s',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 4,
    nonRetryableErrorTypes: PERMANENT_ERROR_TYPES,
  },
};

/**
 * Added to a wait's own timeout when bounding its activity's schedule-to-close: room for the retries
 * after a lost worker (heartbeat timeout plus backoff) without cutting the wait itself short.
 */
export const WAIT_SLACK_SECONDS = 300;

export interface HeartbeatingWaitOptions {
  /** The whole wait including retries: the procedure's timeout for this step (e.g. nodes × 4 min). */
  scheduleToCloseTimeout: Duration;
  /** A worker that dies is noticed this fast; the activity must heartbeat more often. */
  heartbeatTimeout?: Duration;
  /** WAIT_CANCELLATION_COMPLETED: a cancelled caller resumes only once the activity has stopped. */
  cancellationType?: ActivityOptions['cancellationType'];
}

/**
 * A long wait (rollout, pod phase, node back after reboot) that heartbeats its progress. A retry
 * (after a worker crash or a lost heartbeat) resumes from the last heartbeat details, so attempts
 * are many and cheap; the caller's scheduleToClose bounds the total.
 */
export function heartbeatingWait(opts: HeartbeatingWaitOptions): ActivityOptions {
  return {
    scheduleToCloseTimeout: opts.scheduleToCloseTimeout,
    heartbeatTimeout: opts.heartbeatTimeout ?? '30s',
    ...(opts.cancellationType !== undefined ? { cancellationType: opts.cancellationType } : {}),
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      nonRetryableErrorTypes: PERMANENT_ERROR_TYPES,
    },
  };
}

/** Activity stubs for quick API calls. */
export function quickActivities() {
  return proxyActivities<Activities>(QUICK_API_CALL);
}

/** Activity stubs for SSH commands. */
export function remoteActivities() {
  return proxyActivities<Activities>(REMOTE_COMMAND);
}

/** Activity stubs for a heartbeating wait bounded by the given total time. */
export function waitActivities(opts: HeartbeatingWaitOptions) {
  return proxyActivities<Activities>(heartbeatingWait(opts));
}

/**
 * The one rule for the timeout of work that grows with the cluster: every wait and scan whose work
 * grows with nodes, pods, PVCs or workloads takes `secondsPerItem × count`, never less than
 * `floorSeconds` (the time the smallest such work is given). A fixed timeout is either far too long
 * on a small cluster or fails a big one for no real reason; the count is what the workflow already
 * knows before it schedules the work (preflight's node count, a rollout's desired pods).
 */
export interface ScaledTimeout {
  /** The least any such work gets, whatever the count. */
  floorSeconds: number;
  /** Added for every node, pod or object the work covers. */
  secondsPerItem: number;
}

/** `secondsPerItem × count`, rounded up, at least `floorSeconds`. */
export function timeoutFromCount(count: number, rule: ScaledTimeout): number {
  const items = Number.isFinite(count) && count > 0 ? count : 0;
  return Math.max(rule.floorSeconds, Math.ceil(items * rule.secondsPerItem));
}

/**
 * A whole-cluster scan (every pod, event, PVC or workload, read in pages of 500; see
 * activities/kube/paged-list.ts), by the cluster's node count. A node holds up to 110 pods (kubelet's
 * and NKS's default maxPods), about a fifth of a page of pods, and as much again in events and
 * workloads; 3 s per node allows a busy API server about 5 s per page for each. The floor is the
 * 5 minutes every scan had before (CLUSTER_READ), which small clusters never came near.
 */
export const CLUSTER_SCAN_TIMEOUT: ScaledTimeout = { floorSeconds: 300, secondsPerItem: 3 };

/**
 * The longest one page of a scan may take: the scan heartbeats after every page, so a worker that
 * dies mid-scan is noticed this fast and the retry resumes at the page it had reached.
 */
export const SCAN_HEARTBEAT_TIMEOUT = '60s';

/**
 * A workload's rollout, by its desired pods, with the operator's rollout timeout as the floor. A
 * DaemonSet (maxUnavailable 1) and a StatefulSet replace their pods one after another, a Deployment
 * at most a quarter at once (maxSurge 25%); 30 s per pod is a replacement that pulls nothing (the
 * image is on the node, or the restart keeps it) and starts within kubelet's default readiness
 * probing. Calico's rollouts pull new images, so they use the guide's 4 minutes per node instead
 * (calicoRolloutTimeoutSeconds).
 */
export const ROLLOUT_SECONDS_PER_POD = 30;

/** The rollout timeout of a workload of `desiredPods` pods: at least `floorSeconds` (the input's). */
export function rolloutTimeoutFromPods(desiredPods: number, floorSeconds: number): number {
  return timeoutFromCount(desiredPods, { floorSeconds, secondsPerItem: ROLLOUT_SECONDS_PER_POD });
}

/**
 * Rollout timeout of one calico workload, per the guide: the DaemonSet `daemonSetRolloutSecondsPerNode`
 * (4 min) per node it runs on, at least one node's worth; each Deployment
 * `deploymentRolloutTimeoutSeconds` (4 min), whatever the cluster's size.
 */
export function calicoRolloutTimeoutSeconds(
  kind: WorkloadKind,
  nodeCount: number,
  options: Pick<
    CalicoImageRepairParsed,
    'daemonSetRolloutSecondsPerNode' | 'deploymentRolloutTimeoutSeconds'
  >,
): number {
  if (kind !== 'DaemonSet') return options.deploymentRolloutTimeoutSeconds;
  const perNode = options.daemonSetRolloutSecondsPerNode;
  return timeoutFromCount(nodeCount, { floorSeconds: perNode, secondsPerItem: perNode });
}

/**
 * Activity options of a whole-cluster scan on a cluster of `nodeCount` nodes: schedule-to-close from
 * CLUSTER_SCAN_TIMEOUT and a heartbeat per page. Retried like a wait (cheap: a retry resumes from the
 * last page's continue token in the heartbeat details), bounded by the schedule-to-close.
 */
export function clusterScan(nodeCount: number): ActivityOptions {
  return heartbeatingWait({
    scheduleToCloseTimeout: `${timeoutFromCount(nodeCount, CLUSTER_SCAN_TIMEOUT)}s`,
    heartbeatTimeout: SCAN_HEARTBEAT_TIMEOUT,
  });
}

/** Activity stubs for whole-cluster scans of a cluster of `nodeCount` nodes (preflight's count). */
export function clusterScanActivities(nodeCount: number) {
  return proxyActivities<Activities>(clusterScan(nodeCount));
}

/**
 * One activity over a batch of nodes through SSH (closedNetworkImageRecovery): heartbeats while it
 * works, so a lost worker is noticed in a minute; retried as a remote command is (a node still
 * unreachable after the attempts is reported failed), the whole batch bounded by the caller's
 * scheduleToClose (its nodes' own command timeouts, round by round).
 */
export function nodeBatchActivities(opts: { scheduleToCloseTimeout: Duration }) {
  return proxyActivities<Activities>({
    scheduleToCloseTimeout: opts.scheduleToCloseTimeout,
    heartbeatTimeout: '60s',
    retry: REMOTE_COMMAND.retry,
  });
}
