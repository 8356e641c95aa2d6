/**
 * The recorded cluster state the Kubernetes-side detectors read: one list per kind, read once per
 * diagnosis (read-only), and helpers over it. A part that could not be read (forbidden, say) is
 * absent with the reason in `unreadable`; the detectors that need it are reported skipped.
 */
import type {
  CoreV1Event,
  V1CronJob,
  V1DaemonSet,
  V1Deployment,
  V1Job,
  V1Node,
  V1Pod,
  V1StatefulSet,
} from '@kubernetes/client-node';
import {
  clip,
  type DetectorName,
  type DetectorReport,
  type Evidence,
  type Finding,
} from '../../../common/diagnosis/types';

/** What the worker made of the cinder CSI cloud-config; its content never leaves the activity. */
export type CinderConfigFact =
  | { found: false }
  | { found: true; rescanOnResize: 'absent' | 'true' | 'false' | 'not-a-boolean' | 'unparsable' };

export interface KubeSnapshot {
  nodes?: V1Node[];
  pods?: V1Pod[];
  events?: CoreV1Event[];
  deployments?: V1Deployment[];
  daemonsets?: V1DaemonSet[];
  statefulsets?: V1StatefulSet[];
  cronjobs?: V1CronJob[];
  jobs?: V1Job[];
  cinderConfig?: CinderConfigFact;
  /** Parts that could not be read, with why (e.g. `KubeForbidden: ... list secrets`). */
  unreadable: Partial<Record<SnapshotPart, string>>;
}

export type SnapshotPart = Exclude<keyof KubeSnapshot, 'unreadable'>;

/** A snapshot whose parts `P` were read. */
export type With<P extends SnapshotPart> = KubeSnapshot & Required<Pick<KubeSnapshot, P>>;

export interface KubeDetector<P extends SnapshotPart = SnapshotPart> {
  name: DetectorName;
  needs: readonly P[];
  /** Pure: findings and a line saying what was looked at. */
  detect(s: With<P>): { detail: string; findings: Finding[] };
}

export function defineDetector<P extends SnapshotPart>(d: KubeDetector<P>): KubeDetector<P> {
  return d;
}

/** Runs a detector, or reports it skipped naming the parts it could not read. */
export function runDetector(d: KubeDetector, s: KubeSnapshot): DetectorReport {
  const missing = d.needs.filter((p) => s[p] === undefined);
  if (missing.length > 0) {
    const why = missing.map((p) => `${p}: ${s.unreadable[p] ?? 'not read'}`).join('; ');
    return { detector: d.name, status: 'skipped', detail: `could not read ${why}`, findings: [] };
  }
  const { detail, findings } = d.detect(s as With<SnapshotPart>);
  return { detector: d.name, status: 'checked', detail, findings };
}

export const podRef = (p: V1Pod) => `pod ${p.metadata?.namespace}/${p.metadata?.name}`;

/** `Running 0/1`, `Pending` — what `kubectl get pods` shows in STATUS/READY. */
export function podStatus(p: V1Pod): string {
  const cs = p.status?.containerStatuses ?? [];
  const ready = cs.filter((c) => c.ready).length;
  const waiting = [...(p.status?.initContainerStatuses ?? []), ...cs].find((c) => c.state?.waiting?.reason)
    ?.state?.waiting?.reason;
  return `${p.status?.phase ?? 'Unknown'} ${ready}/${p.spec?.containers?.length ?? cs.length}${waiting ? ` (${waiting})` : ''}`;
}

/** Pods still there and not being deleted. */
export const livePods = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);

/** Events about a pod that still exists under the same UID, grouped by that pod. */
export function eventsOfLivePods(
  pods: V1Pod[],
  events: CoreV1Event[],
  match: (e: CoreV1Event) => boolean,
): { pod: V1Pod; event: CoreV1Event }[] {
  const byUid = new Map(livePods(pods).map((p) => [p.metadata?.uid, p]));
  const out: { pod: V1Pod; event: CoreV1Event }[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    if (e.involvedObject?.kind !== 'Pod' || !match(e)) continue;
    const pod = byUid.get(e.involvedObject.uid);
    const uid = pod?.metadata?.uid;
    if (!pod || !uid || seen.has(uid)) continue;
    seen.add(uid);
    out.push({ pod, event: e });
  }
  return out;
}

export function eventEvidence(pod: V1Pod, e: CoreV1Event, message?: string): Evidence {
  return {
    object: podRef(pod),
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    reason: e.reason ?? 'Event',
    message: clip(message ?? e.message ?? '') ?? '',
    status: podStatus(pod),
  };
}

/** The controller of a pod, one level up (ReplicaSet, DaemonSet, StatefulSet, Job). */
export const controllerOf = (p: V1Pod) => p.metadata?.ownerReferences?.find((r) => r.controller);

/** Kernel major version from nodeInfo (`3.10.0-1160.el7.x86_64` → 3). */
export function kernelMajor(node: V1Node | undefined): number | undefined {
  const m = /^(\d+)\./.exec(node?.status?.nodeInfo?.kernelVersion ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `v1.34.4` → [1, 34]. */
export function kubeletMinor(node: V1Node): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(node.status?.nodeInfo?.kubeletVersion ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}
