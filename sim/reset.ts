/**
 * Puts a simulator back as `up` left it, for suites that share one instance across many test files.
 *
 * `recordBaseline` (right after `up`) keeps what `resetToBaseline` compares with: a copy of every
 * node's root (files the nodes' OpenSSH sessions change), the objects of the cluster by kind and name,
 * the fixtures' specs and the nodes' metadata. `resetToBaseline` is check-then-act: it changes only
 * what differs, so a reset of an untouched simulator costs a few API reads.
 *
 * What is not reset: boot IDs and boot counts (a reboot is history, not state), the SSH server logs,
 * and events other than the fault hooks' ones (events of deleted namespaces go with them).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { KUBELET_STOPPED_HOLDER, setKubeletStopped } from './components';
import { BOOT_ID_ANNOTATION, FAULT_GENERATION_ANNOTATION, SIM_ROOT } from './config';
import { loadSim, type SimHandle } from './index';
import { getSshNodesStatus, setNodeFault } from './nodes';
import { simPaths } from './nodes/layout';
import { sleep } from './process';

const execFileAsync = promisify(execFile);

/** The fixture files `up` applies; their objects are compared by content, not only by name. */
const FIXTURE_FILES = [path.join(SIM_ROOT, 'fixtures', 'nks-kube-system.yaml')];

/** Kinds whose objects a reset deletes when a test created them in a namespace `up` made. */
const NAMESPACED_KINDS = [
  'pods',
  'deployments.apps',
  'daemonsets.apps',
  'statefulsets.apps',
  'replicasets.apps',
  'jobs.batch',
  'cronjobs.batch',
  'services',
  'secrets',
  'configmaps',
  'serviceaccounts',
  'roles.rbac.authorization.k8s.io',
  'rolebindings.rbac.authorization.k8s.io',
  'persistentvolumeclaims',
  'poddisruptionbudgets.policy',
  'leases.coordination.k8s.io',
  'networkpolicies.networking.k8s.io',
];
const CLUSTER_KINDS = [
  'namespaces',
  'clusterroles.rbac.authorization.k8s.io',
  'clusterrolebindings.rbac.authorization.k8s.io',
  'storageclasses.storage.k8s.io',
  'persistentvolumes',
  'priorityclasses.scheduling.k8s.io',
];
/** Namespaces whose objects the system owns (node leases, identity leases). */
const UNTRACKED_NAMESPACES = new Set(['kube-node-lease']);

/** Entries of a node root that a reset leaves alone: identity, history, and live mount points. */
const NODE_ROOT_KEEP = new Set([
  'mount-namespaces',
  'sshd.log',
  'boot-id',
  'ssh_host_ed25519_key',
  'ssh_host_ed25519_key.pub',
  'mitm_ssh_host_ed25519_key',
  'mitm_ssh_host_ed25519_key.pub',
  'sshd_config',
  'sshd_config.mitm',
  'tmp',
  path.join('state', 'boots.log'),
  path.join('state', 'reboot-request'),
  // The stand-ins' flock file: removing it under a running command would split its lock.
  path.join('state', '.lock'),
]);

interface Baseline {
  recordedAt: string;
  namespaces: string[];
  /** `kind/namespace/name` (namespace empty for cluster-scoped) of every tracked object. */
  objects: string[];
  /** Fingerprints of the fixtures' objects, keyed like `objects`. */
  fixtures: Record<string, string>;
  nodes: Record<
    string,
    { labels: Record<string, string>; annotations: Record<string, string>; taints: unknown[] }
  >;
}

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

const baselineDir = (dir: string) => path.join(dir, 'test-baseline');
const baselineFile = (dir: string) => path.join(baselineDir(dir), 'cluster.json');
const nodesBaselineDir = (dir: string) => path.join(baselineDir(dir), 'nodes');

