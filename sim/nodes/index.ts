/**
 * SSH nodes of the simulator. Contract between the control-plane part of sim/ (which calls
 * these from `up`/`down`) and the SSH-node part (which implements them).
 *
 * Every node gets Debian's sshd on <ip>:22 in its own mount namespace, where /etc/logrotate.d,
 * /etc/default, /etc/hosts, /boot, /home/centos, /proc/cmdline, the boot ID and the stand-ins' state
 * (/var/lib/nksr-sim) are that node's own, and stand-ins for systemctl, grub2-mkconfig, reboot,
 * shutdown, logrotate and docker|nerdctl come first on PATH (and on sudo's secure_path). A detached
 * supervisor process (supervisor.ts) owns the sshds and carries out reboots and faults.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../config';
import { isRunning, sleep, tail } from '../process';
import {
  killNamespaceProcesses,
  supervisorRequest,
  type NodeFault,
  type NodeStatus,
  type SupervisorConfig,
  type SupervisorStatus,
} from './control';
import { resolveDrift } from './drift';
import { SSH_BACKEND_PORT, SSH_PORT, SSH_USER, nodePaths, simPaths } from './layout';
import { ensureClientKey, ensureHostPrerequisites, provisionNode, writeKnownHosts } from './provision';

export type { NodeFault, NodeStatus } from './control';
export {
  DEFAULT_NODE_IMAGES,
  GUIDE_DOCKER_LOGROTATE,
  OTHER_DOCKER_LOGROTATE,
  SimNodeDriftSchema,
  type SimNodeDriftInput,
} from './drift';
export { nodePaths, simPaths } from './layout';

export interface SimNodeSpec {
  /** Kubernetes node name. */
  name: string;
  /** The node's InternalIP, a loopback address (config.ts nodeIp). */
  ip: string;
  /**
   * The container runtime the Kubernetes node reports (nodeInfo.containerRuntimeVersion), so the node
   * has the matching CLI: nerdctl for containerd, docker for docker. Default containerd; `up` sets it
   * from its runtime options (`--runtime`, `--node-runtime`).
   */
  runtime?: 'containerd' | 'docker';
}

export interface StartSshNodesOptions {
  /** The simulator's state dir (absolute); SSH key, known_hosts and per-node roots go under it. */
  dir: string;
  /** Absolute path of the admin kubeconfig, to annotate nodes on reboot. */
  kubeconfigPath: string;
  /** Absolute path of kubectl. */
  kubectlPath: string;
  nodes: SimNodeSpec[];
  /**
   * Free-form drift settings from `up` flags; keys and defaults are SimNodeDriftSchema (drift.ts):
   * logrotateMissing, logrotateDifferent, rpcStatdStopped, missingImages ("node=image"),
   * unpullableImages, defaultImages, rebootDownMs (env NKSR_SIM_REBOOT_DOWN_MS).
   */
  drift?: Record<string, unknown>;
  /**
   * Latency each way between SSH clients and every node, in ms (default 0): sshd moves to
   * SSH_BACKEND_PORT and a delay proxy (delay-proxy.ts) takes :22, for hosts without netem.
   */
  sshDelayMs?: number;
}

export interface SshNodesInfo {
  privateKeyPath: string;
  knownHostsPath: string;
  user: string;
  port: number;
  /** Names of nodes that got an sshd. */
  nodes: string[];
}

function readSupervisorPid(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(simPaths(dir).supervisorPid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lays out the nodes and starts their supervisor; resolves once every node's sshd speaks SSH and its
 * boot ID annotation was attempted. Replaces whatever a previous `up` of the same dir left running.
 */
export async function startSshNodes(opts: StartSshNodesOptions): Promise<SshNodesInfo | undefined> {
  if (opts.nodes.length === 0) return undefined;
  const dir = path.resolve(opts.dir);
  const drift = resolveDrift(
    opts.drift,
    opts.nodes.map((n) => n.name),
  );
  await stopSshNodes({ dir });
  const owner = await ensureHostPrerequisites();
  await ensureClientKey(dir);
  const sshdPort = (opts.sshDelayMs ?? 0) > 0 ? SSH_BACKEND_PORT : SSH_PORT;
  for (const node of opts.nodes) await provisionNode(dir, node, drift, owner, sshdPort);
  await writeKnownHosts(dir, opts.nodes);

  const p = simPaths(dir);
  const cfg: SupervisorConfig = {
    dir,
    kubeconfigPath: opts.kubeconfigPath,
    kubectlPath: opts.kubectlPath,
    rebootDownMs: drift.rebootDownMs,
    nodes: opts.nodes.map(({ name, ip }) => ({ name, ip })),
    sshDelayMs: opts.sshDelayMs ?? 0,
  };
  fs.writeFileSync(p.supervisorConfig, `${JSON.stringify(cfg, null, 2)}\n`);
  const out = fs.openSync(p.supervisorLog, 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'supervisor.ts'), p.supervisorConfig],
    {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', out, out],
    },
  );
  fs.closeSync(out);
  child.unref();

  // Each sshd starts in its own namespace and is waited for; 200 of them take a while on 2 cores.
  const deadline = Date.now() + 60_000 + 500 * opts.nodes.length;
  for (;;) {
    const status = await supervisorRequest<SupervisorStatus>(dir, 'GET', '/status', undefined, 5_000).catch(
      () => undefined,
    );
    const nodes = status?.body.nodes ?? [];
    const failed = nodes.filter((n) => n.state === 'failed');
    if (failed.length > 0 || child.exitCode !== null || Date.now() > deadline) {
      await stopSshNodes({ dir }).catch(() => undefined);
      const why =
        failed.map((n) => `${n.name}: ${n.error ?? 'failed'}`).join('; ') ||
        'supervisor did not become ready';
      throw new Error(
        `SSH nodes did not start (${why}); supervisor log:\n${tail(p.supervisorLog, 20) || '(no log)'}`,
      );
    }
    if (status && nodes.length > 0 && nodes.every((n) => n.state === 'up')) break;
    await sleep(150);
  }
  return {
    privateKeyPath: p.privateKey,
    knownHostsPath: p.knownHosts,
    user: SSH_USER,
    port: SSH_PORT,
    nodes: opts.nodes.map((n) => n.name),
  };
}

