/**
 * Kubernetes side of nfsLockServicesRestart (docs/procedures.md §7): find the pods whose NFS mount failed
 * because rpc.statd was not running (kubelet's FailedMount events), delete the ones a controller
 * recreates (UID precondition), and wait for their replacements to run.
 */
import type { CoreV1Event, V1ObjectReference } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import type { NfsStuckPod } from '../../common/procedures/nfs-lock-services-restart';
import { RPC_STATD_NOT_RUNNING } from '../../common/procedures/nfs-lock-services-restart';
import type { PodIdentity } from '../../common/types';
import type { ActivityDeps } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import { type ClusterKube, kubeClientsFor } from './client';
import { PagedScan } from './paged-list';

async function findStuckPods(kube: ClusterKube, input: { nodes?: string[] }): Promise<NfsStuckPod[]> {
  const ctx = (operation: string) => ({ cluster: kube.cluster, operation, server: kube.server });
  const events = await new PagedScan(kube).collect<CoreV1Event, V1ObjectReference>(
    'list FailedMount events',
    (page) =>
      kube.core.listEventForAllNamespaces({
        fieldSelector: 'reason=FailedMount,involvedObject.kind=Pod',
        ...page,
      }),
    (e) => (e.message?.includes(RPC_STATD_NOT_RUNNING) ? e.involvedObject : undefined),
  );
  const wanted = input.nodes ? new Set(input.nodes) : undefined;
  const seen = new Set<string>();
  const out: NfsStuckPod[] = [];
  for (const o of events) {
    if (!o.uid || !o.name || !o.namespace) continue;
    if (seen.has(o.uid)) continue;
    seen.add(o.uid);
    const pod = await withKubeAnswering(ctx(`read pod ${o.namespace}/${o.name}`), [404], undefined, () =>
      kube.core.readNamespacedPod({ name: o.name!, namespace: o.namespace! }),
    );
    // Gone, replaced by a pod of the same name, being deleted, or running by now: not stuck.
    if (!pod || pod.metadata?.uid !== o.uid || pod.metadata?.deletionTimestamp) continue;
    if (pod.status?.phase !== 'Pending') continue;
    const node = pod.spec?.nodeName;
    if (!node || (wanted && !wanted.has(node))) continue;
    const owner = pod.metadata?.ownerReferences?.find((r) => r.controller);
    out.push({
      namespace: o.namespace,
      name: o.name,
      uid: o.uid,
      node,
      phase: pod.status?.phase ?? 'Unknown',
      ...(owner ? { controller: { kind: owner.kind, name: owner.name, uid: owner.uid } } : {}),
    });
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export interface WaitForReplacementInput {
  cluster: string;
  namespace: string;
  /** The deleted pod. */
  oldUid: string;
  /** Its controller (ReplicaSet, StatefulSet, DaemonSet, ...). */
  controllerUid: string;
  /** Give up after this long (the activity's own bound; a retry starts over). */
  timeoutSeconds: number;
  pollIntervalMs?: number;
}

async function waitForReplacement(
  kube: ClusterKube,
  input: WaitForReplacementInput,
): Promise<{ name: string; uid: string; node?: string }> {
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  let last = 'no pod of the controller yet';
  for (;;) {
    const pods = await withKube(
      { cluster: kube.cluster, operation: `list pods in ${input.namespace}`, server: kube.server },
      () => kube.core.listNamespacedPod({ namespace: input.namespace }),
    );
    const mine = pods.items.filter((p) =>
      p.metadata?.ownerReferences?.some((r) => r.controller && r.uid === input.controllerUid),
    );
    const oldLeft = mine.some((p) => p.metadata?.uid === input.oldUid);
    const running = mine.find(
      (p) =>
        p.metadata?.uid !== input.oldUid && !p.metadata?.deletionTimestamp && p.status?.phase === 'Running',
    );
    if (!oldLeft && running) {
      return { name: running.metadata!.name!, uid: running.metadata!.uid!, node: running.spec?.nodeName };
    }
    last = oldLeft
      ? 'the old pod is still there'
      : `replacement ${mine.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', ') || 'not created'}`;
    try {
      Context.current().heartbeat({ last });
    } catch {
      // not in an activity
    }
    if (Date.now() > deadline) {
      throw ApplicationFailure.create({
        type: ErrorType.RolloutTimeout,
        nonRetryable: true,
        message: `cluster "${kube.cluster}": no running replacement in ${input.namespace} after ${input.timeoutSeconds} s (${last})`,
      });
    }
    await new Promise((r) => setTimeout(r, input.pollIntervalMs ?? 1000));
  }
}

export function createNfsLockActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Pods still Pending whose FailedMount event says rpc.statd is not running (on the given nodes,
     * or anywhere), with their controller. Events read in pages (PagedScan: a retry resumes at its
     * last page). Read-only; safe to retry.
     */
    async findNfsLockStuckPods(input: { cluster: string; nodes?: string[] }): Promise<NfsStuckPod[]> {
      return findStuckPods(clients.forCluster(input.cluster), input);
    },

    /**
     * Deletes one pod only if it is still that pod (UID precondition). Idempotent: a pod already gone
     * (404) or replaced (409) is `already-gone`.
     */
    async deleteStuckPod(
      input: PodIdentity & { cluster: string },
    ): Promise<{ status: 'deleted' | 'already-gone' }> {
      const kube = clients.forCluster(input.cluster);
      const status = await withKubeAnswering(
        {
          cluster: kube.cluster,
          operation: `delete pod ${input.namespace}/${input.name}`,
          server: kube.server,
        },
        [404, 409],
        'already-gone' as const,
        async () => {
          await kube.core.deleteNamespacedPod({
            name: input.name,
            namespace: input.namespace,
            body: { preconditions: { uid: input.uid } },
          });
          return 'deleted' as const;
        },
      );
      return { status };
    },

    /** Waits (heartbeating) until the controller runs a pod other than the deleted one. Read-only. */
    async waitForPodReplacement(
      input: WaitForReplacementInput,
    ): Promise<{ name: string; uid: string; node?: string }> {
      return waitForReplacement(clients.forCluster(input.cluster), input);
    },
  };
}
