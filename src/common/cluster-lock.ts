/**
 * The cluster lock: one mutating run per cluster, whatever started it (nksr, the SDK, the Temporal
 * CLI or UI, a Schedule), as a coordination.k8s.io Lease in kube-system like kured's own lock. Its
 * input fields, its permissions, and kured's lock, which a rolling reboot honours too. Pure (no Node
 * built-ins): workflows import it.
 */
import { z } from 'zod';
import type { KubePermission } from './procedures/permissions';
import { boundedInt } from './inputs';

export const CLUSTER_LOCK_DEFAULTS = {
  lockTtlSeconds: 300,
  lockWaitMinutes: 360,
  lockPollSeconds: 30,
} as const;

/** The Lease every mutating run holds while it changes the cluster. */
export const CLUSTER_LOCK_LEASE = { namespace: 'kube-system', name: 'nksr-cluster-lock' } as const;

/**
 * kured's lock: an annotation on its DaemonSet holding the node it is rebooting (kured's default
 * `--ds-namespace`, `--ds-name` and `--lock-annotation`).
 */
export const KURED_LOCK = {
  namespace: 'kube-system',
  daemonSet: 'kured',
  annotation: 'weave.works/kured-node-lock',
} as const;

/** Input fields of every mutating procedure: how it waits for the cluster lock. */
export const ClusterLockInputSchema = z.object({
  lockTtlSeconds: boundedInt(
    15,
    3600,
    CLUSTER_LOCK_DEFAULTS.lockTtlSeconds,
    'the cluster lock expires this long after its last renewal (a dead run’s lock)',
  ),
  failIfLocked: z
    .boolean()
    .default(false)
    .describe(
      'fail at once when another run holds the cluster lock, instead of waiting (nksr --no-wait-lock)',
    ),
  lockWaitMinutes: boundedInt(
    1,
    10_080,
    CLUSTER_LOCK_DEFAULTS.lockWaitMinutes,
    'how long to wait for the cluster lock',
  ),
  lockPollSeconds: boundedInt(
    1,
    600,
    CLUSTER_LOCK_DEFAULTS.lockPollSeconds,
    'how often a run waiting for the cluster lock checks it',
  ),
});

export type ClusterLockOptions = z.output<typeof ClusterLockInputSchema>;

/**
 * The lock's permissions. A create cannot be limited by name (the object does not exist yet);
 * everything else is limited to the lock's own Lease.
 */
export const CLUSTER_LOCK_PERMISSIONS: readonly KubePermission[] = [
  {
    apiGroup: 'coordination.k8s.io',
    resources: ['leases'],
    verbs: ['get', 'update', 'delete'],
    namespace: CLUSTER_LOCK_LEASE.namespace,
    resourceNames: [CLUSTER_LOCK_LEASE.name],
    why: `the cluster lock (Lease ${CLUSTER_LOCK_LEASE.name}): one mutating run per cluster`,
  },
  {
    apiGroup: 'coordination.k8s.io',
    resources: ['leases'],
    verbs: ['create'],
    namespace: CLUSTER_LOCK_LEASE.namespace,
    why: `creates the cluster lock's Lease ${CLUSTER_LOCK_LEASE.name} when no run holds it (create cannot be limited by name)`,
  },
];

/** Reading kured's lock before a reboot. */
export const KURED_LOCK_PERMISSION: KubePermission = {
  apiGroup: 'apps',
  resources: ['daemonsets'],
  verbs: ['get'],
  namespace: KURED_LOCK.namespace,
  resourceNames: [KURED_LOCK.daemonSet],
  why: `reads kured's lock (annotation ${KURED_LOCK.annotation} on DaemonSet ${KURED_LOCK.daemonSet}) before rebooting`,
};