/** Records the state `resetToBaseline` restores. Call once, right after `up` (it replaces an earlier one). */
export async function recordBaseline(dir: string): Promise<void> {
  const sim = loadSim(dir);
  fs.rmSync(baselineDir(dir), { recursive: true, force: true });
  fs.mkdirSync(nodesBaselineDir(dir), { recursive: true });
  // cp -a keeps owners and modes, which the nodes' sshd (StrictModes) and stand-ins depend on.
  const roots = simPaths(dir).root;
  // A simulator without SSH nodes has no node roots.
  for (const name of fs.existsSync(roots) ? fs.readdirSync(roots) : []) {
    if (!fs.statSync(path.join(roots, name)).isDirectory()) continue;
    await execFileAsync('cp', ['-a', path.join(roots, name), nodesBaselineDir(dir)]);
  }
  const objects = await listTracked(sim);
  const fixtures: Record<string, string> = {};
  for (const obj of fixtureObjects()) {
    const key = objectKey(obj);
    const live = objects.get(key);
    if (live) fixtures[key] = fingerprint(live);
  }
  const nodes: Baseline['nodes'] = {};
  for (const n of await listJson(sim, ['nodes'])) {
    nodes[n.metadata!.name!] = {
      labels: n.metadata?.labels ?? {},
      annotations: n.metadata?.annotations ?? {},
      taints: (n.spec?.taints as unknown[] | undefined) ?? [],
    };
  }
  const baseline: Baseline = {
    recordedAt: new Date().toISOString(),
    namespaces: [...objects.keys()].filter((k) => k.startsWith('namespaces//')).map((k) => k.split('/')[2]!),
    objects: [...objects.keys()],
    fixtures,
    nodes,
  };
  fs.writeFileSync(baselineFile(dir), JSON.stringify(baseline, null, 2));
}

export interface ResetReport {
  /** One line per thing that differed and was put back (empty: the simulator was as recorded). */
  restored: string[];
  seconds: number;
}

/**
 * Puts the simulator in `dir` back to its recorded baseline: image faults cleared, SSH faults lifted,
 * stopped kubelets started, namespaces and objects tests created deleted, changed fixtures re-created
 * (their pods back in their broken start state), nodes uncordoned, Ready, with their labels,
 * annotations and taints as recorded, and every node's files as recorded.
 */
export async function resetToBaseline(
  dir: string,
  opts: { log?: (line: string) => void; timeoutMs?: number } = {},
): Promise<ResetReport> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const restored: string[] = [];
  const note = (line: string) => {
    restored.push(line);
    opts.log?.(line);
  };
  const sim = loadSim(dir);
  if (!fs.existsSync(baselineFile(dir))) {
    throw new Error(`no baseline recorded in ${dir} (recordBaseline after up)`);
  }
  const baseline = JSON.parse(fs.readFileSync(baselineFile(dir), 'utf8')) as Baseline;

  const imageFaults = sim.state.faults.images.length;
  if (imageFaults > 0) {
    await sim.clearImageFaults();
    note(`image faults cleared: ${imageFaults}`);
  }
  await resetSshNodes(sim, note);
  await resetNodeRoots(dir, note);
  await resetKubelets(sim, note);
  await resetObjects(sim, baseline, note, timeoutMs);
  await resetNodes(sim, baseline, note, timeoutMs);
  await waitForFixturePods(sim, timeoutMs);
  return { restored, seconds: Math.round((Date.now() - t0) / 100) / 10 };
}

async function resetSshNodes(sim: SimHandle, note: (line: string) => void): Promise<void> {
  if (!sim.state.ssh) return;
  const faulted = new Set(['sshd-stopped', 'sshd-hung', 'host-key-replaced']);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await getSshNodesStatus({ dir: sim.dir });
    for (const n of status.filter((s) => faulted.has(s.state))) {
      await setNodeFault({ dir: sim.dir, node: n.name, fault: 'none' });
      note(`${n.name}: SSH fault ${n.state} lifted`);
    }
    // A node a test rebooted comes back by itself; the reset waits for it rather than racing it.
    const notUp = status.filter((s) => !faulted.has(s.state) && s.state !== 'up');
    if (notUp.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`nodes not back up: ${notUp.map((n) => `${n.name} (${n.state})`).join(', ')}`);
    }
    await sleep(250);
  }
}

