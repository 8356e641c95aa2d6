/**
 * Reading and changing the images of DaemonSets and Deployments, and the pods they own.
 */
import type { V1DaemonSet, V1Deployment, V1LabelSelector, V1PodTemplateSpec } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { ObservedContainer } from '../../common/calico';
import { ErrorType } from '../../common/errors';
import { sameImage } from '../../common/image-ref';
import type { CalicoWorkloadKind } from '../../common/calico-types';
import type { ActivityTestHooks } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import type { ClusterKube } from './client';
import { daemonSetRolloutStatus, deploymentRolloutStatus } from './rollout-status';

export interface WorkloadRef {
  kind: CalicoWorkloadKind;
  name: string;
}

export interface WorkloadSnapshot extends WorkloadRef {
  found: boolean;
  containers: ObservedContainer[];
  generation?: number;
  resourceVersion?: string;
  /** The workload's pod selector as a label-selector string. */
  selector?: string;
  /** kubectl's verdict on its current rollout: a rerun must not trust the spec alone. */
  rolloutComplete?: boolean;
  rolloutMessage?: string;
}

export type Workload = V1DaemonSet | V1Deployment;

/** The operation an API error about this workload is reported as. */
export const workloadOperation = (kube: ClusterKube, verb: string, namespace: string, ref: WorkloadRef) => ({
  cluster: kube.cluster,
  operation: `${verb} ${ref.kind.toLowerCase()} ${namespace}/${ref.name}`,
  server: kube.server,
});

/**
 * The API read of the DaemonSet or Deployment `ref` names, unclassified: each caller wraps it in the
 * error mapping it needs (a missing workload is an answer for some, an error for others).
 */
export function fetchWorkload(kube: ClusterKube, namespace: string, ref: WorkloadRef): Promise<Workload> {
  return ref.kind === 'DaemonSet'
    ? kube.apps.readNamespacedDaemonSet({ name: ref.name, namespace })
    : kube.apps.readNamespacedDeployment({ name: ref.name, namespace });
}

async function readWorkload(
  kube: ClusterKube,
  namespace: string,
  ref: WorkloadRef,
): Promise<Workload | undefined> {
  return withKubeAnswering<Workload, undefined>(
    workloadOperation(kube, 'read', namespace, ref),
    [404],
    undefined,
    () => fetchWorkload(kube, namespace, ref),
  );
}

function containersOf(template: V1PodTemplateSpec | undefined): ObservedContainer[] {
  const spec = template?.spec;
  return [
    ...(spec?.containers ?? []).map((c) => ({ name: c.name, init: false, image: c.image ?? '' })),
    ...(spec?.initContainers ?? []).map((c) => ({ name: c.name, init: true, image: c.image ?? '' })),
  ];
}

/** matchLabels and matchExpressions in the label-selector string syntax the list calls take. */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const expr of selector?.matchExpressions ?? []) {
    const values = (expr.values ?? []).join(',');
    switch (expr.operator) {
      case 'In':
        parts.push(`${expr.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${expr.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(expr.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${expr.key}`);
        break;
    }
  }
  return parts.join(',');
}

function snapshot(ref: WorkloadRef, workload: Workload | undefined): WorkloadSnapshot {
  if (!workload) return { ...ref, found: false, containers: [] };
  const rollout =
    ref.kind === 'DaemonSet'
      ? daemonSetRolloutStatus(workload as V1DaemonSet)
      : deploymentRolloutStatus(workload as V1Deployment);
  return {
    rolloutComplete: rollout.done,
    rolloutMessage: rollout.message,
    ...ref,
    found: true,
    containers: containersOf(workload.spec?.template),
    generation: workload.metadata?.generation,
    resourceVersion: workload.metadata?.resourceVersion,
    selector: selectorString(workload.spec?.selector),
  };
}

/**
 * Current containers and images of the given workloads (absent ones: found false).
 * Idempotency: read-only.
 */
export async function readWorkloadImages(
  kube: ClusterKube,
  input: { namespace: string; workloads: WorkloadRef[] },
): Promise<WorkloadSnapshot[]> {
  const out: WorkloadSnapshot[] = [];
  for (const ref of input.workloads) out.push(snapshot(ref, await readWorkload(kube, input.namespace, ref)));
  return out;
}

export interface SetImagesInput extends WorkloadRef {
  namespace: string;
  images: { container: string; init: boolean; image: string }[];
}

export interface SetImagesResult {
  changed: boolean;
  /** Every named container's image before this call: what an undo would set back. */
  previousImages: { container: string; init: boolean; image: string }[];
  /** metadata.generation after the change (or as found). */
  generation?: number;
}

