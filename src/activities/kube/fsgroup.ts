/**
 * Activities of fsGroupChangePolicy: finding the workloads whose pod template sets fsGroup and whose
 * pods show kubelet's mount timeout, and setting the template's fsGroupChangePolicy.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import {
  type FsGroupCandidate,
  type FsGroupPolicy,
  MOUNT_TIMEOUT,
} from '../../common/procedures/fs-group-change-policy';
import { APPS_WORKLOAD_KINDS, type AppsWorkloadRef } from '../../common/workload-kinds';
import type { ActivityDeps, ActivityTestHooks } from '../deps';
import { withKube } from '../errors';
import { type AppsObject, listAppsObjects, mergePatchAppsObject, readAppsObject } from './apps-objects';
import { kubeClientsFor, type ClusterKube } from './client';
import { selectorString } from './workloads';

const MAX_SYMPTOM_PODS = 5;
const MAX_EVIDENCE = 240;

function candidateOf(ref: AppsWorkloadRef, obj: AppsObject | undefined): FsGroupCandidate {
  if (!obj) return { ...ref, found: false, symptomPods: [] };
  const sc = obj.spec?.template?.spec?.securityContext;
  return {
    ...ref,
    found: true,
    ...(sc?.fsGroup !== undefined ? { fsGroup: sc.fsGroup } : {}),
    ...(sc?.fsGroupChangePolicy !== undefined ? { policy: sc.fsGroupChangePolicy } : {}),
    symptomPods: [],
    resourceVersion: obj.metadata?.resourceVersion,
  };
}

/** Mount-timeout messages per pod name in one namespace: its pods' events and their conditions. */
async function mountTimeouts(
  kube: ClusterKube,
  namespace: string,
  pods: V1Pod[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const events = await withKube<{ items: CoreV1Event[] }>(
    { cluster: kube.cluster, operation: `list events in ${namespace}`, server: kube.server },
    () => kube.core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=Pod' }),
  );
  const uids = new Map(pods.map((p) => [p.metadata?.name, p.metadata?.uid]));
  for (const e of events.items) {
    const pod = e.involvedObject?.name;
    if (!pod || !uids.has(pod) || !MOUNT_TIMEOUT.test(e.message ?? '')) continue;
    // An event of an earlier pod of the same name (a StatefulSet's) does not count.
    if (e.involvedObject.uid && uids.get(pod) && e.involvedObject.uid !== uids.get(pod)) continue;
    found.set(pod, `${e.reason ?? 'Event'}: ${e.message}`);
  }
  for (const p of pods) {
    const name = p.metadata?.name;
    if (!name || found.has(name)) continue;
    const messages = [
      ...(p.status?.conditions ?? []).map((c) => c.message ?? ''),
      ...(p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.message ?? ''),
    ];
    const hit = messages.find((m) => MOUNT_TIMEOUT.test(m));
    if (hit) found.set(name, hit);
  }
  for (const [k, v] of found) found.set(k, v.length > MAX_EVIDENCE ? `${v.slice(0, MAX_EVIDENCE)}…` : v);
  return found;
}

async function withSymptoms(
  kube: ClusterKube,
  items: { candidate: FsGroupCandidate; obj: AppsObject }[],
): Promise<void> {
  const byNamespace = new Map<string, typeof items>();
  for (const i of items)
    byNamespace.set(i.candidate.namespace, [...(byNamespace.get(i.candidate.namespace) ?? []), i]);
  for (const [namespace, list] of byNamespace) {
    const podsOf = new Map<FsGroupCandidate, V1Pod[]>();
    for (const { candidate, obj } of list) {
      const labelSelector = selectorString(obj.spec?.selector);
      if (!labelSelector) continue;
      const pods = await withKube(
        {
          cluster: kube.cluster,
          operation: `list pods of ${candidate.kind.toLowerCase()} ${namespace}/${candidate.name}`,
          server: kube.server,
        },
        () => kube.core.listNamespacedPod({ namespace, labelSelector }),
      );
      podsOf.set(
        candidate,
        pods.items.filter((p) => !p.metadata?.deletionTimestamp),
      );
    }
    const allPods = [...podsOf.values()].flat();
    if (allPods.length === 0) continue;
    const timeouts = await mountTimeouts(kube, namespace, allPods);
    for (const [candidate, pods] of podsOf) {
      const hits = pods
        .map((p) => p.metadata?.name ?? '')
        .filter((n) => timeouts.has(n))
        .sort();
      candidate.symptomPods = hits.slice(0, MAX_SYMPTOM_PODS);
      if (hits.length) candidate.evidence = timeouts.get(hits[0]!);
    }
  }
}

/**
 * Scan: every Deployment, StatefulSet and DaemonSet (in `namespaces`, or all) whose pod template sets
 * fsGroup, with the pods that show the mount timeout. List: exactly `workloads` (absent ones found:
 * false), with the same facts.
 * Idempotency: read-only.
 */
export async function findFsGroupWorkloads(
  kube: ClusterKube,
  input: { namespaces?: string[]; workloads?: AppsWorkloadRef[] },
): Promise<FsGroupCandidate[]> {
  const items: { candidate: FsGroupCandidate; obj: AppsObject }[] = [];
  const out: FsGroupCandidate[] = [];
  if (input.workloads) {
    for (const ref of input.workloads) {
      const obj = await readAppsObject(kube, ref);
      const candidate = candidateOf(ref, obj);
      out.push(candidate);
      if (obj && candidate.fsGroup !== undefined) items.push({ candidate, obj });
    }
  } else {
    for (const kind of APPS_WORKLOAD_KINDS) {
      const objs = input.namespaces
        ? (await Promise.all(input.namespaces.map((ns) => listAppsObjects(kube, kind, ns)))).flat()
        : await listAppsObjects(kube, kind);
      for (const obj of objs) {
        if (obj.spec?.template?.spec?.securityContext?.fsGroup === undefined) continue;
        const ref = { kind, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
        const candidate = candidateOf(ref, obj);
        out.push(candidate);
        items.push({ candidate, obj });
      }
    }
  }
  await withSymptoms(kube, items);
  return out;
}

export interface SetFsGroupPolicyInput extends AppsWorkloadRef {
  policy: FsGroupPolicy;
  dryRun: boolean;
}

export interface SetFsGroupPolicyResult {
  outcome: 'patched' | 'would-patch' | 'already-set' | 'no-fsgroup' | 'missing';
  previousPolicy?: string;
  fsGroup?: number;
  patch: string;
  resourceVersionBefore?: string;
  resourceVersion?: string;
}

/** The merge patch that sets the policy (what the dry run shows, and what is sent). */
export function fsGroupPolicyPatch(policy: FsGroupPolicy) {
  return { spec: { template: { spec: { securityContext: { fsGroupChangePolicy: policy } } } } };
}

/**
 * Sets `spec.template.spec.securityContext.fsGroupChangePolicy` with a merge patch conditional on the
 * resourceVersion read.
 * Idempotency: check-then-act; a repeat finds the policy set and patches nothing (already-set). A
 * concurrent change between read and patch is a 409 (KubeConflict, retryable): the retry re-reads.
 * A template without fsGroup is left alone (no-fsgroup: the policy would mean nothing).
 */
export async function setFsGroupChangePolicy(
  kube: ClusterKube,
  input: SetFsGroupPolicyInput,
  hooks: ActivityTestHooks | undefined,
): Promise<SetFsGroupPolicyResult> {
  const patchBody = fsGroupPolicyPatch(input.policy);
  const patch = JSON.stringify(patchBody);
  const obj = await readAppsObject(kube, input);
  if (!obj) return { outcome: 'missing', patch };
  const sc = obj.spec?.template?.spec?.securityContext;
  const rv = obj.metadata?.resourceVersion ?? '';
  const facts = {
    ...(sc?.fsGroupChangePolicy !== undefined ? { previousPolicy: sc.fsGroupChangePolicy } : {}),
    ...(sc?.fsGroup !== undefined ? { fsGroup: sc.fsGroup } : {}),
    patch,
    resourceVersionBefore: rv,
  };
  if (sc?.fsGroup === undefined) return { ...facts, outcome: 'no-fsgroup', resourceVersion: rv };
  if (sc.fsGroupChangePolicy === input.policy)
    return { ...facts, outcome: 'already-set', resourceVersion: rv };
  if (input.dryRun) return { ...facts, outcome: 'would-patch', resourceVersion: rv };
  await hooks?.beforeWrite?.({ kind: input.kind, namespace: input.namespace, name: input.name });
  const patched = await mergePatchAppsObject(kube, input, rv, patchBody);
  return { ...facts, outcome: 'patched', resourceVersion: patched.metadata?.resourceVersion };
}

/** Where findFsGroupWorkloads looks: the listed workloads, else every workload of the namespaces (or all). */
export interface FsGroupScanInput {
  cluster: string;
  namespaces?: string[];
  workloads?: AppsWorkloadRef[];
}

export function createFsGroupActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /** Read-only: workloads with fsGroup (scan or list) and their pods' mount timeouts. */
    async findFsGroupWorkloads(input: FsGroupScanInput): Promise<FsGroupCandidate[]> {
      return findFsGroupWorkloads(clients.forCluster(input.cluster), input);
    },
    /** Check-then-act, resourceVersion-checked patch of the template's fsGroupChangePolicy. */
    async setFsGroupChangePolicy(
      input: SetFsGroupPolicyInput & { cluster: string },
    ): Promise<SetFsGroupPolicyResult> {
      return setFsGroupChangePolicy(clients.forCluster(input.cluster), input, deps.testHooks);
    },
  };
}
