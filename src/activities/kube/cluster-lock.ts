/**
 * The cluster lock (src/common/cluster-lock.ts) as a coordination.k8s.io Lease, and kured's lock,
 * read before a reboot.
 */
import { CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { CLUSTER_LOCK_LEASE, KURED_LOCK } from '../../common/cluster-lock';
import { ErrorType } from '../../common/errors';
import type { ActivityDeps } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import { type ClusterKube, kubeClientsFor } from './client';

const coordination = new WeakMap<ClusterKube, CoordinationV1Api>();
function leasesApi(kube: ClusterKube): CoordinationV1Api {
  let api = coordination.get(kube);
  if (!api) {
    api = kube.config.makeApiClient(CoordinationV1Api);
    coordination.set(kube, api);
  }
  return api;
}

export interface LeaseInput {
  cluster: string;
  /** The run that holds (or wants) the lock: `<workflow ID>@<run ID>`. */
  holder: string;
  ttlSeconds: number;
}

export type AcquireLeaseResult =
  | {
      acquired: true;
      how: 'created' | 'already-held' | 'took-over-expired' | 'took-over-released';
      previousHolder?: string;
    }
  | { acquired: false; holder: string; expiresAt: string };

export type RenewLeaseResult = { held: true; renewedAt: string } | { held: false; holder?: string };

function leaseExpiry(lease: V1Lease): number {
  const renew = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const t = renew ? new Date(renew).getTime() : 0;
  return t + (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
}

export function validHolder(holder: unknown): string {
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 512) {
    throw ApplicationFailure.nonRetryable('holder must name a run', ErrorType.InvalidInput);
  }
  return holder;
}

async function readLease(kube: ClusterKube): Promise<V1Lease | undefined> {
  const { namespace, name } = CLUSTER_LOCK_LEASE;
  return withKubeAnswering(
    { cluster: kube.cluster, operation: `read lease ${namespace}/${name}`, server: kube.server },
    [404],
    undefined,
    () => leasesApi(kube).readNamespacedLease({ name, namespace }),
  );
}

async function writeLease(kube: ClusterKube, lease: V1Lease, create: boolean): Promise<void> {
  const { namespace, name } = CLUSTER_LOCK_LEASE;
  const ctx = {
    cluster: kube.cluster,
    operation: `${create ? 'create' : 'update'} lease ${namespace}/${name}`,
    server: kube.server,
  };
  // A 409 (another run created or updated it first) is KubeConflict, retryable: the retry re-reads.
  await withKube(ctx, () =>
    create
      ? leasesApi(kube).createNamespacedLease({ namespace, body: lease })
      : leasesApi(kube).replaceNamespacedLease({ name, namespace, body: lease }),
  );
}

async function acquireLease(kube: ClusterKube, input: LeaseInput): Promise<AcquireLeaseResult> {
  const holder = validHolder(input.holder);
  const now = new V1MicroTime(Date.now());
  const lease = await readLease(kube);
  const spec = { holderIdentity: holder, leaseDurationSeconds: input.ttlSeconds, renewTime: now };
  if (!lease) {
    await writeLease(
      kube,
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: CLUSTER_LOCK_LEASE.name,
          namespace: CLUSTER_LOCK_LEASE.namespace,
          labels: { 'app.kubernetes.io/managed-by': 'nks-remediation' },
        },
        spec: { ...spec, acquireTime: now, leaseTransitions: 0 },
      },
      true,
    );
    return { acquired: true, how: 'created' };
  }
  const current = lease.spec?.holderIdentity ?? '';
  if (current === holder) {
    // Ours already: a retried attempt, or a resumed run. Renew and carry on.
    lease.spec = { ...lease.spec, ...spec };
    await writeLease(kube, lease, false);
    return { acquired: true, how: 'already-held' };
  }
  const expiresAt = leaseExpiry(lease);
  if (current !== '' && expiresAt > Date.now()) {
    return { acquired: false, holder: current, expiresAt: new Date(expiresAt).toISOString() };
  }
  // Released (no holder) or stale past its TTL: take it over; resourceVersion makes it a CAS.
  lease.spec = {
    ...lease.spec,
    ...spec,
    acquireTime: now,
    leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
  };
  await writeLease(kube, lease, false);
  return current === ''
    ? { acquired: true, how: 'took-over-released' }
    : { acquired: true, how: 'took-over-expired', previousHolder: current };
}

