/**
 * Guide §7: NFS mounts fail with `rpc.statd is not running but is required for remote locking`.
 * Fix: nfsLockServicesRestart on the nodes of the pods still Pending with that FailedMount event.
 * Pure.
 */
import { boundedEvidence, type Finding, uniqSorted } from '../../../common/diagnosis/types';
import { RPC_STATD_NOT_RUNNING } from '../../../common/procedures/nfs-lock-services-restart';
import { defineDetector, eventEvidence, eventsOfLivePods } from './snapshot';

export const nfsLockDetector = defineDetector({
  name: 'nfsLock',
  needs: ['pods', 'events'],
  detect({ pods, events }) {
    const hits = eventsOfLivePods(
      pods.filter((p) => p.status?.phase === 'Pending' && p.spec?.nodeName),
      events,
      (e) => e.reason === 'FailedMount' && (e.message ?? '').includes(RPC_STATD_NOT_RUNNING),
    );
    const pending = pods.filter((p) => p.status?.phase === 'Pending').length;
    const detail = `FailedMount events of ${pending} Pending pods checked for "rpc.statd is not running"`;
    if (hits.length === 0) return { detail, findings: [] };
    const nodes = uniqSorted(hits.map((h) => h.pod.spec!.nodeName!));
    const bare = hits.filter((h) => !h.pod.metadata?.ownerReferences?.some((r) => r.controller));
    const finding: Finding = {
      detector: 'nfsLock',
      severity: 'critical',
      title: `NFS mounts fail on ${nodes.length} node(s): rpc.statd is not running`,
      nodes,
      objects: uniqSorted(hits.map((h) => `pod ${h.pod.metadata?.namespace}/${h.pod.metadata?.name}`)),
      ...boundedEvidence(hits.map((h) => eventEvidence(h.pod, h.event))),
      fix: { procedure: 'nfsLockServicesRestart', input: { nodes } },
      ...(bare.length
        ? {
            note: `${bare.length} bare pod(s) (${bare.map((b) => `${b.pod.metadata?.namespace}/${b.pod.metadata?.name}`).join(', ')}) are not recreated by the fix: delete and recreate them after it`,
          }
        : {}),
    };
    return { detail, findings: [finding] };
  },
});
