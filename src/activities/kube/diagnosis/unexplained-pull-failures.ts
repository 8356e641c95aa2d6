/**
 * Pods that cannot pull an image for a reason none of the guide's symptoms explains (a tag that does
 * not exist, a private registry without credentials, ...): reported as unknown cause, with the
 * message, and no procedure. Never guessed into the Docker Hub or closed-network fixes. Pure.
 */
import { boundedEvidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { pullFailureEvidence, pullCause, pullFailures } from './pull-failures';
import { defineDetector, podRef } from './snapshot';

export const unexplainedPullFailuresDetector = defineDetector({
  name: 'unexplainedPullFailures',
  needs: ['pods', 'events'],
  detect({ pods, events }) {
    const all = pullFailures(pods, events);
    const rest = all.filter((f) => pullCause(f) === undefined);
    const detail = `${all.length} containers failing to pull, ${all.length - rest.length} explained by a symptom of the guide`;
    if (rest.length === 0) return { detail, findings: [] };
    const finding: Finding = {
      detector: 'unexplainedPullFailures',
      severity: 'warning',
      title: `${uniqSorted(rest.map((f) => podRef(f.pod))).length} pods cannot pull an image: unknown cause (no procedure of the guide applies)`,
      nodes: uniqSorted(rest.map((f) => f.pod.spec?.nodeName ?? '').filter(Boolean)),
      objects: uniqSorted(rest.map((f) => podRef(f.pod))),
      ...boundedEvidence(rest.map((f) => pullFailureEvidence(f))),
      note: 'check the image reference and the registry (kubectl describe pod); nothing is proposed',
    };
    return { detail, findings: [finding] };
  },
});
