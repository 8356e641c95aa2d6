/**
 * Guide §9: volume mounts time out (`timed out waiting for the condition`) on pods whose template
 * sets `fsGroup` without `fsGroupChangePolicy: OnRootMismatch` (kubelet chowns the whole volume at
 * every mount). Fix: fsGroupChangePolicy on exactly those workloads. Pure.
 */
import type { V1LabelSelector, V1Pod } from '@kubernetes/client-node';
import type { Evidence, Finding } from '../../../common/diagnosis/types';
import { boundedEvidence, clip, uniqSorted } from '../../../common/diagnosis/types';
import { MOUNT_TIMEOUT } from '../../../common/procedures/fs-group-change-policy';
import type { AppsWorkloadKind } from '../../../common/workload-kinds';
import { defineDetector, eventEvidence, eventsOfLivePods, livePods, podRef, podStatus } from './snapshot';

/** kubectl's label selector semantics (matchLabels and matchExpressions); an empty one selects nothing here. */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  const ml = Object.entries(selector?.matchLabels ?? {});
  const me = selector?.matchExpressions ?? [];
  if (ml.length === 0 && me.length === 0) return false;
  if (!ml.every(([k, v]) => labels[k] === v)) return false;
  return me.every((e) => {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        return has && values.includes(labels[e.key]!);
      case 'NotIn':
        return !has || !values.includes(labels[e.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

export const fsGroupDetector = defineDetector({
  name: 'fsGroup',
  needs: ['pods', 'events', 'deployments', 'statefulsets', 'daemonsets'],
  detect(s) {
    const workloads = [
      ...s.deployments.map((o) => ({ kind: 'Deployment' as AppsWorkloadKind, o })),
      ...s.statefulsets.map((o) => ({ kind: 'StatefulSet' as AppsWorkloadKind, o })),
      ...s.daemonsets.map((o) => ({ kind: 'DaemonSet' as AppsWorkloadKind, o })),
    ];
    const withFsGroup = workloads.filter(({ o }) => {
      const sc = o.spec?.template?.spec?.securityContext;
      return sc?.fsGroup !== undefined && sc.fsGroupChangePolicy !== 'OnRootMismatch';
    });
    const timedOut = new Map<string, Evidence>();
    for (const { pod, event } of eventsOfLivePods(s.pods, s.events, (e) =>
      MOUNT_TIMEOUT.test(e.message ?? ''),
    ))
      timedOut.set(pod.metadata!.uid!, eventEvidence(pod, event));
    for (const p of livePods(s.pods)) {
      if (timedOut.has(p.metadata?.uid ?? '')) continue;
      const hit = [
        ...(p.status?.conditions ?? []).map((c) => c.message ?? ''),
        ...(p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.message ?? ''),
      ].find((m) => MOUNT_TIMEOUT.test(m));
      if (hit)
        timedOut.set(p.metadata!.uid!, {
          object: podRef(p),
          node: p.spec?.nodeName,
          message: clip(hit),
          status: podStatus(p),
        });
    }
    const detail = `${withFsGroup.length} of ${workloads.length} workloads set fsGroup without OnRootMismatch; their pods checked for mount timeouts`;
    const affected: { kind: AppsWorkloadKind; namespace: string; name: string; pods: V1Pod[] }[] = [];
    for (const { kind, o } of withFsGroup) {
      const ns = o.metadata?.namespace;
      const pods = livePods(s.pods).filter(
        (p) =>
          p.metadata?.namespace === ns &&
          timedOut.has(p.metadata?.uid ?? '') &&
          selects(o.spec?.selector, p.metadata?.labels),
      );
      if (pods.length) affected.push({ kind, namespace: ns!, name: o.metadata!.name!, pods });
    }
    if (affected.length === 0) return { detail, findings: [] };
    const evidence = affected.flatMap((a) =>
      a.pods.map((p) => ({
        ...timedOut.get(p.metadata!.uid!)!,
        message: `${timedOut.get(p.metadata!.uid!)!.message} [${a.kind.toLowerCase()} ${a.namespace}/${a.name} fsGroup ${workloadFsGroup(s, a)}]`,
      })),
    );
    const finding: Finding = {
      detector: 'fsGroup',
      severity: 'critical',
      title: `volume mounts time out on ${affected.length} workload(s) that set fsGroup without OnRootMismatch`,
      nodes: uniqSorted(affected.flatMap((a) => a.pods.map((p) => p.spec?.nodeName ?? '')).filter(Boolean)),
      objects: uniqSorted(affected.map((a) => `${a.kind.toLowerCase()} ${a.namespace}/${a.name}`)),
      ...boundedEvidence(evidence),
      fix: {
        procedure: 'fsGroupChangePolicy',
        input: { workloads: affected.map(({ kind, namespace, name }) => ({ kind, namespace, name })) },
      },
    };
    return { detail, findings: [finding] };
  },
});

function workloadFsGroup(
  s: Parameters<typeof fsGroupDetector.detect>[0],
  a: { kind: AppsWorkloadKind; namespace: string; name: string },
): string {
  const list =
    a.kind === 'Deployment' ? s.deployments : a.kind === 'StatefulSet' ? s.statefulsets : s.daemonsets;
  const o = list.find((w) => w.metadata?.namespace === a.namespace && w.metadata?.name === a.name);
  return String(o?.spec?.template?.spec?.securityContext?.fsGroup ?? '?');
}
