/**
 * Reading a pre-pull pod the way the guide's loop does (`containerStatuses[0].state`), as a pure
 * function so the rules are unit-tested without a cluster.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** Waiting reasons that mean the image cannot be pulled (the guide checks the first two). */
const PULL_FAILURE_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
]);

/**
 * Waiting reasons kubelet reports only after the image is on the node: the container could not be
 * created or started (e.g. an image without `sleep`, like calico/typha's minimal image). The pull
 * succeeded, which is all a pre-pull is for; the guide's loop would wait for these until its timeout.
 */
const AFTER_PULL_REASONS = new Set([
  'CreateContainerError',
  'RunContainerError',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
]);

export type PrePullVerdict =
  | { state: 'pulled'; detail: string }
  | { state: 'failed'; reason: string; detail: string }
  | { state: 'waiting'; detail: string };

/** Running or terminated means the image is on the node; a pull-failure waiting reason means it is not. */
export function prePullVerdict(pod: V1Pod): PrePullVerdict {
  const status = pod.status?.containerStatuses?.[0];
  const state = status?.state;
  if (state?.terminated)
    return { state: 'pulled', detail: `container terminated (${state.terminated.reason ?? 'exit'})` };
  if (state?.running) return { state: 'pulled', detail: 'container running' };
  const reason = state?.waiting?.reason;
  if (reason && PULL_FAILURE_REASONS.has(reason)) {
    return { state: 'failed', reason, detail: state?.waiting?.message ?? reason };
  }
  if (reason && AFTER_PULL_REASONS.has(reason)) {
    return { state: 'pulled', detail: `image present; container did not start (${reason})` };
  }
  if (pod.status?.phase === 'Succeeded') return { state: 'pulled', detail: 'pod succeeded' };
  return { state: 'waiting', detail: reason ?? pod.status?.phase ?? 'pending' };
}
