/**
 * Guide §2: pods pulling from Docker Hub fail with `toomanyrequests` (the anonymous pull limit of the
 * nodes' shared public IP). Fix: dockerHubPullSecret in the affected namespaces. Pure.
 */
import { RATE_LIMIT_RE } from '../../../common/procedures/docker-hub-pull-secret';
import { boundedEvidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { pullFailureEvidence, pullCause, pullFailures } from './pull-failures';
import { defineDetector, podRef } from './snapshot';

export const dockerHubRateLimitDetector = defineDetector({
  name: 'dockerHubRateLimit',
  needs: ['pods', 'events'],
  detect({ pods, events }) {
    const all = pullFailures(pods, events);
    const hits = all.filter((f) => pullCause(f) === 'dockerHubRateLimit');
    const detail = `${all.length} containers failing to pull, checked for Docker Hub's toomanyrequests`;
    if (hits.length === 0) return { detail, findings: [] };
    const namespaces = uniqSorted(hits.map((f) => f.pod.metadata?.namespace ?? ''));
    const finding: Finding = {
      detector: 'dockerHubRateLimit',
      severity: 'critical',
      title: `${uniqSorted(hits.map((f) => podRef(f.pod))).length} pods cannot pull from Docker Hub: anonymous pull rate limit (toomanyrequests)`,
      nodes: uniqSorted(hits.map((f) => f.pod.spec?.nodeName ?? '').filter(Boolean)),
      objects: uniqSorted(hits.map((f) => podRef(f.pod))),
      ...boundedEvidence(hits.map((f) => pullFailureEvidence(f, RATE_LIMIT_RE))),
      fix: { procedure: 'dockerHubPullSecret', input: { namespaces } },
      note: "needs the cluster's dockerHub.credentialsFile in the worker's clusters.yaml",
    };
    return { detail, findings: [finding] };
  },
});
