/**
 * Waiting for a DaemonSet, Deployment or StatefulSet rollout, `kubectl rollout status --timeout` style.
 */
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import type { AppsWorkloadKind } from '../../common/workload-kinds';
import { withKube } from '../errors';
import { readAppsByKind } from './apps-objects';
import type { ClusterKube } from './client';
import { resumeWait } from './deadline';
import {
  daemonSetRolloutStatus,
  daemonSetRolloutStatusOnNodes,
  deploymentRolloutStatus,
  type RolloutStatus,
  statefulSetRolloutStatus,
} from './rollout-status';
import { selectorString } from './workloads';

const POLL_MS = 1000;

export interface WaitForRolloutInput {
  kind: AppsWorkloadKind;
  name: string;
  namespace: string;
  timeoutSeconds: number;
  /**
   * DaemonSet only: judge the rollout on these nodes (the Ready ones a run chose), not on every node
   * the DaemonSet targets; a NotReady node's pod can never become available.
   */
  nodes?: string[];
}

export interface WaitForRolloutResult {
  outcome: 'complete' | 'failed' | 'timeout';
  message: string;
  durationMs: number;
}

async function onNodes(
  kube: ClusterKube,
  input: WaitForRolloutInput,
  ds: V1DaemonSet,
  nodes: string[],
): Promise<RolloutStatus> {
  const labelSelector = selectorString(ds.spec?.selector);
  const pods = await withKube(
    {
      cluster: kube.cluster,
      operation: `list pods of daemonset ${input.namespace}/${input.name}`,
      server: kube.server,
    },
    () => kube.core.listNamespacedPod({ namespace: input.namespace, labelSelector }),
  );
  return daemonSetRolloutStatusOnNodes(ds, pods.items, nodes);
}

/**
 * Polls the workload and applies kubectl's rollout-status rules until complete, failed
 * (ProgressDeadlineExceeded, a non-RollingUpdate DaemonSet or StatefulSet) or the timeout. Heartbeats
 * its deadline, so a retried attempt resumes the same deadline instead of starting a fresh one.
 * Idempotency: read-only.
 */
export async function waitForWorkloadRollout(
  kube: ClusterKube,
  input: WaitForRolloutInput,
): Promise<WaitForRolloutResult> {
  const ctx = Context.current();
  const beat = resumeWait(input.timeoutSeconds);
  const operation = {
    cluster: kube.cluster,
    operation: `read ${input.kind.toLowerCase()} ${input.namespace}/${input.name}`,
    server: kube.server,
  };
  for (;;) {
    const workload = await withKube(operation, () => readAppsByKind(kube, input));
    // readAppsByKind read the kind input.kind names.
    const status: RolloutStatus =
      input.kind === 'DaemonSet'
        ? input.nodes
          ? await onNodes(kube, input, workload as V1DaemonSet, input.nodes)
          : daemonSetRolloutStatus(workload as V1DaemonSet)
        : input.kind === 'StatefulSet'
          ? statefulSetRolloutStatus(workload as V1StatefulSet)
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
