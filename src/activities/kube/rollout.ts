/**
 * Waiting for a DaemonSet or Deployment rollout, `kubectl rollout status --timeout` style.
 */
import type { V1DaemonSet, V1Deployment } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { withKube } from '../errors';
import type { ClusterKube } from './client';
import { type ResumableDeadline, resumeDeadline } from './deadline';
import { daemonSetRolloutStatus, deploymentRolloutStatus } from './rollout-status';
import { fetchWorkload, type WorkloadRef, workloadOperation } from './workloads';

const POLL_MS = 1000;

export interface WaitForRolloutInput extends WorkloadRef {
  namespace: string;
  timeoutSeconds: number;
}

export interface WaitForRolloutResult {
  outcome: 'complete' | 'failed' | 'timeout';
  message: string;
  durationMs: number;
}

interface RolloutHeartbeat extends ResumableDeadline {
  message: string;
}

/**
 * Polls the workload and applies kubectl's rollout-status rules until complete, failed
 * (ProgressDeadlineExceeded, a non-RollingUpdate DaemonSet) or the timeout. Heartbeats its
 * deadline, so a retried attempt resumes the same deadline instead of starting a fresh one.
 * Idempotency: read-only.
 */
export async function waitForWorkloadRollout(
  kube: ClusterKube,
  input: WaitForRolloutInput,
): Promise<WaitForRolloutResult> {
  const ctx = Context.current();
  const { previous, deadline } = resumeDeadline<RolloutHeartbeat>(input.timeoutSeconds);
  const beat: RolloutHeartbeat = { ...deadline, message: previous?.message ?? '' };
  const operation = workloadOperation(kube, 'read', input.namespace, input);
  for (;;) {
    const workload = await withKube(operation, () => fetchWorkload(kube, input.namespace, input));
    // fetchWorkload read the kind input.kind names.
    const status =
      input.kind === 'DaemonSet'
        ? daemonSetRolloutStatus(workload as V1DaemonSet)
        : deploymentRolloutStatus(workload as V1Deployment);
    beat.message = status.message;
    ctx.heartbeat(beat);
    const durationMs = Date.now() - beat.startedAtMs;
    if (status.done) return { outcome: 'complete', message: status.message, durationMs };
    if (status.failed) return { outcome: 'failed', message: status.message, durationMs };
    if (Date.now() >= beat.deadlineMs) {
      return {
        outcome: 'timeout',
        message: `timed out after ${input.timeoutSeconds}s waiting for rollout: ${status.message}`,
        durationMs,
      };
    }
    await ctx.sleep(POLL_MS);
  }
}