/** Makes every node's root equal to its recorded copy, writing files in place (sshd and bind mounts hold them). */
async function resetNodeRoots(dir: string, note: (line: string) => void): Promise<void> {
  const roots = simPaths(dir).root;
  for (const node of fs.readdirSync(nodesBaselineDir(dir))) {
    const changed = syncTree(path.join(nodesBaselineDir(dir), node), path.join(roots, node), '');
    if (changed.length)
      note(`${node}: files restored (${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', ...' : ''})`);
  }
}

function syncTree(from: string, to: string, rel: string): string[] {
  const changed: string[] = [];
  const want = new Set(fs.readdirSync(from));
  for (const name of fs.readdirSync(to)) {
    const r = path.join(rel, name);
    if (NODE_ROOT_KEEP.has(r) || want.has(name)) continue;
    try {
      fs.rmSync(path.join(to, name), { recursive: true, force: true });
    } catch {
      // A mount point cannot be removed; its contents are gone, which is what matters.
    }
    changed.push(r);
  }
  for (const name of want) {
    const r = path.join(rel, name);
    if (NODE_ROOT_KEEP.has(r)) continue;
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const st = fs.lstatSync(src);
    const cur = fs.existsSync(dst) ? fs.lstatSync(dst) : undefined;
    if (st.isDirectory()) {
      if (cur && !cur.isDirectory()) fs.rmSync(dst, { force: true });
      if (!cur || !cur.isDirectory()) {
        fs.mkdirSync(dst);
        changed.push(r);
      }
      changed.push(...syncTree(src, dst, r));
    } else if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(src);
      if (cur?.isSymbolicLink() && fs.readlinkSync(dst) === target) continue;
      fs.rmSync(dst, { recursive: true, force: true });
      fs.symlinkSync(target, dst);
      changed.push(r);
      continue;
    } else {
      const data = fs.readFileSync(src);
      if (cur && !cur.isFile()) fs.rmSync(dst, { recursive: true, force: true });
      const same = cur?.isFile() && fs.readFileSync(dst).equals(data);
      if (!same) {
        fs.writeFileSync(dst, data);
        changed.push(r);
      }
    }
    const now = fs.lstatSync(dst);
    if ((now.mode & 0o7777) !== (st.mode & 0o7777)) fs.chmodSync(dst, st.mode & 0o7777);
    if (now.uid !== st.uid || now.gid !== st.gid) fs.chownSync(dst, st.uid, st.gid);
  }
  return changed;
}

async function resetKubelets(sim: SimHandle, note: (line: string) => void): Promise<void> {
  const leases = await listJson(sim, ['leases.coordination.k8s.io', '-n', 'kube-node-lease']);
  for (const l of leases) {
    if ((l.spec as { holderIdentity?: string } | undefined)?.holderIdentity !== KUBELET_STOPPED_HOLDER)
      continue;
    await setKubeletStopped(sim.dir, l.metadata!.name!, false);
    note(`${l.metadata!.name!}: kubelet started`);
  }
}

