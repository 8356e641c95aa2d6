/**
 * Guide §4: workload images on `docker.pkg.github.com`, which containerd (NKS ≥ 1.24) cannot pull.
 * Fix: ghcrMigration in the namespaces of the Deployments, DaemonSets, StatefulSets and CronJobs that
 * use it. Jobs and bare pods on the old host are reported apart (the procedure never touches them).
 * Pure.
 */
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { boundedEvidence, type Evidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { OLD_GITHUB_HOST, usesOldGithubHost } from '../../../common/procedures/ghcr-migration';
import { pullFailureEvidence, pullCause, pullFailures } from './pull-failures';
import { defineDetector, livePods, podRef, podStatus } from './snapshot';

function oldImages(spec: V1PodTemplateSpec['spec']): { container: string; image: string }[] {
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]
    .filter((c) => usesOldGithubHost(c.image ?? ''))
    .map((c) => ({ container: c.name, image: c.image! }));
}

export const ghcrDetector = defineDetector({
  name: 'ghcr',
  needs: ['pods', 'events', 'deployments', 'daemonsets', 'statefulsets', 'cronjobs', 'jobs'],
  detect(s) {
    const templated = [
      ...s.deployments.map((o) => ({ kind: 'deployment', o, spec: o.spec?.template?.spec })),
      ...s.daemonsets.map((o) => ({ kind: 'daemonset', o, spec: o.spec?.template?.spec })),
      ...s.statefulsets.map((o) => ({ kind: 'statefulset', o, spec: o.spec?.template?.spec })),
      ...s.cronjobs.map((o) => ({ kind: 'cronjob', o, spec: o.spec?.jobTemplate?.spec?.template?.spec })),
    ];
    const workloads: Evidence[] = [];
    for (const { kind, o, spec } of templated)
      for (const { container, image } of oldImages(spec))
        workloads.push({
          object: `${kind} ${o.metadata?.namespace}/${o.metadata?.name}`,
          reason: 'OldGithubRegistry',
          message: `container ${container}`,
          image,
        });
    // Jobs of a CronJob follow its template; other Jobs and bare pods stay as they are.
    const loose: Evidence[] = [];
    for (const j of s.jobs) {
      if (j.metadata?.ownerReferences?.some((r) => r.kind === 'CronJob')) continue;
      for (const { container, image } of oldImages(j.spec?.template?.spec))
        loose.push({
          object: `job ${j.metadata?.namespace}/${j.metadata?.name}`,
          message: `container ${container}`,
          image,
        });
    }
    for (const p of livePods(s.pods)) {
      if (p.metadata?.ownerReferences?.length) continue;
      for (const { container, image } of oldImages(p.spec))
        loose.push({ object: podRef(p), message: `container ${container}`, status: podStatus(p), image });
    }
    const failing = pullFailures(s.pods, s.events).filter((f) => pullCause(f) === 'ghcr');
    const failingEvidence: Evidence[] = failing.map((f) => pullFailureEvidence(f));
    const detail = `${templated.length} workload templates and ${s.jobs.length} jobs, ${s.pods.length} pods checked for ${OLD_GITHUB_HOST}`;
    const findings: Finding[] = [];
    if (workloads.length > 0) {
      const objects = uniqSorted(workloads.map((w) => w.object));
      findings.push({
        detector: 'ghcr',
        severity: failing.length > 0 ? 'critical' : 'warning',
        title: `${objects.length} workloads use ${OLD_GITHUB_HOST}, which containerd (NKS ≥ 1.24) cannot pull`,
        nodes: uniqSorted(failing.map((f) => f.pod.spec?.nodeName ?? '').filter(Boolean)),
        objects,
        ...boundedEvidence([...failingEvidence, ...workloads]),
        fix: {
          procedure: 'ghcrMigration',
          input: { namespaces: uniqSorted(objects.map((o) => o.split(' ')[1]!.split('/')[0]!)) },
        },
      });
    }
    if (loose.length > 0) {
      findings.push({
        detector: 'ghcr',
        severity: 'warning',
        title: `${uniqSorted(loose.map((l) => l.object)).length} jobs / bare pods use ${OLD_GITHUB_HOST} (not migrated by any procedure)`,
        nodes: [],
        objects: uniqSorted(loose.map((l) => l.object)),
        ...boundedEvidence(loose),
        note: 'recreate them from manifests that use ghcr.io',
      });
    }
    return { detail, findings };
  },
});