/**
 * `kubectl set image` as check-then-act: reads the workload, and patches only the containers whose
 * image differs, with a JSON patch that also tests each container's name at its index (so a
 * concurrent reorder makes the patch fail instead of changing the wrong container).
 * Idempotency: a repeat finds the images already set and changes nothing (changed: false); the
 * previous images are those read before the first change only when that call's result is kept,
 * which the workflow's history does.
 */
export async function setWorkloadImages(
  kube: ClusterKube,
  input: SetImagesInput,
  hooks?: ActivityTestHooks,
): Promise<SetImagesResult> {
  const workload = await readWorkload(kube, input.namespace, input);
  if (!workload) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${kube.cluster}": ${input.kind} ${input.namespace}/${input.name} not found`,
      ErrorType.KubeNotFound,
    );
  }
  const spec = workload.spec?.template?.spec;
  const patch: object[] = [];
  const previousImages: SetImagesResult['previousImages'] = [];
  for (const want of input.images) {
    const list = (want.init ? spec?.initContainers : spec?.containers) ?? [];
    const index = list.findIndex((c) => c.name === want.container);
    if (index < 0) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${kube.cluster}": ${input.kind} ${input.namespace}/${input.name} has no ${want.init ? 'init ' : ''}container "${want.container}"`,
        ErrorType.KubeInvalid,
      );
    }
    const current = list[index]!.image ?? '';
    previousImages.push({ container: want.container, init: want.init, image: current });
    if (current === want.image || sameImage(current, want.image)) continue;
    const path = `/spec/template/spec/${want.init ? 'initContainers' : 'containers'}/${index}`;
    patch.push({ op: 'test', path: `${path}/name`, value: want.container });
    patch.push({ op: 'replace', path: `${path}/image`, value: want.image });
  }
  if (patch.length === 0)
    return { changed: false, previousImages, generation: workload.metadata?.generation };
  const patched = await withKube<Workload>(workloadOperation(kube, 'patch', input.namespace, input), () =>
    input.kind === 'DaemonSet'
      ? kube.apps.patchNamespacedDaemonSet({ name: input.name, namespace: input.namespace, body: patch })
      : kube.apps.patchNamespacedDeployment({ name: input.name, namespace: input.namespace, body: patch }),
  );
  await hooks?.afterWrite?.({ kind: input.kind, namespace: input.namespace, name: input.name });
  return { changed: true, previousImages, generation: patched.metadata?.generation };
}

export interface PodRef {
  name: string;
  uid: string;
}

/**
 * The pods a workload's selector matches now.
 * Idempotency: read-only.
 */
export async function listWorkloadPods(
  kube: ClusterKube,
  input: WorkloadRef & { namespace: string },
): Promise<PodRef[]> {
  const workload = await readWorkload(kube, input.namespace, input);
  if (!workload) return [];
  const labelSelector = selectorString(workload.spec?.selector);
  if (!labelSelector) return [];
  const list = await withKube(workloadOperation(kube, 'list pods of', input.namespace, input), () =>
    kube.core.listNamespacedPod({ namespace: input.namespace, labelSelector }),
  );
  return list.items
    .filter((p) => p.metadata?.name && p.metadata.uid)
    .map((p) => ({ name: p.metadata!.name!, uid: p.metadata!.uid! }));
}

/**
 * Deletes the given pods, each only if it is still the same pod (UID precondition), so a new pod that
 * reused a name is never deleted by mistake.
 * Idempotency: pods already gone (404) or replaced (409 on the precondition) are reported as
 * alreadyGone; repeating the call deletes nothing more.
 */
export async function deletePodsByUid(
  kube: ClusterKube,
  input: { namespace: string; pods: PodRef[] },
): Promise<{ deleted: string[]; alreadyGone: string[] }> {
  const deleted: string[] = [];
  const alreadyGone: string[] = [];
  for (const pod of input.pods) {
    const call = {
      cluster: kube.cluster,
      operation: `delete pod ${input.namespace}/${pod.name}`,
      server: kube.server,
    };
    const outcome = await withKubeAnswering(call, [404, 409], 'already-gone', async () => {
      await kube.core.deleteNamespacedPod({
        name: pod.name,
        namespace: input.namespace,
        body: { preconditions: { uid: pod.uid } },
      });
      return 'deleted';
    });
    (outcome === 'deleted' ? deleted : alreadyGone).push(pod.name);
  }
  return { deleted, alreadyGone };
}