async function resetObjects(
  sim: SimHandle,
  baseline: Baseline,
  note: (line: string) => void,
  timeoutMs: number,
): Promise<void> {
  const known = new Set(baseline.objects);
  const live = await listTracked(sim);
  const extraNamespaces = [...live.keys()]
    .filter((k) => k.startsWith('namespaces//') && !known.has(k))
    .map((k) => k.split('/')[2]!);
  if (extraNamespaces.length) {
    await sim.kubectl(['delete', 'namespace', ...extraNamespaces, '--ignore-not-found', '--wait=false']);
    note(`namespaces deleted: ${extraNamespaces.join(', ')}`);
  }
  const extra = [...live.entries()].filter(
    ([k, obj]) =>
      !known.has(k) &&
      !k.startsWith('namespaces/') &&
      !extraNamespaces.includes(obj.metadata?.namespace ?? '') &&
      !obj.metadata?.deletionTimestamp &&
      !isSystemOwned(obj),
  );
  for (const [key] of extra) {
    const [kind, ns, name] = key.split('/') as [string, string, string];
    await sim.kubectl([
      'delete',
      kind,
      name,
      ...(ns ? ['-n', ns] : []),
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
  if (extra.length) note(`objects deleted: ${extra.map(([k]) => k).join(', ')}`);

  // A fixture that differs is deleted and created again from its manifest: a re-apply would keep
  // fields another manager added, and a rollout back to a broken image stalls after one pod.
  const changed = fixtureObjects().filter((obj) => {
    const key = objectKey(obj);
    const cur = live.get(key);
    return !cur || !!cur.metadata?.deletionTimestamp || fingerprint(cur) !== baseline.fixtures[key];
  });
  // A PersistentVolume keeps the UID of the claim it was bound to: it is re-created with its claim.
  const withVolumes = changed.flatMap((obj) => {
    if (obj.kind !== 'PersistentVolumeClaim') return [obj];
    const pv = fixtureObjects().find(
      (o) =>
        o.kind === 'PersistentVolume' &&
        (o.spec?.claimRef as { name?: string } | undefined)?.name === obj.metadata?.name,
    );
    return pv && !changed.includes(pv) ? [obj, pv] : [obj];
  });
  if (withVolumes.length) {
    const input = withVolumes.map((o) => YAML.stringify(o)).join('---\n');
    const pvcs = withVolumes.filter(
      (o) => o.kind === 'PersistentVolumeClaim' || o.kind === 'PersistentVolume',
    );
    // Claims and volumes carry the kubernetes.io/pv-protection finalizers while bound or in use.
    for (const o of pvcs) {
      await sim
        .kubectl(
          [
            'patch',
            o.kind === 'PersistentVolume' ? 'pv' : 'pvc',
            o.metadata!.name!,
            ...(o.metadata?.namespace ? ['-n', o.metadata.namespace] : []),
            '--type=merge',
            '-p',
            '{"metadata":{"finalizers":null}}',
          ],
          { what: 'dropping volume finalizers' },
        )
        .catch(() => undefined);
    }
    await sim.kubectl(
      [
        'delete',
        '-f',
        '-',
        '--ignore-not-found',
        '--cascade=foreground',
        `--timeout=${Math.round(timeoutMs / 1000)}s`,
      ],
      {
        input,
        what: 'deleting changed fixtures',
        timeoutMs,
      },
    );
    await sim.kubectl(['create', '-f', '-'], { input, what: 'creating fixtures' });
    // Fields the API server defaults on create (a Service's cluster IP) are new: the baseline follows.
    const now = await listTracked(sim);
    for (const o of withVolumes) {
      const cur = now.get(objectKey(o));
      if (cur) baseline.fixtures[objectKey(o)] = fingerprint(cur);
    }
    fs.writeFileSync(baselineFile(sim.dir), JSON.stringify(baseline, null, 2));
    note(`fixtures re-created: ${withVolumes.map(objectKey).join(', ')}`);
  }
  // Events the fault hooks created in namespaces that stay.
  const events = await listJson(sim, ['events', '-A', '--field-selector', 'reason=FailedMount']);
  const stale = events.filter((e) => !extraNamespaces.includes(e.metadata?.namespace ?? ''));
  for (const e of stale) {
    await sim.kubectl([
      'delete',
      'event',
      e.metadata!.name!,
      '-n',
      e.metadata!.namespace!,
      '--ignore-not-found',
    ]);
  }
  if (stale.length) note(`FailedMount events deleted: ${stale.length}`);

  if (extraNamespaces.length) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = (await listJson(sim, ['namespaces'])).filter((n) =>
        extraNamespaces.includes(n.metadata!.name!),
      );
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`namespaces still terminating: ${left.map((n) => n.metadata!.name).join(', ')}`);
      }
      await sleep(250);
    }
  }
}

