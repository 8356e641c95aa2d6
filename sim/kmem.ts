/**
 * The kmem accounting bug (docs/procedures.md §5): on 3.x/4.x kernels with kernel memory accounting, the
 * memory cgroup of a new pod cannot be created and kubelet reports
 *   FailedCreatePodContainer: unable to ensure pod container exists: failed to create container for
 *   [kubepods burstable pod<uid>] : mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod<uid>: cannot
 *   allocate memory
 *
 * `kmemOomFault({ dir, node })` builds that state: in namespace `kmem-demo` a pod `kmem-oom-<node>` on
 * the node, adopted by ReplicaSet `kmem-oom-<node>` (so a drain's eviction has it recreated elsewhere),
 * annotated `sim.nksr.io/mount-blocked: "true"` (no kwok stage starts it: it stays Pending, as a pod
 * whose cgroup cannot be made does), and its FailedCreatePodContainer event in kubelet's words
 * (source.host = the node). The ReplicaSet's template carries no annotation: its replacements run.
 *
 * Limits: nothing on the node itself changes (the simulated kernel has no kmem accounting); the
 * event is what procedures (and diagnosis) key on.
 *
 * `grubFault({ dir, node, fault })` breaks what the reboot's grub steps need on an SSH node, as it
 * can be broken on a real one; `fault: 'none'` puts everything back (see GrubFault).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadSim } from './index';
import { MOUNT_BLOCKED_ANNOTATION, ensureDemoNamespace } from './nfs';
import { nodePaths } from './nodes/layout';

export const KMEM_DEMO_NAMESPACE = 'kmem-demo';
export const KMEM_OOM_EVENT_REASON = 'FailedCreatePodContainer';

export interface KmemOomFault {
  node: string;
  pod: string;
  replicaSet: string;
}

export function kmemOomMessage(uid: string): string {
  const cg = `kubepods burstable pod${uid}`;
  return `unable to ensure pod container exists: failed to create container for [${cg}] : mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod${uid}: cannot allocate memory`;
}

/**
 * The orphan is pinned to its node and tolerates everything (it stays there whatever the node's
 * taints). The ReplicaSet's replacements tolerate nothing, as an ordinary workload: a cordoned node's
 * unschedulable taint keeps them off it, so a drain's evictions end (with a blanket toleration they
 * were scheduled back onto the node being drained and evicted again until the drain timed out).
 */
function podSpec(node?: string) {
  const containers = [{ name: 'app', image: 'docker.io/library/busybox:1.36' }];
  return node ? { nodeName: node, tolerations: [{ operator: 'Exists' }], containers } : { containers };
}

