/**
 * Reading, listing and patching Deployments, StatefulSets and DaemonSets alike (the pod-template
 * workloads of apps/v1), with merge patches that carry the resourceVersion read: a concurrent change
 * makes the API server answer 409 (KubeConflict, retryable), so the next attempt re-reads instead of
 * overwriting.
 */
import {
  PatchStrategy,
  setHeaderOptions,
  type V1DaemonSet,
  type V1Deployment,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import type { AppsWorkloadKind, AppsWorkloadRef } from '../../common/workload-kinds';
import { withKube, withKubeAnswering } from '../errors';
import type { ClusterKube } from './client';
import type { ListPage, PagedScan } from './paged-list';

export type AppsObject = V1Deployment | V1StatefulSet | V1DaemonSet;

export const appsOperation = (kube: ClusterKube, verb: string, ref: AppsWorkloadRef) => ({
  cluster: kube.cluster,
  operation: `${verb} ${ref.kind.toLowerCase()} ${ref.namespace}/${ref.name}`,
  server: kube.server,
});

/** The API call that reads the object, by its kind (errors unclassified: the caller wraps it). */
export function readAppsByKind(kube: ClusterKube, ref: AppsWorkloadRef): Promise<AppsObject> {
  const args = { name: ref.name, namespace: ref.namespace };
  switch (ref.kind) {
    case 'DaemonSet':
      return kube.apps.readNamespacedDaemonSet(args);
    case 'StatefulSet':
      return kube.apps.readNamespacedStatefulSet(args);
    default:
      return kube.apps.readNamespacedDeployment(args);
  }
}

/** The object, or undefined when it does not exist. */
export function readAppsObject(kube: ClusterKube, ref: AppsWorkloadRef): Promise<AppsObject | undefined> {
  return withKubeAnswering<AppsObject, undefined>(appsOperation(kube, 'read', ref), [404], undefined, () =>
    readAppsByKind(kube, ref),
  );
}

/** The object; KubeNotFound (permanent) when it does not exist. */
export async function requireAppsObject(kube: ClusterKube, ref: AppsWorkloadRef): Promise<AppsObject> {
  const obj = await readAppsObject(kube, ref);
  if (!obj) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${kube.cluster}": ${ref.kind} ${ref.namespace}/${ref.name} not found`,
      ErrorType.KubeNotFound,
    );
  }
  return obj;
}

/**
 * A JSON merge patch of the object, conditional on `resourceVersion` (put into the patch's metadata:
 * the API server refuses it with 409 when the object changed since that version).
 */
export function mergePatchAppsObject(
  kube: ClusterKube,
  ref: AppsWorkloadRef,
  resourceVersion: string,
  patch: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> },
): Promise<AppsObject> {
  const body = { ...patch, metadata: { ...patch.metadata, resourceVersion } };
  const args = { name: ref.name, namespace: ref.namespace, body };
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return withKube<AppsObject>(appsOperation(kube, 'patch', ref), () => {
    switch (ref.kind) {
      case 'DaemonSet':
        return kube.apps.patchNamespacedDaemonSet(args, merge);
      case 'StatefulSet':
        return kube.apps.patchNamespacedStatefulSet(args, merge);
      default:
        return kube.apps.patchNamespacedDeployment(args, merge);
    }
  });
}

/**
 * What `pick` keeps of every object of a kind, in one namespace or all: read in pages through the
 * scan, so a retried scan resumes at its last page (see PagedScan).
 */
export function collectAppsObjects<R>(
  scan: PagedScan,
  kube: ClusterKube,
  kind: AppsWorkloadKind,
  namespace: string | undefined,
  pick: (obj: AppsObject) => R | undefined,
): Promise<R[]> {
  const name = `list ${kind.toLowerCase()}s${namespace ? ` in ${namespace}` : ''}`;
  return scan.collect<AppsObject, R>(
    name,
    (page): Promise<ListPage<AppsObject>> => {
      if (namespace) {
        const args = { ...page, namespace };
        if (kind === 'DaemonSet') return kube.apps.listNamespacedDaemonSet(args);
        if (kind === 'StatefulSet') return kube.apps.listNamespacedStatefulSet(args);
        return kube.apps.listNamespacedDeployment(args);
      }
      if (kind === 'DaemonSet') return kube.apps.listDaemonSetForAllNamespaces(page);
      if (kind === 'StatefulSet') return kube.apps.listStatefulSetForAllNamespaces(page);
      return kube.apps.listDeploymentForAllNamespaces(page);
    },
    pick,
  );
}
