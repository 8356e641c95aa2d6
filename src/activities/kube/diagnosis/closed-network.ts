/**
 * Guide §3: on a closed network, pods cannot pull one of the default NKS images (kubelet's image GC
 * removed it and the node cannot reach the public registry). Fix: closedNetworkImageRecovery on
 * those nodes for those images. The workflow adds each node's image filesystem use against the GC
 * thresholds (SSH) as the likely cause. Pure.
 */
import { boundedEvidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { parseImageReference } from '../../../common/image-ref';
import { bestMessage, pullCause, pullFailures } from './pull-failures';
import { defineDetector, podRef, podStatus } from './snapshot';

const hasDigest = (image: string) => {
  try {
    return parseImageReference(image).digest !== undefined;
  } catch {
    return true;
  }
};

export const closedNetworkDetector = defineDetector({
  name: 'closedNetwork',
  needs: ['pods', 'events'],
  detect({ pods, events }) {
    const all = pullFailures(pods, events);
    const hits = all.filter((f) => pullCause(f) === 'closedNetwork' && f.pod.spec?.nodeName);
    const detail = `${all.length} containers failing to pull, checked against the guide's default NKS images`;
    if (hits.length === 0) return { detail, findings: [] };
    const nodes = uniqSorted(hits.map((f) => f.pod.spec!.nodeName!));
    const images = uniqSorted(hits.map((f) => f.image));
    // The procedure restores images by tag; a digest reference is found from the events instead.
    const input = images.some(hasDigest) ? { fromEvents: true } : { nodes, images };
    const finding: Finding = {
      detector: 'closedNetwork',
      severity: 'critical',
      title: `default NKS images cannot be pulled on ${nodes.length} node(s): ${images.join(', ')}`,
      nodes,
      objects: uniqSorted(hits.map((f) => podRef(f.pod))),
      ...boundedEvidence(
        hits.map((f) => ({
          object: podRef(f.pod),
          node: f.pod.spec!.nodeName!,
          reason: f.reason,
          message: bestMessage(f),
          status: podStatus(f.pod),
          image: f.image,
        })),
      ),
      fix: { procedure: 'closedNetworkImageRecovery', input },
    };
    return { detail, findings: [finding] };
  },
});