/** Puts a pod on `node` that failed with FailedCreatePodContainer "cannot allocate memory". */
export async function kmemOomFault(opts: { dir?: string; node: string }): Promise<KmemOomFault> {
  const sim = loadSim(opts.dir);
  const node = opts.node;
  if (!sim.nodes.some((n) => n.name === node)) throw new Error(`no node ${node} in the simulator`);
  const fault: KmemOomFault = { node, pod: `kmem-oom-${node}`, replicaSet: `kmem-oom-${node}` };
  const labels = { app: 'kmem-oom', 'sim.nksr.io/node': node };
  await ensureDemoNamespace(sim, KMEM_DEMO_NAMESPACE);
  // The orphan first, then the ReplicaSet that adopts it (one replica: it creates none of its own).
  await sim.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: fault.pod,
        namespace: KMEM_DEMO_NAMESPACE,
        labels,
        annotations: { [MOUNT_BLOCKED_ANNOTATION]: 'true' },
      },
      spec: podSpec(node),
    }),
  });
  await sim.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: fault.replicaSet, namespace: KMEM_DEMO_NAMESPACE },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: podSpec() },
      },
    }),
  });
  const uid = (
    await sim.kubectl(['get', 'pod', '-n', KMEM_DEMO_NAMESPACE, fault.pod, '-o', 'jsonpath={.metadata.uid}'])
  ).trim();
  const now = new Date().toISOString();
  await sim.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${fault.pod}.failedcreatepodcontainer`, namespace: KMEM_DEMO_NAMESPACE },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: KMEM_DEMO_NAMESPACE, name: fault.pod, uid },
      reason: KMEM_OOM_EVENT_REASON,
      type: 'Warning',
      message: kmemOomMessage(uid),
      source: { component: 'kubelet', host: node },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 5,
    }),
  });
  return fault;
}

/** Removes the demo namespace (pods, ReplicaSets, events; waits until it is gone). */
export async function clearKmemOomFault(opts: { dir?: string }): Promise<void> {
  const sim = loadSim(opts.dir);
  await sim.kubectl(['delete', 'namespace', KMEM_DEMO_NAMESPACE, '--ignore-not-found', '--timeout=90s']);
}

/**
 * What can be wrong with a node's boot configuration:
 * - mkconfig-missing: no grub2-mkconfig on the node (its stand-in removed: "command not found").
 * - boot-full: /boot has 4 KiB left (the df and grub2-mkconfig stand-ins read
 *   state/boot-avail-kb): grub2-mkconfig -o /boot/... fails with "No space left on device".
 * - grub-defaults-unreadable: a directory where /etc/default/grub should be (every read fails, even
 *   root's).
 * - grub-defaults-unparseable: /etc/default/grub ends in an unterminated quote (sourcing it fails).
 * - none: all of the above undone (the file as it was before the first fault).
 */
export const GRUB_FAULTS = [
  'none',
  'mkconfig-missing',
  'boot-full',
  'grub-defaults-unreadable',
  'grub-defaults-unparseable',
] as const;
export type GrubFault = (typeof GRUB_FAULTS)[number];

const STANDINS_DIR = path.join(__dirname, 'nodes', 'standins');
/** Where grub-defaults-* keep the node's own file while it is broken. */
const SAVED_GRUB = '.grub.nksr-saved';

/** Puts `fault` on the node's boot configuration (files under its node dir; in effect at once). */
export async function grubFault(opts: { dir?: string; node: string; fault: GrubFault }): Promise<void> {
  const sim = loadSim(opts.dir);
  if (!GRUB_FAULTS.includes(opts.fault)) {
    throw new Error(`no grub fault ${JSON.stringify(opts.fault)} (faults: ${GRUB_FAULTS.join(', ')})`);
  }
  if (!sim.state.ssh?.nodes.includes(opts.node)) throw new Error(`no SSH node ${opts.node} in the simulator`);
  const p = nodePaths(sim.dir, opts.node);
  const mkconfig = path.join(p.bin, 'grub2-mkconfig');
  const avail = path.join(p.state, 'boot-avail-kb');
  const grub = path.join(p.etcDefault, 'grub');
  const saved = path.join(p.etcDefault, SAVED_GRUB);
  const saveGrub = () => {
    if (!fs.existsSync(saved)) fs.renameSync(grub, saved);
    else fs.rmSync(grub, { recursive: true, force: true });
  };
  switch (opts.fault) {
    case 'none':
      if (!fs.existsSync(mkconfig)) {
        fs.copyFileSync(path.join(STANDINS_DIR, 'grub2-mkconfig'), mkconfig);
        fs.chmodSync(mkconfig, 0o755);
      }
      fs.rmSync(avail, { force: true });
      if (fs.existsSync(saved)) {
        fs.rmSync(grub, { recursive: true, force: true });
        fs.renameSync(saved, grub);
      }
      return;
    case 'mkconfig-missing':
      fs.rmSync(mkconfig, { force: true });
      return;
    case 'boot-full':
      fs.writeFileSync(avail, '4\n', { mode: 0o644 });
      return;
    case 'grub-defaults-unreadable':
      saveGrub();
      fs.mkdirSync(grub, { mode: 0o755 });
      return;
    case 'grub-defaults-unparseable': {
      saveGrub();
      const content = fs.readFileSync(saved, 'utf8');
      fs.writeFileSync(grub, `${content}GRUB_TERMINAL_OUTPUT="console\n`, { mode: 0o644 });
      return;
    }
  }
}
