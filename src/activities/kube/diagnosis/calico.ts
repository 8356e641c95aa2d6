/**
 * Guide §6: calico-typha / calico-kube-controllers cannot pull their images (the wrong repository of
 * clusters created before 2024-05) and calico-node runs 0/1 Ready: the pod network is down.
 * Fix: calicoImageRepair with its defaults (the guide's registry and tag). Pure.
 */
import { CALICO_DEFAULTS } from '../../../common/calico';
import { boundedEvidence, type Evidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { normalizeImageReference } from '../../../common/image-ref';
import { pullCause, pullFailureEvidence, isCalicoPod, pullFailures } from './pull-failures';
import { defineDetector, livePods, podRef, podStatus } from './snapshot';

/** `docker.io/calico/` as every reference under the repair's registry normalises to. */
const TARGET_PREFIX = `${normalizeImageReference(`${CALICO_DEFAULTS.registry}/x`).replace(/x:latest$/, '')}`;

const onTargetRepository = (image: string): boolean => {
  try {
    return normalizeImageReference(image).startsWith(TARGET_PREFIX);
  } catch {
    return false;
  }
};

export const calicoDetector = defineDetector({
  name: 'calico',
  needs: ['pods', 'events'],
  detect({ pods, events }) {
    const calicoPods = livePods(pods).filter(isCalicoPod);
    // A calico pod stuck on its node's missing pause image is the closed-network detector's.
    const failing = pullFailures(calicoPods, events).filter(
      (f) => f.pod.metadata?.labels?.['k8s-app'] !== 'calico-node' && pullCause(f) === 'calico',
    );
    const detail = `${calicoPods.length} calico pods in ${CALICO_DEFAULTS.namespace} (typha, kube-controllers, node)`;
    if (failing.length === 0) return { detail, findings: [] };
    const notReadyNodes = calicoPods.filter(
      (p) =>
        p.metadata?.labels?.['k8s-app'] === 'calico-node' &&
        p.status?.phase === 'Running' &&
        (p.status?.containerStatuses ?? []).some((c) => !c.ready),
    );
    const evidence: Evidence[] = [
      ...failing.map((f) => pullFailureEvidence(f)),
      ...notReadyNodes.map((p) => ({
        object: podRef(p),
        ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
        reason: 'NotReady',
        status: podStatus(p),
      })),
    ];
    const alreadyTarget = failing.every((f) => onTargetRepository(f.image));
    const finding: Finding = {
      detector: 'calico',
      severity: 'critical',
      title: alreadyTarget
        ? `calico cannot pull its images although they are on ${CALICO_DEFAULTS.registry} (not the wrong-repository bug)`
        : `calico-typha / calico-kube-controllers cannot pull their images; ${notReadyNodes.length} calico-node pods not Ready: the pod network is down`,
      nodes: uniqSorted(notReadyNodes.map((p) => p.spec?.nodeName ?? '').filter(Boolean)),
      objects: uniqSorted([...failing.map((f) => podRef(f.pod)), ...notReadyNodes.map(podRef)]),
      ...boundedEvidence(evidence),
      ...(alreadyTarget
        ? {
            note: `the images are already the repair's target: check the nodes' access to ${CALICO_DEFAULTS.registry}`,
          }
        : { fix: { procedure: 'calicoImageRepair', input: {} } }),
    };
    return { detail, findings: [finding] };
  },
});
