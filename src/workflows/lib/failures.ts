/**
 * How a workflow reports an item's failure: the activity's named type and message (the cause of the
 * ActivityFailure the SDK wraps it in), one line. Callers must have let cancellations through first.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { ErrorType } from '../../common/errors';

/** The failure type (KubeApiUnreachable, SshTimeout, ...) of an activity's failure, if it has one. */
export function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** `SshConnectionFailed: cluster "sim", node w-2: connect ECONNREFUSED`. */
export function failureSummary(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const type = failureType(err);
  return `${type ? `${type}: ` : ''}${message}`.split('\n')[0]!;
}

/**
 * A procedure's failed outcome as the workflow's failure: RemediationFailed, non-retryable (a retry
 * of the workflow would not change the cluster's answer), the full report in its details so the CLI,
 * the SDK and an auditor read the same result a success would have returned.
 */
export function remediationFailed<R extends { summary: string }>(result: R): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.RemediationFailed,
    message: result.summary,
    nonRetryable: true,
    details: [result],
  });
}

/** The result, unless its outcome is failed: then the workflow fails with it (remediationFailed). */
export function failIfFailed<R extends { outcome: string; summary: string }>(result: R): R {
  if (result.outcome !== 'failed') return result;
  throw remediationFailed(result);
}
