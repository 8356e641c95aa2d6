/**
 * Activities of fsGroupChangePolicy: finding the workloads whose pod template sets fsGroup and whose
 * pods show kubelet's mount timeout, and setting the template's fsGroupChangePolicy.
 */
import type { CoreV1Event, V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import {
  type FsGroupCandidate,
  type FsGroupPolicy,
  MOUNT_TIMEOUT,
} from '../../common/procedures/fs-group-change-policy';
import { APPS_WORKLOAD_KINDS, type AppsWorkloadRef } from '../../common/workload-kinds';
import type { ActivityDeps, ActivityTestHooks } from '../deps';
import { type AppsObject, collectAppsObjects, mergePatchAppsObject, readAppsObject } from './apps-objects';
import { kubeClientsFor, type ClusterKube } from './client';
import { PagedScan } from './paged-list';
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
    ...desiredPodsOf(ref, obj),
  };
}

const clipped = (text: string) => (text.length > MAX_EVIDENCE ? `${text.slice(0, MAX_EVIDENCE)}…` : text);

/** What the scan keeps of a pod: its name, UID and a mount-timeout message of its own status. */
interface PodFacts {
  name: string;
  uid?: string;
  statusHit?: string;
}

function podFacts(p: V1Pod): PodFacts | undefined {
  const name = p.metadata?.name;
  if (!name || p.metadata?.deletionTimestamp) return undefined;
  const messages = [
    ...(p.status?.conditions ?? []).map((c) => c.message ?? ''),
    ...(p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.message ?? ''),
  ];
  const hit = messages.find((m) => MOUNT_TIMEOUT.test(m));
  return {
    name,
    ...(p.metadata?.uid ? { uid: p.metadata.uid } : {}),
    ...(hit ? { statusHit: clipped(hit) } : {}),
  };
}

/** What the scan keeps of an event: the pod it names and its text, when it is the mount timeout. */
interface MountTimeoutEvent {
  pod: string;
  uid?: string;
  text: string;
}

function mountTimeoutEvent(e: CoreV1Event): MountTimeoutEvent | undefined {
  const pod = e.involvedObject?.name;
  if (!pod || !MOUNT_TIMEOUT.test(e.message ?? '')) return undefined;
  return {
    pod,
    ...(e.involvedObject.uid ? { uid: e.involvedObject.uid } : {}),
    text: clipped(`${e.reason ?? 'Event'}: ${e.message}`),
  };
}

/** The pods a workload wants: a DaemonSet's scheduled ones, a Deployment's or StatefulSet's replicas. */
function desiredPodsOf(ref: AppsWorkloadRef, obj: AppsObject): { desiredPods?: number } {
  if (ref.kind === 'DaemonSet') {
    const n = (obj as V1DaemonSet).status?.desiredNumberScheduled;
    return n !== undefined ? { desiredPods: n } : {};
  }
  return { desiredPods: (obj as V1Deployment | V1StatefulSet).spec?.replicas ?? 1 };
}

/** Mount-timeout messages per pod name in one namespace: its pods' events and their conditions. */
async function mountTimeouts(
  scan: PagedScan,
  kube: ClusterKube,
  namespace: string,
  pods: PodFacts[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const events = await scan.collect<CoreV1Event, MountTimeoutEvent>(
    `list pod events in ${namespace}`,
    (page) => kube.core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=Pod', ...page }),
    mountTimeoutEvent,
  );
  const uids = new Map(pods.map((p) => [p.name, p.uid]));
  for (const e of events) {
    if (!uids.has(e.pod)) continue;
    // An event of an earlier pod of the same name (a StatefulSet's) does not count.
    if (e.uid && uids.get(e.pod) && e.uid !== uids.get(e.pod)) continue;
    found.set(e.pod, e.text);
  }
  for (const p of pods) if (!found.has(p.name) && p.statusHit) found.set(p.name, p.statusHit);
  return found;
}

/** A workload the scan looks at, with the label selector of its pods. */
interface ScannedWorkload {
  candidate: FsGroupCandidate;
  selector?: string;
}

async function withSymptoms(scan: PagedScan, kube: ClusterKube, items: ScannedWorkload[]): Promise<void> {
  const byNamespace = new Map<string, ScannedWorkload[]>();
  for (const i of items)
    byNamespace.set(i.candidate.namespace, [...(byNamespace.get(i.candidate.namespace) ?? []), i]);
  for (const [namespace, list] of byNamespace) {
    const podsOf = new Map<FsGroupCandidate, PodFacts[]>();
    for (const { candidate, selector } of list) {
      if (!selector) continue;
      const pods = await scan.collect<V1Pod, PodFacts>(
        `list pods of ${candidate.kind.toLowerCase()} ${namespace}/${candidate.name}`,
        (page) => kube.core.listNamespacedPod({ namespace, labelSelector: selector, ...page }),
        podFacts,
      );
      podsOf.set(candidate, pods);
    }
    const allPods = [...podsOf.values()].flat();
    if (allPods.length === 0) continue;
    const timeouts = await mountTimeouts(scan, kube, namespace, allPods);
    for (const [candidate, pods] of podsOf) {
      const hits = pods
        .map((p) => p.name)
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
 * false), with the same facts. Every list is paged and heartbeated (PagedScan): a retry resumes.
 * Idempotency: read-only.
 */
export async function findFsGroupWorkloads(
  kube: ClusterKube,
  input: { namespaces?: string[]; workloads?: AppsWorkloadRef[] },
): Promise<FsGroupCandidate[]> {
  const scan = new PagedScan(kube);
  const items: ScannedWorkload[] = [];
  const out: FsGroupCandidate[] = [];
  if (input.workloads) {
    for (const ref of input.workloads) {
      const obj = await readAppsObject(kube, ref);
      const candidate = candidateOf(ref, obj);
      out.push(candidate);
      if (obj && candidate.fsGroup !== undefined)
        items.push({ candidate, selector: selectorString(obj.spec?.selector) });
    }
  } else {
    for (const kind of APPS_WORKLOAD_KINDS) {
      for (const namespace of input.namespaces ?? [undefined]) {
        const found = await collectAppsObjects<ScannedWorkload>(scan, kube, kind, namespace, (obj) => {
          if (obj.spec?.template?.spec?.securityContext?.fsGroup === undefined) return undefined;
          const ref = { kind, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
          return { candidate: candidateOf(ref, obj), selector: selectorString(obj.spec?.selector) };
        });
        for (const w of found) {
          out.push(w.candidate);
          items.push(w);
        }
      }
    }
  }
  await withSymptoms(scan, kube, items);
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
