/**
 * NFS lock failures (docs/procedures.md §7): on a node whose rpc-statd is stopped, pods with NFS volumes
 * stay ContainerCreating and kubelet records FailedMount events:
 *   mount.nfs: rpc.statd is not running but is required for remote locking.
 *
 * `nfsLockFault({ dir, node })` builds that state: it stops the node's rpc-statd (its unit state on
 * the simulator's disk, what the node's systemctl stand-in reads), and in namespace `nfs-demo` puts
 * on the node
 *   - `nfs-client-<node>`: a pod adopted by ReplicaSet `nfs-client-<node>` (a controller recreates it),
 *   - `nfs-bare-<node>`: a pod no controller owns,
 * both annotated `sim.nksr.io/mount-blocked: "true"` (no kwok stage starts such a pod: they stay
 * Pending), each with a FailedMount event in kubelet's words. The ReplicaSet's template carries no
 * annotation, so its replacement pods run.
 *
 * Limits: the block is per pod, not derived from rpc-statd's state: a replacement runs whether or not
 * rpc-statd was restarted first (a test checks the unit's state separately).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadSim } from './index';
import { nodePaths } from './nodes/layout';

export const NFS_DEMO_NAMESPACE = 'nfs-demo';
export const MOUNT_BLOCKED_ANNOTATION = 'sim.nksr.io/mount-blocked';
export const RPC_STATD_MOUNT_ERROR =
  'mount.nfs: rpc.statd is not running but is required for remote locking.';

export interface NfsLockFault {
  node: string;
  /** The pod a controller recreates, and the bare one. */
  controlledPod: string;
  barePod: string;
  replicaSet: string;
}

function podYaml(name: string, node: string, labels: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NFS_DEMO_NAMESPACE,
      labels,
      annotations: { [MOUNT_BLOCKED_ANNOTATION]: 'true' },
    },
    spec: podSpec(node),
  });
}

function podSpec(node: string) {
  return {
    nodeName: node,
    tolerations: [{ operator: 'Exists' }],
    containers: [
      {
        name: 'app',
        image: 'docker.io/library/busybox:1.36',
        volumeMounts: [{ name: 'nfs-data', mountPath: '/data' }],
      },
    ],
    volumes: [{ name: 'nfs-data', nfs: { server: '10.0.0.5', path: '/export/data' } }],
  };
}

function failedMountMessage(uid: string): string {
  return [
    'MountVolume.SetUp failed for volume "nfs-data" : mount failed: exit status 32',
    'Mounting command: mount',
    `Mounting arguments: -t nfs 10.0.0.5:/export/data /var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~nfs/nfs-data`,
    `Output: ${RPC_STATD_MOUNT_ERROR}`,
    "mount.nfs: Either use '-o nolock' to keep locks local, or start statd.",
    'mount.nfs: an incorrect mount option was specified',
  ].join('\n');
}

/** Stops rpc-statd on `node` and creates its stuck NFS pods and their FailedMount events. */
export async function nfsLockFault(opts: { dir?: string; node: string }): Promise<NfsLockFault> {
  const sim = loadSim(opts.dir);
  const node = opts.node;
  if (!sim.nodes.some((n) => n.name === node)) throw new Error(`no node ${node} in the simulator`);
  const units = nodePaths(sim.dir, node).units;
  if (!fs.existsSync(path.join(units, 'rpc-statd'))) throw new Error(`node ${node} has no SSH units`);
  fs.writeFileSync(path.join(units, 'rpc-statd'), 'inactive\n');

  const fault: NfsLockFault = {
    node,
    controlledPod: `nfs-client-${node}`,
    barePod: `nfs-bare-${node}`,
    replicaSet: `nfs-client-${node}`,
  };
  const appLabels = { app: 'nfs-client', 'sim.nksr.io/node': node };
  await ensureDemoNamespace(sim, NFS_DEMO_NAMESPACE);
  // The orphan first, then the ReplicaSet that adopts it (one replica: it creates none of its own).
  await sim.kubectl(['apply', '-f', '-'], { input: podYaml(fault.controlledPod, node, appLabels) });
  await sim.kubectl(['apply', '-f', '-'], {
    input: podYaml(fault.barePod, node, { app: 'nfs-bare', 'sim.nksr.io/node': node }),
  });
  await sim.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: fault.replicaSet, namespace: NFS_DEMO_NAMESPACE },
      spec: {
        replicas: 1,
        selector: { matchLabels: appLabels },
        template: { metadata: { labels: appLabels }, spec: podSpec(node) },
      },
    }),
  });
  for (const pod of [fault.controlledPod, fault.barePod]) {
    const uid = (
      await sim.kubectl(['get', 'pod', '-n', NFS_DEMO_NAMESPACE, pod, '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    const now = new Date().toISOString();
    await sim.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${pod}.failedmount`, namespace: NFS_DEMO_NAMESPACE },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: NFS_DEMO_NAMESPACE, name: pod, uid },
        reason: 'FailedMount',
        type: 'Warning',
        message: failedMountMessage(uid),
        source: { component: 'kubelet', host: node },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 3,
      }),
    });
  }
  return fault;
}

/** Removes the demo namespace (pods, ReplicaSets, events; waits until it is gone) and starts rpc-statd again on `node`. */
export async function clearNfsLockFault(opts: { dir?: string; node?: string }): Promise<void> {
  const sim = loadSim(opts.dir);
  await sim.kubectl(['delete', 'namespace', NFS_DEMO_NAMESPACE, '--ignore-not-found', '--timeout=90s']);
  if (opts.node) fs.writeFileSync(path.join(nodePaths(sim.dir, opts.node).units, 'rpc-statd'), 'active\n');
}

/**
 * Creates a fault's demo namespace if missing and waits for its default ServiceAccount (which the
 * controller-manager creates; pods are refused without it).
 */
export async function ensureDemoNamespace(sim: ReturnType<typeof loadSim>, namespace: string): Promise<void> {
  await sim.kubectl(['create', 'namespace', namespace]).catch((err: Error) => {
    if (!/AlreadyExists/.test(err.message)) throw err;
  });
  for (let i = 0; ; i++) {
    const sa = await sim
      .kubectl(['get', 'serviceaccount', 'default', '-n', namespace, '-o', 'name'])
      .catch(() => '');
    if (sa.trim()) break;
    if (i > 100) throw new Error(`namespace ${namespace} got no default ServiceAccount`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
