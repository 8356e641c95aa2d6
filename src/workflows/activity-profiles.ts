/**
 * Activity options, in one place, so every workflow retries and times out the same way for the same
 * kind of call. Workflows get typed activity stubs from here; implementations are imported as types
 * only.
 */
import type { Duration } from '@temporalio/common';
import { type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
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
 * One read of a whole cluster's objects (every pod, event and workload, in pages): longer than a
 * single call on a big cluster, retried like one.
 */
export const CLUSTER_READ: ActivityOptions = { ...QUICK_API_CALL, startToCloseTimeout: '5m' };

/** Activity stubs for whole-cluster reads. */
export function clusterReadActivities() {
  return proxyActivities<Activities>(CLUSTER_READ);
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
