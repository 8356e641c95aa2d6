/**
 * The NKS cluster simulator's control plane, as a programmatic API (the CLI in sim/cli.ts and the
 * test helpers in sim/testing.ts are thin layers over it). See sim/README.md.
 *
 * `simUp` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free
 * loopback ports, creates N kwok-managed worker nodes shaped like NKS's, applies the NKS kube-system
 * fixtures and waits until the cluster is usable. Everything it starts is recorded in
 * <dir>/state.json so `simDown` can stop exactly that, and nothing else.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { type CoreV1Api, PatchStrategy, type V1Node, setHeaderOptions } from '@kubernetes/client-node';
import { RegistryFileSchema, type RegistryFile } from '../src/common/registry-schema';
import { generateApproverKey, publicKeyText } from '../src/client/approver-key';
import {
  CLUSTER_NAME,
  CONTAINER_RUNTIMES,
  CONTEXT_NAME,
  type ContainerRuntime,
  FAULT_GENERATION_ANNOTATION,
  KUBERNETES_VERSION,
  KWOK_NODE_ANNOTATION,
  KWOK_NODE_ANNOTATION_VALUE,
  KWOK_VERSION,
  NODES_PER_SUBNET,
  NOT_READY_ANNOTATION,
  SIM_ROOT,
  defaultIpPrefix,
  defaultSimDir,
  nodeIp,
  nodeName,
} from './config';
import { applyManifest, apiserverGet, coreApi, kubectlFor, writeKubeconfig, type Kubectl } from './kube';
import { startSshNodes, stopSshNodes, type SshNodesInfo } from './nodes';
import { createPki, pkiPaths } from './pki';
import {
  SimError,
  describeExit,
  type StartedProcess,
  findStragglers,
  freePorts,
  isRunning,
  run,
  sleep,
  startDetached,
  stopAll,
  tail,
  waitFor,
} from './process';
import { auditPolicyPath, componentCommand } from './components';

export { auditLogPath } from './components';
import { renderStages, SANDBOX_STAGE_LABEL, validateImageFault } from './stages';
import { type SandboxFailure, sandboxFailures } from './nodes/sandbox';
import { type ImageFault, type SimState, readState, writeState } from './state';

export { SimError } from './process';
export type { ImageFault, SimState } from './state';
export type { SandboxFailure } from './nodes/sandbox';
export {
  BOOT_ID_ANNOTATION,
  NOT_READY_ANNOTATION,
  BROKEN_CALICO_REPOSITORY,
  nodeName,
  nodeIp,
} from './config';

/** Written first into a state dir, so `up` only ever wipes a directory that is ours. */
const MARKER = '.nksr-sim';
/** kwok-played nodes; the addresses of more than 254 spill into the next /24s. */
export const MAX_NODES = 5000;
/** Nodes with an SSH server: each is an sshd in its own mount namespace, under one supervisor. */
export const MAX_SSH_NODES = 254;
const NODE_CREATE_CONCURRENCY = 20;
/** Time for kwok's informer to see re-applied Stage objects before pods are looked at again. */
const STAGE_SETTLE_MS = 1000;

export interface SimUpOptions {
  /** State dir (default: $NKSR_SIM_DIR or <repo>/.sim). */
  dir?: string;
  /** First three octets of the nodes' loopback addresses (default: $NKSR_SIM_IP_PREFIX or 127.0.1). */
  ipPrefix?: string;
  nodes: number;
  /** How many of the nodes (the first ones) get an SSH server; default all. */
  sshNodes?: number;
  /** Container runtime reported by every node (default containerd) ... */
  runtime?: ContainerRuntime;
  /** ... except these, by node index. */
  nodeRuntimes?: Record<number, ContainerRuntime>;
  /** Passed to the SSH-node part (sim/nodes); it defines the keys. */
  drift?: Record<string, unknown>;
  /** Latency each way on every SSH connection to a node, in ms (a userspace proxy; default 0). */
  sshDelayMs?: number;
  /** Image faults active from the start (in addition to the built-in NKS ones). */
  imageFaults?: ImageFault[];
  /** Apply the NKS kube-system fixtures (default true). */
  fixtures?: boolean;
  /** Progress lines; default: none. */
  log?: (line: string) => void;
  /** Overall limit for the waits (default 180 s). */
  timeoutMs?: number;
}