async function renewLease(kube: ClusterKube, input: LeaseInput): Promise<RenewLeaseResult> {
  const holder = validHolder(input.holder);
  const lease = await readLease(kube);
  if (!lease || lease.spec?.holderIdentity !== holder) {
    return { held: false, ...(lease?.spec?.holderIdentity ? { holder: lease.spec.holderIdentity } : {}) };
  }
  const now = new V1MicroTime(Date.now());
  lease.spec = { ...lease.spec, renewTime: now, leaseDurationSeconds: input.ttlSeconds };
  await writeLease(kube, lease, false);
  return { held: true, renewedAt: now.toISOString() };
}

async function releaseLease(
  kube: ClusterKube,
  input: { cluster: string; holder: string },
): Promise<{ status: 'released' | 'not-held'; holder?: string }> {
  const holder = validHolder(input.holder);
  const lease = await readLease(kube);
  if (!lease || lease.spec?.holderIdentity !== holder) {
    return {
      status: 'not-held',
      ...(lease?.spec?.holderIdentity ? { holder: lease.spec.holderIdentity } : {}),
    };
  }
  const { namespace, name } = CLUSTER_LOCK_LEASE;
  // Deleted only if it is still the version we read (still ours); a 404 means already gone.
  await withKubeAnswering(
    { cluster: kube.cluster, operation: `delete lease ${namespace}/${name}`, server: kube.server },
    [404],
    undefined,
    () =>
      leasesApi(kube).deleteNamespacedLease({
        name,
        namespace,
        body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion } },
      }),
  );
  return { status: 'released' };
}

export type KuredLockState = { held: false } | { held: true; holder: string; since?: string };

/**
 * kured's lock as its DaemonSet's annotation holds it: JSON `{"nodeID": ..., "created": ...,
 * "TTL": ...}` (kured 1.7+) or a bare node name (older). No DaemonSet, no annotation, or an expired
 * TTL: not held.
 */
async function readKuredLock(kube: ClusterKube): Promise<KuredLockState> {
  const { namespace, daemonSet: name, annotation } = KURED_LOCK;
  const ds = await withKubeAnswering(
    { cluster: kube.cluster, operation: `read daemonset ${namespace}/${name}`, server: kube.server },
    [404],
    undefined,
    () => kube.apps.readNamespacedDaemonSet({ name, namespace }),
  );
  const raw = ds?.metadata?.annotations?.[annotation];
  if (!raw) return { held: false };
  try {
    const lock = JSON.parse(raw) as { nodeID?: unknown; created?: unknown; TTL?: unknown };
    if (typeof lock !== 'object' || lock === null) return { held: true, holder: String(raw).slice(0, 200) };
    const created = typeof lock.created === 'string' ? Date.parse(lock.created) : NaN;
    // kured writes TTL as a Go duration in nanoseconds; 0 means no expiry.
    const ttlMs = typeof lock.TTL === 'number' && lock.TTL > 0 ? lock.TTL / 1e6 : 0;
    if (ttlMs > 0 && Number.isFinite(created) && created + ttlMs < Date.now()) return { held: false };
    const node = typeof lock.nodeID === 'string' && lock.nodeID ? lock.nodeID : 'a node';
    return {
      held: true,
      holder: `kured (rebooting ${node.slice(0, 253)})`,
      ...(Number.isFinite(created) ? { since: new Date(created).toISOString() } : {}),
    };
  } catch {
    return { held: true, holder: `kured (rebooting ${raw.slice(0, 253)})` };
  }
}

export function createClusterLockActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Takes the cluster lock for `holder` if it is free, released, past its TTL, or already held by
     * `holder` (a retry or a resumed run: renewed). Otherwise reports who holds it until when.
     * Check-then-act with the Lease's resourceVersion: of two racing runs one wins, the other's
     * write is a 409 (KubeConflict, retried: it re-reads and sees the winner).
     */
    async acquireClusterLock(input: LeaseInput): Promise<AcquireLeaseResult> {
      return acquireLease(clients.forCluster(input.cluster), input);
    },

    /** Renews the Lease if `holder` still holds it; `held: false` (nothing written) if not. Idempotent. */
    async renewClusterLock(input: LeaseInput): Promise<RenewLeaseResult> {
      return renewLease(clients.forCluster(input.cluster), input);
    },

    /**
     * Deletes the Lease if `holder` holds it (precondition on the version read); `not-held` (nothing
     * done) if someone else or nobody does. Idempotent.
     */
    async releaseClusterLock(input: {
      cluster: string;
      holder: string;
    }): Promise<{ status: 'released' | 'not-held'; holder?: string }> {
      return releaseLease(clients.forCluster(input.cluster), input);
    },

    /** Whether kured holds its reboot lock on the cluster. Read-only. */
    async readKuredLock(input: { cluster: string }): Promise<KuredLockState> {
      return readKuredLock(clients.forCluster(input.cluster));
    },
  };
}