async function resetNodes(
  sim: SimHandle,
  baseline: Baseline,
  note: (line: string) => void,
  timeoutMs: number,
): Promise<void> {
  const core = sim.core();
  for (const n of await listJson(sim, ['nodes'])) {
    const name = n.metadata!.name!;
    const want = baseline.nodes[name];
    if (!want) continue;
    const patch: Record<string, unknown> = {};
    const meta: Record<string, unknown> = {};
    const labels = diffMap(n.metadata?.labels ?? {}, want.labels);
    const annotations = diffMap(n.metadata?.annotations ?? {}, want.annotations);
    if (labels) meta.labels = labels;
    if (annotations) meta.annotations = annotations;
    if (Object.keys(meta).length) patch.metadata = meta;
    const spec: Record<string, unknown> = {};
    if (n.spec?.unschedulable) spec.unschedulable = null;
    const taints = ((n.spec?.taints as { key: string }[] | undefined) ?? []).filter(
      (t) => !t.key.startsWith('node.kubernetes.io/'),
    );
    const wantTaints = (want.taints as { key: string }[]).filter(
      (t) => !t.key.startsWith('node.kubernetes.io/'),
    );
    if (JSON.stringify(taints) !== JSON.stringify(wantTaints)) {
      const system = ((n.spec?.taints as { key: string }[] | undefined) ?? []).filter((t) =>
        t.key.startsWith('node.kubernetes.io/'),
      );
      spec.taints = [...wantTaints, ...system];
    }
    if (Object.keys(spec).length) patch.spec = spec;
    if (Object.keys(patch).length === 0) continue;
    await sim.kubectl(['patch', 'node', name, '--type=merge', '-p', JSON.stringify(patch)], {
      what: `restoring node ${name}`,
    });
    note(`${name}: ${Object.keys(meta).concat(Object.keys(spec)).join(', ')} restored`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await core.listNode()).items.filter((n) => baseline.nodes[n.metadata?.name ?? '']);
    const notReady = nodes.filter(
      (n) =>
        !n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ||
        (n.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/')),
    );
    if (notReady.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`nodes not Ready after reset: ${notReady.map((n) => n.metadata?.name).join(', ')}`);
    }
    await sleep(250);
  }
}

/** Node annotations kwok and the simulator maintain (boot ID, fault generation, system keys). */
function managedKey(key: string): boolean {
  return (
    key === BOOT_ID_ANNOTATION ||
    key === FAULT_GENERATION_ANNOTATION ||
    (/(^|\.)kubernetes\.io\//.test(key) && !key.startsWith('app.kubernetes.io/'))
  );
}

/** A merge patch turning `cur` into `want` (keys the system manages left alone), or undefined. */
function diffMap(
  cur: Record<string, string>,
  want: Record<string, string>,
): Record<string, string | null> | undefined {
  const out: Record<string, string | null> = {};
  for (const k of Object.keys(cur)) if (!(k in want) && !managedKey(k)) out[k] = null;
  for (const [k, v] of Object.entries(want)) if (cur[k] !== v && !managedKey(k)) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

/** Waits until every fixture workload has its pods again, each scheduled (broken ones stay unready). */
async function waitForFixturePods(sim: SimHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const workloads = fixtureObjects().filter((o) =>
    ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind!),
  );
  for (;;) {
    const missing: string[] = [];
    for (const w of workloads) {
      const ns = w.metadata!.namespace!;
      const cur = (await listJson(sim, [w.kind!.toLowerCase() + 's.apps', w.metadata!.name!, '-n', ns]))[0];
      const status = (cur?.status ?? {}) as Record<string, number | undefined>;
      const desired =
        w.kind === 'DaemonSet' ? (status.desiredNumberScheduled ?? -1) : Number(cur?.spec?.replicas ?? 1);
      const have =
        w.kind === 'DaemonSet'
          ? (status.updatedNumberScheduled ?? 0)
          : w.kind === 'Deployment'
            ? (status.updatedReplicas ?? 0)
            : (status.currentReplicas ?? 0);
      const total = w.kind === 'DaemonSet' ? (status.currentNumberScheduled ?? 0) : (status.replicas ?? 0);
      if (desired < 0 || have !== desired || total !== desired)
        missing.push(`${ns}/${w.metadata!.name} ${have}/${desired}`);
    }
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`fixture workloads not back: ${missing.join(', ')}`);
    await sleep(500);
  }
}