export interface SimStatus {
  dir: string;
  /** running: every process alive and the API server ready; stopped: nothing alive; degraded: in between. */
  state: 'running' | 'stopped' | 'degraded' | 'absent';
  processes: { name: string; pid: number; alive: boolean; log: string }[];
  apiserver?: { url: string; ready: boolean };
  nodes?: { total: number; ready: number; notReady: string[] };
  kubeconfigPath?: string;
  clustersPath?: string;
  imageFaults?: ImageFault[];
  /** Nodes that got an SSH server from sim/nodes (their processes are reported by sim/nodes). */
  ssh?: { user: string; nodes: string[] };
  upSeconds?: number;
}

function resolveDir(dir?: string): string {
  return path.resolve(dir ?? defaultSimDir());
}

function validateIpPrefix(prefix: string): string {
  const m = /^127\.(\d{1,3})\.(\d{1,3})$/.exec(prefix);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new SimError(
      `--ip-prefix must be three octets of a loopback address, like 127.0.1 (got ${JSON.stringify(prefix)})`,
    );
  }
  return prefix;
}

/** Runs the build script (a no-op once built) and returns the directory of the binaries. */
export async function resolveBinaries(log?: (line: string) => void): Promise<string> {
  const script = path.join(SIM_ROOT, 'build', 'build-binaries.sh');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderrTail = (stderrTail + text).slice(-2000);
      for (const line of text.split('\n')) if (line.startsWith('[sim-build')) log?.(line);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else {
        const last = stderrTail.trim().split('\n').slice(-3).join(' | ');
        reject(new SimError(`building the simulator binaries failed (exit ${code}): ${last}`));
      }
    });
  });
  const binDir = out.trim().split('\n').pop() ?? '';
  if (!binDir || !fs.existsSync(path.join(binDir, 'kube-apiserver'))) {
    throw new SimError(`the build script printed no usable bin dir (${JSON.stringify(binDir)})`);
  }
  return binDir;
}

/** kwok's Stage CRD, taken from the kwok module source (never committed here). */
async function stageCrdPath(binDir: string): Promise<string> {
  const name = 'kwok.x-k8s.io_stages.yaml';
  // The cheap places first: `go env` costs a Go start-up on every `up`.
  for (const c of [process.env.NKSR_KWOK_STAGE_CRD, path.join(binDir, '..', 'crd', name)])
    if (c && fs.existsSync(c)) return c;
  let modCache = process.env.GOMODCACHE;
  if (!modCache) {
    try {
      modCache = (await run('go', ['env', 'GOMODCACHE'], { what: 'go env' })).trim();
    } catch {
      modCache = path.join(process.env.HOME ?? '/root', 'go', 'pkg', 'mod');
    }
  }
  const inModule = path.join(
    modCache,
    'sigs.k8s.io',
    `kwok@${KWOK_VERSION}`,
    'kustomize',
    'crd',
    'bases',
    name,
  );
  if (fs.existsSync(inModule)) return inModule;
  try {
    await run('go', ['mod', 'download', `sigs.k8s.io/kwok@${KWOK_VERSION}`], {
      what: 'go mod download kwok',
    });
  } catch {
    /* reported below */
  }
  if (fs.existsSync(inModule)) return inModule;
  throw new SimError(
    `kwok's Stage CRD (${name}) was not found; set NKSR_KWOK_STAGE_CRD to it (it is in the kwok ${KWOK_VERSION} module source)`,
  );
}

function nodeObject(opts: { name: string; ip: string; runtime: string }): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: opts.name,
      annotations: {
        [KWOK_NODE_ANNOTATION]: KWOK_NODE_ANNOTATION_VALUE,
        'node.alpha.kubernetes.io/ttl': '0',
      },
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': opts.name,
        'node.kubernetes.io/instance-type': 'm2.c4m8',
        'topology.kubernetes.io/region': 'KR1',
        'topology.kubernetes.io/zone': 'kr-pub-a',
        'magnum.openstack.org/nodegroup': 'default-worker',
        'magnum.openstack.org/role': 'worker',
      },
    },
    spec: { providerID: `openstack:///${randomUUID()}` },
    status: {
      addresses: [
        { type: 'InternalIP', address: opts.ip },
        { type: 'Hostname', address: opts.name },
      ],
      capacity: { cpu: '4', memory: '8009436Ki', pods: '110', 'ephemeral-storage': '20959212Ki' },
      allocatable: { cpu: '4', memory: '7907036Ki', pods: '110', 'ephemeral-storage': '19316009748' },
      nodeInfo: {
        architecture: 'amd64',
        bootID: randomUUID(),
        machineID: randomUUID().replace(/-/g, ''),
        systemUUID: randomUUID().toUpperCase(),
        containerRuntimeVersion: opts.runtime,
        kernelVersion: '3.10.0-1160.el7.x86_64',
        kubeletVersion: KUBERNETES_VERSION,
        kubeProxyVersion: KUBERNETES_VERSION,
        operatingSystem: 'linux',
        osImage: 'CentOS Linux 7 (Core)',
      },
    },
  };
}