function nodeDirs(dir: string): string[] {
  const root = simPaths(dir).root;
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

/** Mount namespaces any node of this sim dir ever had (recorded by the supervisor). */
function recordedNamespaces(dir: string): Set<string> {
  const set = new Set<string>();
  for (const entry of nodeDirs(dir)) {
    const file = nodePaths(dir, entry).mountNamespaces;
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) if (line.trim()) set.add(line.trim());
  }
  set.delete(fs.readlinkSync('/proc/self/ns/mnt'));
  return set;
}

/**
 * Stops the supervisor and every process of every node of this sim dir; afterwards no sshd of it runs
 * and none of its mount namespaces exists (they die with their last process). Idempotent.
 */
export async function stopSshNodes(opts: { dir: string }): Promise<void> {
  const dir = path.resolve(opts.dir);
  const p = simPaths(dir);
  const pid = readSupervisorPid(dir);
  // The supervisor runs as `node --import tsx supervisor.ts` (spawned from process.execPath); a PID
  // that now belongs to another program was reused and is left alone.
  const supervisor = pid === undefined ? undefined : { pid, binary: process.execPath };
  if (supervisor && isRunning(supervisor)) {
    await supervisorRequest(dir, 'POST', '/shutdown', undefined, 10_000).catch(() => undefined);
    for (let i = 0; i < 100 && isRunning(supervisor); i++) await sleep(100);
    if (isRunning(supervisor)) process.kill(supervisor.pid, 'SIGKILL');
  }
  const left = await killNamespaceProcesses(recordedNamespaces(dir), undefined, p.root);
  if (left.size > 0) throw new Error(`processes of simulated nodes survived down: ${[...left].join(' ')}`);
  for (const entry of nodeDirs(dir)) fs.rmSync(nodePaths(dir, entry).mountNamespaces, { force: true });
  fs.rmSync(p.supervisorSocket, { force: true });
  fs.rmSync(p.supervisorPid, { force: true });
}

/** Puts a fault on a node's SSH server (or lifts it with 'none'); resolves once it is in effect. */
export async function setNodeFault(opts: {
  dir: string;
  node: string;
  fault: NodeFault;
}): Promise<NodeStatus> {
  const res = await supervisorRequest<NodeStatus & { error?: string }>(
    path.resolve(opts.dir),
    'POST',
    `/nodes/${encodeURIComponent(opts.node)}/fault`,
    { fault: opts.fault },
  );
  if (res.status !== 200)
    throw new Error(`fault ${opts.fault} on ${opts.node}: ${res.body?.error ?? res.status}`);
  return res.body;
}

/** Power-cycles a node from outside (as a hypervisor would); `sudo reboot` on the node does the same. */
export async function rebootSshNode(opts: { dir: string; node: string }): Promise<void> {
  const res = await supervisorRequest<{ error?: string }>(
    path.resolve(opts.dir),
    'POST',
    `/nodes/${encodeURIComponent(opts.node)}/reboot`,
  );
  if (res.status !== 202) throw new Error(`reboot ${opts.node}: ${res.body?.error ?? res.status}`);
}

/** The supervisor's view of every node (state, sshd PID, boot ID, boots so far). */
export async function getSshNodesStatus(opts: { dir: string }): Promise<NodeStatus[]> {
  const res = await supervisorRequest<SupervisorStatus>(path.resolve(opts.dir), 'GET', '/status');
  return res.body.nodes;
}
