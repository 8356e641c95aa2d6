/**
 * Guide §5: FailedCreatePodContainer `cannot allocate memory` on 3.x/4.x kernels (the memory cgroup
 * kernel-object accounting bug). Fix: disableKmemAccounting on those nodes (named here, not imported:
 * the diagnosis depends on no other procedure's code). The same event on a newer kernel is reported
 * as unknown cause. Only events of pods that still exist under the same UID count: once a node was
 * fixed and drained, its old events no longer describe anything. Pure.
 */
import type { Evidence, Finding } from '../../../common/diagnosis/types';
import { boundedEvidence, clip, uniqSorted } from '../../../common/diagnosis/types';
import { defineDetector, eventEvidence, eventsOfLivePods, kernelMajor } from './snapshot';

export const KMEM_EVENT_REASON = 'FailedCreatePodContainer';
export const KMEM_MESSAGE = /cannot allocate memory/i;

export const kmemDetector = defineDetector({
  name: 'kmem',
  needs: ['pods', 'events', 'nodes'],
  detect({ pods, events, nodes }) {
    const hits = eventsOfLivePods(
      pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed'),
      events,
      (e) => e.reason === KMEM_EVENT_REASON && KMEM_MESSAGE.test(e.message ?? ''),
    );
    const byName = new Map(nodes.map((n) => [n.metadata?.name, n]));
    const kernels = uniqSorted(nodes.map((n) => n.status?.nodeInfo?.kernelVersion ?? '?'));
    const detail = `${KMEM_EVENT_REASON} events of ${pods.length} pods; node kernels ${kernels.join(', ') || 'none'}`;
    const affected: { node: string; ev: Evidence }[] = [];
    const other: { node: string; ev: Evidence }[] = [];
    for (const { pod, event } of hits) {
      const node = pod.spec?.nodeName ?? event.source?.host ?? '';
      if (!node) continue;
      const major = kernelMajor(byName.get(node));
      const ev = {
        ...eventEvidence(pod, event),
        node,
        message: `${clip(event.message) ?? ''} (kernel ${byName.get(node)?.status?.nodeInfo?.kernelVersion ?? 'unknown'})`,
      };
      // Unknown kernel: the guide's bug is the likely cause of these exact words; say so.
      (major === undefined || major === 3 || major === 4 ? affected : other).push({ node, ev });
    }
    const findings: Finding[] = [];
    if (affected.length > 0) {
      const list = uniqSorted(affected.map((a) => a.node));
      findings.push({
        detector: 'kmem',
        severity: 'critical',
        title: `pods cannot get containers created on ${list.length} node(s): cannot allocate memory (kmem accounting bug of 3.x/4.x kernels)`,
        nodes: list,
        objects: uniqSorted(affected.map((a) => a.ev.object)),
        ...boundedEvidence(affected.map((a) => a.ev)),
        fix: { procedure: 'disableKmemAccounting', input: { nodes: list } },
        note: 'reboots the nodes one at a time (cordon, drain, cgroup.memory=nokmem, reboot, verify)',
      });
    }
    if (other.length > 0) {
      const list = uniqSorted(other.map((a) => a.node));
      findings.push({
        detector: 'kmem',
        severity: 'warning',
        title: `cannot allocate memory creating containers on ${list.length} node(s) with a kernel ≥ 5: unknown cause (not the kmem bug)`,
        nodes: list,
        objects: uniqSorted(other.map((a) => a.ev.object)),
        ...boundedEvidence(other.map((a) => a.ev)),
        note: 'check the nodes’ memory and cgroup limits; nothing is proposed',
      });
    }
    return { detail, findings };
  },
});