function isSystemOwned(obj: KubeObject): boolean {
  const name = obj.metadata?.name ?? '';
  // ReplicaSets and the like belong to their owners; API server identity leases come and go with restarts.
  if (obj.metadata?.ownerReferences?.length) return true;
  if (
    obj.kind === 'Lease' &&
    (name.startsWith('apiserver-') || obj.metadata?.labels?.['apiserver.kubernetes.io/identity'])
  )
    return true;
  if (obj.kind === 'ConfigMap' && name === 'kube-root-ca.crt') return true;
  if (obj.kind === 'ServiceAccount' && name === 'default') return true;
  return name.startsWith('system:');
}

let fixtureCache: KubeObject[] | undefined;
function fixtureObjects(): KubeObject[] {
  fixtureCache ??= FIXTURE_FILES.flatMap((f) =>
    YAML.parseAllDocuments(fs.readFileSync(f, 'utf8'))
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => !!o?.kind),
  );
  return fixtureCache;
}

const KIND_RESOURCES: Record<string, string> = {
  Pod: 'pods',
  Deployment: 'deployments.apps',
  DaemonSet: 'daemonsets.apps',
  StatefulSet: 'statefulsets.apps',
  ReplicaSet: 'replicasets.apps',
  Job: 'jobs.batch',
  CronJob: 'cronjobs.batch',
  Service: 'services',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  ServiceAccount: 'serviceaccounts',
  Role: 'roles.rbac.authorization.k8s.io',
  RoleBinding: 'rolebindings.rbac.authorization.k8s.io',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  PodDisruptionBudget: 'poddisruptionbudgets.policy',
  Lease: 'leases.coordination.k8s.io',
  NetworkPolicy: 'networkpolicies.networking.k8s.io',
  Namespace: 'namespaces',
  ClusterRole: 'clusterroles.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebindings.rbac.authorization.k8s.io',
  StorageClass: 'storageclasses.storage.k8s.io',
  PersistentVolume: 'persistentvolumes',
  PriorityClass: 'priorityclasses.scheduling.k8s.io',
};

function objectKey(obj: KubeObject): string {
  const resource = KIND_RESOURCES[obj.kind ?? ''];
  if (!resource) throw new Error(`kind ${obj.kind} is not tracked by the reset`);
  return `${resource}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** What of an object a test may change and a reset must put back (defaults and status excluded). */
function fingerprint(obj: KubeObject): string {
  const meta = obj.metadata ?? {};
  const keep = (m: Record<string, string> | undefined) =>
    Object.fromEntries(
      Object.entries(m ?? {})
        .filter(([k]) => !managedKey(k) && k !== 'deprecated.daemonset.template.generation')
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  const spec = { ...(obj.spec ?? {}) };
  if (obj.kind === 'PersistentVolumeClaim') delete spec.volumeName;
  if (obj.kind === 'PersistentVolume') delete spec.claimRef;
  if (obj.kind === 'Service') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  return stableJson({
    labels: keep(meta.labels),
    annotations: keep(meta.annotations),
    spec,
    data: obj.data,
    stringData: obj.stringData,
    type: obj.type,
    parameters: obj.parameters,
    provisioner: obj.provisioner,
    allowVolumeExpansion: obj.allowVolumeExpansion,
  });
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : val,
  );
}

async function listJson(sim: SimHandle, args: string[]): Promise<KubeObject[]> {
  const out = await sim.kubectl(['get', ...args, '-o', 'json', '--ignore-not-found'], {
    what: `listing ${args[0]}`,
  });
  if (!out.trim()) return [];
  const parsed = JSON.parse(out) as { items?: KubeObject[] } & KubeObject;
  return parsed.items ?? [parsed];
}

/** Every tracked object, by `resource/namespace/name`, with its kind set (lists omit it per item). */
async function listTracked(sim: SimHandle): Promise<Map<string, KubeObject>> {
  const out = new Map<string, KubeObject>();
  const add = (items: KubeObject[]) => {
    for (const o of items) {
      if (UNTRACKED_NAMESPACES.has(o.metadata?.namespace ?? '')) continue;
      out.set(objectKey(o), o);
    }
  };
  add(await listJson(sim, [NAMESPACED_KINDS.join(','), '-A']));
  add(await listJson(sim, [CLUSTER_KINDS.join(',')]));
  return out;
}