function isNodeReady(n: V1Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A running (or once-running) simulator instance, found through its state dir. */
/** The approver the simulator's clusters.yaml lists; its key is approverKeyPath(dir). */
export const SIM_APPROVER = 'sim-operator';

/** The simulator's approver key (nksr approve --key, or NKSR_APPROVER_KEY). */
export function approverKeyPath(dir: string): string {
  return path.join(dir, 'approver.key');
}

/** Made on the first `up`, kept by later ones (an operator's key file stays valid). */
function simApproverPublicKey(dir: string): string {
  const file = approverKeyPath(dir);
  return fs.existsSync(file) ? publicKeyText(fs.readFileSync(file, 'utf8')) : generateApproverKey(file);
}

export class SimHandle {
  readonly dir: string;
  /** True when simUp found the instance already running and started nothing. */
  alreadyRunning = false;
  /** Seconds per phase of the `up` that made this handle (empty when it was already running). */
  timings: Record<string, number> = {};

  constructor(dir: string) {
    this.dir = dir;
  }

  get state(): SimState {
    const s = readState(this.dir);
    if (!s) throw new SimError(`no simulator state in ${this.dir} (run \`npm run sim -- up\` first)`);
    return s;
  }

  /** The state of an instance that is up; a clear error otherwise (for the fault hooks). */
  private get running(): SimState {
    const s = this.state;
    const apiserver = s.processes.find((p) => p.name === 'kube-apiserver');
    if (!s.readyAt || !apiserver || !isRunning(apiserver)) {
      throw new SimError(`the simulator in ${this.dir} is not running (npm run sim -- up)`);
    }
    return s;
  }

  get kubeconfigPath(): string {
    return this.state.kubeconfigPath;
  }

  get clustersPath(): string {
    return this.state.clustersPath;
  }

  get nodes(): SimState['nodes'] {
    return this.state.nodes;
  }

  get kubectlPath(): string {
    return path.join(this.state.binDir, 'kubectl');
  }

  core(): CoreV1Api {
    return coreApi(this.kubeconfigPath);
  }

  kubectl(args: string[], opts?: Parameters<Kubectl>[1]): Promise<string> {
    return kubectlFor(this.state.binDir, this.kubeconfigPath)(args, opts);
  }

  status(): Promise<SimStatus> {
    return simStatus({ dir: this.dir });
  }

  down(): Promise<void> {
    return simDown({ dir: this.dir });
  }

  /**
   * From now on, pods (not yet running) with an image matching `pattern` (RE2, unanchored), on `node`
   * or on any node, get ErrImagePull then ImagePullBackOff. Idempotent: the same rule twice is one rule.
   */
  async failImage(fault: ImageFault): Promise<void> {
    validateImageFault(fault);
    const state = this.running;
    const same = (f: ImageFault) => f.pattern === fault.pattern && f.node === fault.node;
    const images = [...state.faults.images.filter((f) => !same(f)), fault];
    await this.updateImageFaults(state, images);
  }

  /** Removes every image fault added at run time (the built-in NKS ones stay); pods in back-off recover. */
  async clearImageFaults(): Promise<void> {
    await this.updateImageFaults(this.running, []);
  }

  /**
   * Reads every SSH node's sandbox image (its runtime config) and image store again: pods on a node
   * that lacks it stay ContainerCreating with a FailedCreatePodSandBox event, pods on a node that got
   * it back start. Done at `up`, with every image fault change, and by the node supervisor within
   * a second or two of a store or config change (a restore over SSH). Returns the nodes that lack it.
   */
  async syncSandboxImages(): Promise<SandboxFailure[]> {
    const state = this.running;
    await this.updateImageFaults(state, state.faults.images);
    return this.state.faults.sandbox;
  }

  private async updateImageFaults(state: SimState, images: ImageFault[]): Promise<void> {
    const generation = state.faults.generation + 1;
    const sandbox = await applyStages(state, images);
    writeState({ ...state, faults: { generation, images, sandbox } });
    await sleep(STAGE_SETTLE_MS);
    // kwok only re-evaluates an object when it changes: touch the pods that have not started, so a
    // pod in back-off recovers (or one about to start fails) under the new rules.
    const core = this.core();
    const ours = new Set(state.nodes.map((n) => n.name));
    const pods = await core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending' });
    await Promise.all(
      pods.items
        .filter((p) => p.spec?.nodeName && ours.has(p.spec.nodeName) && !p.metadata?.deletionTimestamp)
        .map((p) =>
          core
            .patchNamespacedPod(
              {
                name: p.metadata!.name!,
                namespace: p.metadata!.namespace!,
                body: { metadata: { annotations: { [FAULT_GENERATION_ANNOTATION]: String(generation) } } },
              },
              mergePatch(),
            )
            .catch(() => undefined),
        ),
    );
  }

  /**
   * ready=false: the node reports Ready=False (KubeletNotReady) shortly; ready=true: Ready again.
   * Only sets or removes the annotation (idempotent); poll the node to see the effect.
   */
  async setNodeReady(opts: { node: string; ready: boolean }): Promise<void> {
    const state = this.running;
    if (!state.nodes.some((n) => n.name === opts.node)) {
      throw new SimError(
        `no node ${opts.node} in this simulator (nodes: ${state.nodes.map((n) => n.name).join(', ')})`,
      );
    }
    await this.core().patchNode(
      {
        name: opts.node,
        body: { metadata: { annotations: { [NOT_READY_ANNOTATION]: opts.ready ? null : 'true' } } },
      },
      mergePatch(),
    );
  }

  /**
   * The kubelet's mount timeout on the pods `selector` matches in `namespace` (what a large volume
   * with `fsGroup` set does while kubelet chowns it): one Warning event `FailedMount` per pod, with
   * kubelet's message ending in "timed out waiting for the condition". Pods keep running (kwok does
   * not mount); only the evidence an operator reads appears. Returns the pods it named.
   */
  async mountTimeout(opts: { namespace: string; selector: string; volume?: string }): Promise<string[]> {
    const core = this.core();
    const pods = (
      await core.listNamespacedPod({ namespace: opts.namespace, labelSelector: opts.selector })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
    if (pods.length === 0)
      throw new SimError(`no pod matches ${JSON.stringify(opts.selector)} in namespace ${opts.namespace}`);
    const now = new Date();
    for (const pod of pods) {
      const name = pod.metadata!.name!;
      await core.createNamespacedEvent({
        namespace: opts.namespace,
        body: {
          metadata: { name: `${name}.mount-timeout-${randomUUID().slice(0, 8)}`, namespace: opts.namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            name,
            namespace: opts.namespace,
            uid: pod.metadata!.uid,
          },
          reason: 'FailedMount',
          type: 'Warning',
          message: `Unable to attach or mount volumes: unmounted volumes=[${opts.volume ?? 'data'}], unattached volumes=[kube-api-access]: timed out waiting for the condition`,
          source: { component: 'kubelet', host: pod.spec?.nodeName },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    }
    return pods.map((p) => p.metadata!.name!);
  }

  /**
   * Creates `count` objects through the API server, `concurrency` requests in flight at a time, and
   * returns how long it took: a cluster of thousands of pods (or events) in a minute or two instead
   * of an apply of one huge manifest. `create(i, core)` makes the i-th (0-based). Objects are not
   * waited for: kwok picks up pods bound to its nodes (set `spec.nodeName`) on its own.
   */
  async createInBulk(opts: {
    count: number;
    concurrency?: number;
    create: (i: number, core: CoreV1Api) => Promise<unknown>;
  }): Promise<{ seconds: number }> {
    void this.running; // a clear error unless the simulator is up
    const core = this.core();
    const t0 = Date.now();
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < opts.count; i = next++) await opts.create(i, core);
    };
    await Promise.all(Array.from({ length: Math.min(opts.count, opts.concurrency ?? 32) }, lane));
    return { seconds: (Date.now() - t0) / 1000 };
  }

  /**
   * Re-applies the NKS kube-system fixtures (server-side apply, forcing our values back). With
   * `resetPods` (default), the calico pods are deleted too, so the broken state is back at once:
   * a DaemonSet rollout back to an image that never becomes ready would otherwise stall after one node.
   */
  async applyFixtures(opts: { resetPods?: boolean } = {}): Promise<void> {
    const state = this.running;
    const kubectl = kubectlFor(state.binDir, state.kubeconfigPath);
    await applyManifest(
      kubectl,
      { file: path.join(SIM_ROOT, 'fixtures', 'nks-kube-system.yaml') },
      'applying NKS fixtures',
    );
    if (opts.resetPods ?? true) {
      await kubectl(
        [
          '-n',
          'kube-system',
          'delete',
          'pods',
          '-l',
          'k8s-app in (calico-node,calico-typha,calico-kube-controllers)',
          '--wait=false',
        ],
        { what: 'deleting calico pods' },
      );
    }
  }
}

/**
 * Applies the stages for these image faults and for the SSH nodes that lack their sandbox image (read
 * from their disks now), and deletes the sandbox stages of nodes that no longer lack it.
 */
async function applyStages(state: SimState, images: readonly ImageFault[]): Promise<SandboxFailure[]> {
  const kubectl = kubectlFor(state.binDir, state.kubeconfigPath);
  const sandbox = sandboxFailures(state.dir, state.nodes, state.ssh?.nodes ?? []);
  await applyManifest(kubectl, { input: renderStages(images, sandbox) }, 'applying kwok stages');
  const wanted = new Set(sandbox.map((f) => `stage.kwok.x-k8s.io/sim-pod-sandbox-failed-${f.node}`));
  const present = (
    await kubectl(['get', 'stages', '-l', SANDBOX_STAGE_LABEL, '-o', 'name'], {
      what: 'listing sandbox stages',
    })
  )
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stale = present.filter((name) => !wanted.has(name));
  if (stale.length)
    await kubectl(['delete', '--ignore-not-found', ...stale], { what: 'deleting sandbox stages' });
  return sandbox;
}

/** client-node 1.x sends JSON Patch unless told otherwise; these small patches are merge patches. */
function mergePatch() {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
}

export function loadSim(dir?: string): SimHandle {
  const handle = new SimHandle(resolveDir(dir));
  void handle.state; // throws a clear error when there is no instance
  return handle;
}

export async function simStatus(opts: { dir?: string } = {}): Promise<SimStatus> {
  const dir = resolveDir(opts.dir);
  const state = readState(dir);
  if (!state) return { dir, state: 'absent', processes: [] };
  const processes = state.processes.map((p) => ({
    name: p.name,
    pid: p.pid,
    alive: isRunning(p),
    log: p.log,
  }));
  const status: SimStatus = {
    dir,
    state: 'stopped',
    processes,
    kubeconfigPath: state.kubeconfigPath,
    clustersPath: state.clustersPath,
    imageFaults: state.faults.images,
    ssh: state.ssh ? { user: state.ssh.user, nodes: state.ssh.nodes } : undefined,
    upSeconds: state.upSeconds,
  };
  const alive = processes.filter((p) => p.alive).length;
  if (alive === 0) return status;
  const ready = (await apiserverGet(state.apiserverUrl, pkiPaths(dir), '/readyz')) === 200;
  status.apiserver = { url: state.apiserverUrl, ready };
  if (ready) {
    try {
      const nodes = await coreApi(state.kubeconfigPath).listNode();
      const ours = nodes.items.filter((n) => state.nodes.some((s) => s.name === n.metadata?.name));
      status.nodes = {
        total: ours.length,
        ready: ours.filter(isNodeReady).length,
        notReady: ours.filter((n) => !isNodeReady(n)).map((n) => n.metadata?.name ?? ''),
      };
    } catch {
      /* the API server answered /readyz but not the list: reported as degraded below */
    }
  }
  const complete =
    alive === processes.length && ready && status.nodes !== undefined && state.readyAt !== undefined;
  status.state = complete ? 'running' : 'degraded';
  return status;
}

/** Stops everything the instance in `dir` started (SSH nodes, kwok, control plane) and verifies it. */
export async function simDown(opts: { dir?: string; log?: (line: string) => void } = {}): Promise<void> {
  const dir = resolveDir(opts.dir);
  const state = readState(dir);
  if (!state) {
    opts.log?.(`nothing to stop in ${dir}`);
    return;
  }
  await stopInstance(state, opts.log);
}

async function stopInstance(state: SimState, log?: (line: string) => void): Promise<void> {
  try {
    await stopSshNodes({ dir: state.dir });
  } catch (e) {
    log?.(`stopping SSH nodes: ${(e as Error).message}`);
  }
  // In tiers: kwok and the controllers, then the API server (which still writes to etcd while it
  // shuts down), then etcd.
  const procs = state.processes;
  const tier = (p: StartedProcess) => (p.name === 'etcd' ? 2 : p.name === 'kube-apiserver' ? 1 : 0);
  const left: string[] = [];
  const t0 = Date.now();
  for (const t of [0, 1, 2]) left.push(...(await stopAll(procs.filter((p) => tier(p) === t))));
  const stopSeconds = (Date.now() - t0) / 1000;
  const stragglers = findStragglers(state.binDir, state.dir);
  const leftAfter = stragglers.length ? await stopAll(stragglers, 2000) : [];
  if (stragglers.length)
    log?.(`stopped ${stragglers.length} leftover process(es): ${stragglers.map((s) => s.name).join(', ')}`);
  if (left.length || leftAfter.length) {
    throw new SimError(`could not stop: ${[...left, ...leftAfter].join(', ')} (dir ${state.dir})`);
  }
  writeState({ ...state, readyAt: undefined });
  log?.(`stopped ${procs.length} process(es) of ${state.dir} in ${stopSeconds.toFixed(1)}s`);
}

function prepareDir(dir: string): void {
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new SimError(`${dir} exists and is not a simulator state dir; choose another --dir or empty it`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(
    path.join(dir, MARKER),
    'State of an nks-remediation cluster simulator; `npm run sim -- down` stops it.\n',
  );
}

export async function simUp(opts: SimUpOptions): Promise<SimHandle> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const dir = resolveDir(opts.dir);
  const ipPrefix = validateIpPrefix(opts.ipPrefix ?? defaultIpPrefix());
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    throw new SimError(`--nodes must be between 1 and ${MAX_NODES} (got ${opts.nodes})`);
  }
  // Beyond 254 nodes the addresses spill into the following /24s, which must stay inside 127.x.y.
  const thirdOctet = Number(ipPrefix.split('.')[2]);
  const lastSubnet = thirdOctet + Math.ceil(opts.nodes / NODES_PER_SUBNET) - 1;
  if (lastSubnet > 255) {
    throw new SimError(
      `${opts.nodes} nodes need ${lastSubnet - thirdOctet + 1} /24s from ${ipPrefix}; choose a lower --ip-prefix`,
    );
  }
  const sshNodes = opts.sshNodes ?? Math.min(opts.nodes, MAX_SSH_NODES);
  if (!Number.isInteger(sshNodes) || sshNodes < 0 || sshNodes > Math.min(opts.nodes, MAX_SSH_NODES)) {
    throw new SimError(
      `--ssh-nodes must be between 0 and --nodes, at most ${MAX_SSH_NODES} (one sshd and mount namespace each; got ${sshNodes})`,
    );
  }
  const runtimeOf = (i: number): ContainerRuntime => {
    const r = opts.nodeRuntimes?.[i] ?? opts.runtime ?? 'containerd';
    if (!(r in CONTAINER_RUNTIMES))
      throw new SimError(`unknown container runtime ${r} (containerd or docker)`);
    return r;
  };
  const faults = opts.imageFaults ?? [];
  faults.forEach(validateImageFault);
  // Kubernetes needs longer to see many nodes Ready (kwok heartbeats them one by one).
  const timeoutMs = opts.timeoutMs ?? 180_000 + 300 * opts.nodes;
  const timings: Record<string, number> = {};
  let lap = Date.now();
  const mark = (phase: string) => {
    timings[phase] = (Date.now() - lap) / 1000;
    lap = Date.now();
  };

  const existing = readState(dir);
  if (existing) {
    const st = await simStatus({ dir });
    if (st.state === 'running') {
      const handle = new SimHandle(dir);
      handle.alreadyRunning = true;
      return handle;
    }
    if (st.processes.some((p) => p.alive))
      log(`a previous instance in ${dir} is ${st.state}; stopping it first`);
    await stopInstance(existing);
  }

  const binDir = await resolveBinaries(log);
  mark('binaries');
  const stragglers = findStragglers(binDir, dir);
  for (const s of stragglers) log(`leftover ${s.name} (pid ${s.pid}) of ${dir} will be stopped`);
  await stopAll(stragglers, 2000);
  prepareDir(dir);

  const [etcdClient, etcdPeer, apiserverPort, kwokPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const urlOf = (port: number) => `https://127.0.0.1:${port}`;
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const clustersPath = path.join(dir, 'clusters.yaml');
  const nodeSpecs = Array.from({ length: opts.nodes }, (_, i) => ({
    name: nodeName(i),
    ip: nodeIp(ipPrefix, i),
    runtime: runtimeOf(i),
  }));
  // The Kubernetes node (and state.json) report the runtime's version string.
  const nodes = nodeSpecs.map((n) => ({ ...n, runtime: CONTAINER_RUNTIMES[n.runtime] }));
  const state: SimState = {
    version: 1,
    dir,
    ipPrefix,
    binDir,
    startedAt: new Date().toISOString(),
    ports: { etcdClient, etcdPeer, apiserver: apiserverPort, kwok: kwokPort },
    apiserverUrl: urlOf(apiserverPort),
    kubeconfigPath,
    clustersPath,
    processes: [],
    nodes,
    faults: { generation: 0, images: faults, sandbox: [] },
  };
  writeState(state);

  const bin = (name: string) => path.join(binDir, name);
  const logFile = (name: string) => path.join(dir, 'logs', `${name}.log`);
  const start = (name: string): StartedProcess => {
    const { args, env } = componentCommand(state, name);
    const p = startDetached({ name, binary: bin(name), args, log: logFile(name), env });
    state.processes.push(p);
    writeState(state);
    return p;
  };
  const expectAlive = (p: StartedProcess) => {
    if (!isRunning(p))
      throw new SimError(`${p.name} exited during start-up (${describeExit(p.pid)}):\n${tail(p.log)}`);
  };
  /**
   * Starts a component and waits until `ready` says so. One that dies during start-up is started
   * again, up to twice: its port may have been taken between freePorts choosing it and the component
   * binding it (other runs pick ports at the same moment), so `repick` chooses anew first. One that
   * stays alive but never gets ready is not retried.
   */
  const startReady = async (
    name: string,
    ready: () => Promise<boolean>,
    opts: { timeoutMs: number; intervalMs: number; repick?: () => Promise<void> },
  ): Promise<StartedProcess> => {
    for (let attempt = 1; ; attempt++) {
      const p = start(name);
      try {
        await waitFor(
          `${name} to be ready`,
          async () => {
            expectAlive(p);
            return (await ready()) ? true : undefined;
          },
          { timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs, onTimeout: () => tail(p.log) },
        );
        return p;
      } catch (err) {
        if (isRunning(p) || attempt === 3) throw err;
        log(
          `${name} exited during start-up (${describeExit(p.pid)}; log: ${JSON.stringify(tail(p.log, 2))}); starting it again`,
        );
        state.processes = state.processes.filter((q) => q !== p);
        await opts.repick?.();
        writeState(state);
      }
    }
  };

  try {
    const serviceIp = '10.254.0.1';
    const [pki, crdPath] = await Promise.all([createPki(dir, serviceIp), stageCrdPath(binDir)]);
    writeKubeconfig(kubeconfigPath, state.apiserverUrl, pki);
    mark('pki');

    const etcd = await startReady(
      'etcd',
      async () => {
        const res = await fetch(`http://127.0.0.1:${state.ports.etcdClient}/health`).catch(() => undefined);
        return res?.ok === true;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        repick: async () => {
          [state.ports.etcdClient, state.ports.etcdPeer] = (await freePorts(2)) as [number, number];
          fs.rmSync(path.join(dir, 'etcd'), { recursive: true, force: true });
        },
      },
    );
    mark('etcd');

    // Requests of ServiceAccounts (never the admin's, kwok's or the controllers': they use the
    // admin certificate) go to an audit log, so a test can tell which verbs a ServiceAccount used.
    fs.writeFileSync(
      auditPolicyPath(dir),
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n' +
        '  - level: Metadata\n    userGroups: [system:serviceaccounts]\n  - level: None\n',
    );
    const apiserver = await startReady(
      'kube-apiserver',
      async () => (await apiserverGet(state.apiserverUrl, pki, '/readyz')) === 200,
      {
        timeoutMs: 90_000,
        intervalMs: 200,
        repick: async () => {
          [state.ports.apiserver] = (await freePorts(1)) as [number];
          state.apiserverUrl = urlOf(state.ports.apiserver);
          writeKubeconfig(kubeconfigPath, state.apiserverUrl, pki);
        },
      },
    );
    mark('apiserver');

    const kubectl: Kubectl = kubectlFor(binDir, kubeconfigPath);
    await applyManifest(kubectl, { file: crdPath }, 'installing the kwok Stage CRD');
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/stages.kwok.x-k8s.io'], {
      what: 'waiting for the Stage CRD',
    });
    await applyManifest(kubectl, { input: renderStages(faults) }, 'applying kwok stages');
    mark('stages');

    const kcm = start('kube-controller-manager');
    const scheduler = start('kube-scheduler');
    const kwok = start('kwok');

    const core = coreApi(kubeconfigPath);
    // A few at a time: one by one, 1,000 nodes take minutes of round trips; all at once, sockets.
    for (let i = 0; i < nodes.length; i += NODE_CREATE_CONCURRENCY) {
      await Promise.all(
        nodes.slice(i, i + NODE_CREATE_CONCURRENCY).map((n) => core.createNode({ body: nodeObject(n) })),
      );
    }
    mark('nodes-created');

    if (opts.fixtures ?? true) {
      await applyManifest(
        kubectl,
        { file: path.join(SIM_ROOT, 'fixtures', 'nks-kube-system.yaml') },
        'applying NKS fixtures',
      );
      mark('fixtures');
    }

    const names = new Set(nodes.map((n) => n.name));
    const waitReady = async () => {
      let notReady: string[] = [];
      await waitFor(
        `${nodes.length} nodes to be Ready`,
        async () => {
          [kcm, scheduler, kwok, apiserver, etcd].forEach(expectAlive);
          const list = await core.listNode();
          const ready = list.items.filter((n) => names.has(n.metadata?.name ?? '') && isNodeReady(n));
          notReady = [...names].filter((name) => !ready.some((r) => r.metadata?.name === name));
          return notReady.length === 0 ? true : undefined;
        },
        {
          timeoutMs,
          // Listing 1,000 nodes four times a second would load the API server we are waiting on.
          intervalMs: nodes.length > 100 ? 1000 : 250,
          onTimeout: () =>
            `not Ready (${notReady.length}): ${notReady.slice(0, 20).join(', ')}${notReady.length > 20 ? ', ...' : ''}; see ${kwok.log}`,
        },
      );
      await waitFor(
        "kube-system's default ServiceAccount",
        async () => {
          expectAlive(kcm);
          await core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' });
          return true;
        },
        { timeoutMs, intervalMs: 250, onTimeout: () => tail(kcm.log) },
      );
    };
    const startSsh = async (): Promise<SshNodesInfo | undefined> =>
      sshNodes === 0
        ? undefined
        : startSshNodes({
            dir,
            kubeconfigPath,
            kubectlPath: bin('kubectl'),
            nodes: nodeSpecs.slice(0, sshNodes),
            drift: opts.drift,
            sshDelayMs: opts.sshDelayMs,
          });
    const [, ssh] = await Promise.all([waitReady(), startSsh()]);
    mark('ready');

    const registry: RegistryFile = {
      approvers: [{ name: SIM_APPROVER, publicKey: simApproverPublicKey(dir) }],
      clusters: {
        [CLUSTER_NAME]: {
          kubeconfig: kubeconfigPath,
          context: CONTEXT_NAME,
          nodeAddressType: 'InternalIP',
          ...(ssh
            ? {
                ssh: {
                  user: ssh.user,
                  privateKeyPath: ssh.privateKeyPath,
                  knownHostsPath: ssh.knownHostsPath,
                  port: ssh.port,
                  connectTimeoutMs: 10_000,
                },
              }
            : {}),
        },
      },
    };
    fs.writeFileSync(clustersPath, YAML.stringify(RegistryFileSchema.parse(registry)), { mode: 0o600 });

    const upSeconds = Math.round((Date.now() - t0) / 100) / 10;
    timings.total = upSeconds;
    // The SSH nodes' disks exist now: a node provisioned without its sandbox image starts no pod.
    if (ssh && sandboxFailures(dir, state.nodes, ssh.nodes).length > 0)
      state.faults.sandbox = await applyStages({ ...state, ssh }, faults);
    writeState({ ...state, ssh, readyAt: new Date().toISOString(), upSeconds, upTimings: timings });
    const handle = new SimHandle(dir);
    handle.timings = timings;
    return handle;
  } catch (e) {
    log(`start-up failed; stopping what was started (logs stay in ${path.join(dir, 'logs')})`);
    await stopInstance(readState(dir) ?? state).catch(() => undefined);
    if (e instanceof SimError) throw e;
    throw new SimError(`sim up failed: ${errorMessage(e)} (logs in ${path.join(dir, 'logs')})`);
  }
}

/** One line for an error from client-node, kubectl or the file system, without bodies or headers. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const first = e.message.split('\n')[0] ?? '';
    return typeof code === 'number' ? `HTTP ${code}: ${first.slice(0, 200)}` : first.slice(0, 300);
  }
  return String(e);
}

// Module-level conveniences for tests and scripts; each takes the state dir (default as for the CLI).
export const failImage = (opts: ImageFault & { dir?: string }) => {
  const { dir, ...fault } = opts;
  return loadSim(dir).failImage(fault);
};
export const clearImageFaults = (opts: { dir?: string } = {}) => loadSim(opts.dir).clearImageFaults();
export const setNodeReady = (opts: { node: string; ready: boolean; dir?: string }) =>
  loadSim(opts.dir).setNodeReady({ node: opts.node, ready: opts.ready });
export const applyFixtures = (opts: { dir?: string } = {}) => loadSim(opts.dir).applyFixtures();
