/**
 * The node supervisor: one detached process per simulator instance that owns every node's sshd. It runs
 * outside the nodes' mount namespaces, so it outlives the SSH session that asked for a reboot, and it is
 * the single place that knows which processes belong to which node.
 *
 * Run as: node --import tsx sim/nodes/supervisor.ts <supervisor.json>
 * Control: HTTP over the Unix socket in simPaths(dir).supervisorSocket (see control.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';
import { BOOT_ID_ANNOTATION, NOT_READY_ANNOTATION } from '../config';
import { sleep } from '../process';
import { loadSim } from '../index';
import { readState } from '../state';
import { type DelayProxy, startDelayProxy } from './delay-proxy';
import { type SandboxFailure, sandboxFailures } from './sandbox';
import {
  SSH_BACKEND_PORT,
  SSH_PORT,
  cmdlineFromGrubCfg,
  nodePaths,
  simPaths,
  type NodePaths,
} from './layout';
import {
  killNamespaceProcesses,
  waitForSshBanner,
  type NodeFault,
  type NodeStatus,
  type SupervisorConfig,
  type SupervisorStatus,
} from './control';

const runFile = promisify(execFile);
/** How often the nodes' sandbox images are compared with the applied stages. */
const SANDBOX_POLL_MS = 1000;
/** How long a node's status annotation waits for an API server that is away (restart, outage). */
const ANNOTATE_PATIENCE_MS = 120_000;

/**
 * Runs inside the fresh mount (and UTS) namespace, then becomes the node's sshd. Binding over the mount
 * points rather than chrooting keeps the real system (sudo, md5sum, logrotate) and changes only what a
 * node owns.
 */
const NODE_BOOT_SCRIPT = `set -e
n=$1
hostname "$3"
mkdir -p /run/sshd
mount --bind "$n/etc-logrotate.d" /etc/logrotate.d
mount --bind "$n/etc-default" /etc/default
mount --bind "$n/etc-hosts" /etc/hosts
mkdir -p /etc/containerd /etc/sysconfig
mount --bind "$n/etc-containerd" /etc/containerd
mount --bind "$n/etc-sysconfig" /etc/sysconfig
mount --bind "$n/boot" /boot
mount --bind "$n/home" /home/centos
mount --bind "$n/state" /var/lib/nksr-sim
# Where the product keeps backups of files it replaces: per node, as on real nodes.
mkdir -p "$n/var-lib-nks-remediation" /var/lib/nks-remediation
mount --bind "$n/var-lib-nks-remediation" /var/lib/nks-remediation
mount --bind "$n/bin" /usr/local/bin
mount --bind "$n/bin" /usr/local/sbin
mount --bind "$n/proc-cmdline" /proc/cmdline
mount -o remount,bind,ro /proc/cmdline
mount --bind "$n/boot-id" /proc/sys/kernel/random/boot_id
mount -o remount,bind,ro /proc/sys/kernel/random/boot_id
while read -r f; do
  if [ -f "$f" ] && [ ! -L "$f" ]; then mount --bind "$n/bin/_nksr_absent" "$f"; fi
done <"$n/bin/_nksr_absent.list"
# The node's own /tmp goes last: binds made earlier keep working once it covers their sources, but
# sshd still opens its config and host keys by path. A sim dir that itself lives under /tmp (as a CI
# checkout may) is shown again at its own path inside the node's /tmp.
sim=$(cd "$n/../.." && pwd)
case "$sim/" in
  /tmp/*)
    mkdir -p /run/nksr-sim-hold
    mount -t tmpfs nksr-sim-hold /run/nksr-sim-hold
    mkdir /run/nksr-sim-hold/sim
    mount --bind "$sim" /run/nksr-sim-hold/sim
    mount --bind "$n/tmp" /tmp
    mkdir -p "$sim"
    mount --bind /run/nksr-sim-hold/sim "$sim"
    ;;
  *) mount --bind "$n/tmp" /tmp ;;
esac
exec /usr/sbin/sshd -D -e -f "$2"
`;

interface NodeRuntime {
  name: string;
  ip: string;
  paths: NodePaths;
  state: NodeStatus['state'];
  sshd?: ChildProcess;
  sshdKind?: 'normal' | 'mitm';
  bootId: string;
  boots: number;
  error?: string;
  namespaces: Set<string>;
  /** Operations on one node run one after another (a fault request during a reboot waits). */
  queue: Promise<void>;
}

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

class Supervisor {
  private readonly nodes = new Map<string, NodeRuntime>();
  private server?: http.Server;
  private pollTimer?: NodeJS.Timeout;
  private sandboxTimer?: NodeJS.Timeout;
  private sandboxSyncing = false;
  private shuttingDown = false;
  private readonly hostNamespace = fs.readlinkSync('/proc/self/ns/mnt');
  private readonly proxies: DelayProxy[] = [];
  /** Where sshd listens: :22, or behind the delay proxies. */
  private get sshdPort(): number {
    return (this.cfg.sshDelayMs ?? 0) > 0 ? SSH_BACKEND_PORT : SSH_PORT;
  }

  constructor(private readonly cfg: SupervisorConfig) {
    for (const n of cfg.nodes) {
      const paths = nodePaths(cfg.dir, n.name);
      this.nodes.set(n.name, {
        ...n,
        paths,
        state: 'booting',
        bootId: fs.readFileSync(paths.bootId, 'utf8').trim(),
        boots: 1,
        namespaces: new Set(),
        queue: Promise.resolve(),
      });
    }
  }

  private enqueue(node: NodeRuntime, op: () => Promise<void>): Promise<void> {
    const next = node.queue.then(op, op);
    node.queue = next.catch((err: unknown) => {
      node.error = err instanceof Error ? err.message : String(err);
      log(`${node.name}: ${node.error}`);
    });
    return next;
  }

  async start(): Promise<void> {
    const p = simPaths(this.cfg.dir);
    fs.rmSync(p.supervisorSocket, { force: true });
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(p.supervisorSocket, resolve);
    });
    fs.writeFileSync(p.supervisorPid, `${process.pid}\n`);
    process.on('SIGTERM', () => void this.shutdown());
    process.on('SIGINT', () => void this.shutdown());
    if ((this.cfg.sshDelayMs ?? 0) > 0) {
      for (const node of this.nodes.values()) {
        this.proxies.push(
          await startDelayProxy({
            host: node.ip,
            port: SSH_PORT,
            targetHost: node.ip,
            targetPort: SSH_BACKEND_PORT,
            delayMs: this.cfg.sshDelayMs!,
          }),
        );
      }
      log(`delay proxies: ${this.cfg.sshDelayMs} ms each way on every node's :${SSH_PORT}`);
    }
    await Promise.all(
      [...this.nodes.values()].map((node) =>
        this.enqueue(node, async () => {
          await this.startSshd(node, 'normal');
          node.state = 'up';
          await this.annotate(node, { [BOOT_ID_ANNOTATION]: node.bootId, [NOT_READY_ANNOTATION]: null });
        }).catch(() => {
          node.state = 'failed';
        }),
      ),
    );
    this.pollTimer = setInterval(() => this.pollRebootRequests(), 200);
    this.sandboxTimer = setInterval(() => void this.pollSandboxImages(), SANDBOX_POLL_MS);
    log(`supervisor ${process.pid} ready: ${[...this.nodes.keys()].join(' ')}`);
  }

  /**
   * kubelet notices a pause image that came back (or went) at its next sandbox attempt: when the
   * nodes' disks say otherwise than the applied stages, the stages follow (once the instance is up).
   */
  private async pollSandboxImages(): Promise<void> {
    if (this.sandboxSyncing) return;
    this.sandboxSyncing = true;
    try {
      const state = readState(this.cfg.dir);
      if (!state?.readyAt || !state.ssh) return;
      const key = (fs: readonly SandboxFailure[]) =>
        fs
          .map((f) => `${f.node}=${f.image}`)
          .sort()
          .join(' ');
      const onDisk = key(sandboxFailures(this.cfg.dir, state.nodes, state.ssh.nodes));
      if (onDisk === key(state.faults.sandbox)) return;
      await loadSim(this.cfg.dir).syncSandboxImages();
      log(`sandbox images missing: ${onDisk || 'none'}`);
    } catch (err) {
      log(`sandbox image sync failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.sandboxSyncing = false;
    }
  }

  private status(): SupervisorStatus {
    return {
      pid: process.pid,
      nodes: [...this.nodes.values()].map((n) => ({
        name: n.name,
        ip: n.ip,
        state: n.state,
        sshdPid: n.sshd?.pid,
        bootId: n.bootId,
        boots: n.boots,
        error: n.error,
      })),
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = req.url ?? '/';
      if (req.method === 'GET' && url === '/status') return reply(200, this.status());
      if (req.method === 'POST' && url === '/shutdown') {
        reply(200, { ok: true });
        return void this.shutdown();
      }
      const m = /^\/nodes\/([^/]+)\/(fault|reboot)$/.exec(url);
      const node = m ? this.nodes.get(decodeURIComponent(m[1]!)) : undefined;
      if (req.method === 'POST' && m && node) {
        let body = '';
        for await (const chunk of req) body += String(chunk);
        if (m[2] === 'reboot') {
          // Answer first: the caller usually wants to watch the node go down.
          reply(202, { accepted: true });
          return void this.enqueue(node, () => this.reboot(node));
        }
        const fault = (JSON.parse(body || '{}') as { fault?: NodeFault }).fault;
        if (!fault || !['none', 'sshd-stopped', 'sshd-hung', 'host-key-replaced'].includes(fault)) {
          return reply(400, { error: `unknown fault ${String(fault)}` });
        }
        await this.enqueue(node, () => this.applyFault(node, fault));
        return reply(
          200,
          this.status().nodes.find((n) => n.name === node.name),
        );
      }
      reply(404, { error: `no route ${req.method} ${url}` });
    } catch (err) {
      reply(500, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private async startSshd(node: NodeRuntime, kind: 'normal' | 'mitm'): Promise<void> {
    const out = fs.openSync(node.paths.sshdLog, 'a');
    const config = kind === 'normal' ? node.paths.sshdConfig : node.paths.mitmSshdConfig;
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--uts',
        '--propagation',
        'private',
        '/bin/sh',
        '-c',
        NODE_BOOT_SCRIPT,
        'nksr-node-boot',
      ].concat([node.paths.root, config, node.name]),
      { stdio: ['ignore', out, out] },
    );
    fs.closeSync(out);
    node.sshd = child;
    node.sshdKind = kind;
    let exited = false;
    child.on('exit', (code, signal) => {
      exited = true;
      if (node.sshd === child) node.sshd = undefined;
      if (!this.shuttingDown && node.state === 'up') {
        log(`${node.name}: sshd ${child.pid} exited unexpectedly (${code ?? signal})`);
      }
    });
    await waitForSshBanner(node.ip, 10_000, () => exited, this.sshdPort);
    const ns = fs.readlinkSync(`/proc/${child.pid}/ns/mnt`);
    if (ns === this.hostNamespace) throw new Error(`${node.name}: sshd is not in its own mount namespace`);
    node.namespaces.add(ns);
    fs.appendFileSync(node.paths.mountNamespaces, `${ns}\n`);
    log(`${node.name}: sshd ${child.pid} (${kind}) listening on ${node.ip}:${this.sshdPort} in ${ns}`);
  }

  /** Stops the listening sshd only; sessions already open live on, as with `systemctl stop sshd`. */
  private async stopListener(node: NodeRuntime): Promise<void> {
    const child = node.sshd;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(3_000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await gone;
    }
  }

  /** Kills every process of the node (listener, sessions, whatever they started): the power goes off. */
  private async killNode(node: NodeRuntime): Promise<void> {
    await killNamespaceProcesses(
      node.namespaces,
      () => (node.sshd?.pid !== undefined && node.sshd.exitCode === null ? [node.sshd.pid] : []),
      node.paths.root,
    );
    node.sshd = undefined;
  }

  private async applyFault(node: NodeRuntime, fault: NodeFault): Promise<void> {
    if (node.state === 'down' || node.state === 'failed') {
      throw new Error(`${node.name} is ${node.state}; faults apply to a running node`);
    }
    // Back to a healthy sshd first, so every fault starts from the same place.
    if (node.state === 'sshd-hung') node.sshd?.kill('SIGCONT');
    if (!node.sshd || node.sshdKind !== 'normal' || fault === 'host-key-replaced') {
      await this.stopListener(node);
      await this.startSshd(node, fault === 'host-key-replaced' ? 'mitm' : 'normal');
    }
    switch (fault) {
      case 'sshd-stopped':
        await this.stopListener(node);
        break;
      case 'sshd-hung':
        // The kernel still completes TCP handshakes into the listen backlog; nobody sends a banner.
        node.sshd?.kill('SIGSTOP');
        break;
      default:
        break;
    }
    node.state = fault === 'none' ? 'up' : fault;
    log(`${node.name}: fault ${fault}`);
  }

  private pollRebootRequests(): void {
    for (const node of this.nodes.values()) {
      if (node.state === 'down' || node.state === 'failed') continue;
      if (fs.existsSync(node.paths.rebootRequest)) {
        node.state = 'down';
        void this.enqueue(node, () => this.reboot(node));
      }
    }
  }

  /**
   * Power cycle: every process of the node dies, the Kubernetes node reads NotReady for rebootDownMs,
   * then the node boots with a new boot ID and the command line grub.cfg carries (what grub2-mkconfig
   * last wrote, not what /etc/default/grub says), services enabled at boot running again.
   */
  private async reboot(node: NodeRuntime): Promise<void> {
    node.state = 'down';
    log(`${node.name}: reboot`);
    this.rebootLog(`${node.name} down`);
    await this.killNode(node);
    fs.rmSync(node.paths.rebootRequest, { force: true });
    const downSince = Date.now();
    await this.annotate(node, { [NOT_READY_ANNOTATION]: 'true' });
    await sleep(Math.max(0, this.cfg.rebootDownMs - (Date.now() - downSince)));

    node.bootId = crypto.randomUUID();
    node.boots += 1;
    fs.writeFileSync(node.paths.bootId, `${node.bootId}\n`);
    const cfg = fs.existsSync(node.paths.grubCfg) ? fs.readFileSync(node.paths.grubCfg, 'utf8') : '';
    const cmdline = cmdlineFromGrubCfg(cfg);
    if (cmdline) fs.writeFileSync(node.paths.procCmdline, `${cmdline}\n`);
    for (const unit of fs.readdirSync(node.paths.units)) {
      if (unit.includes('.')) continue;
      const broken = fs.existsSync(`${node.paths.units}/${unit}.broken`);
      fs.writeFileSync(`${node.paths.units}/${unit}`, broken ? 'failed\n' : 'active\n');
    }
    fs.appendFileSync(
      node.paths.bootsLog,
      `${new Date().toISOString()} boot_id=${node.bootId} cmdline=${fs.readFileSync(node.paths.procCmdline, 'utf8').trim()}\n`,
    );

    await this.startSshd(node, 'normal');
    node.state = 'up';
    await this.annotate(node, { [BOOT_ID_ANNOTATION]: node.bootId, [NOT_READY_ANNOTATION]: null });
    this.rebootLog(`${node.name} up boot_id=${node.bootId}`);
    log(`${node.name}: up again, boot ${node.bootId}`);
  }

  /** The simulator-wide reboot log (simPaths().rebootsLog): tests read how many nodes were down at once. */
  private rebootLog(line: string): void {
    fs.appendFileSync(simPaths(this.cfg.dir).rebootsLog, `${new Date().toISOString()} ${line}\n`);
  }

  /**
   * Best effort: a node missing from the API (e.g. SSH-only use) must not keep the machine down. An
   * API server that is away is waited for (up to ANNOTATE_PATIENCE_MS), as a real kubelet keeps
   * posting its status: giving up after a second left a node rebooted during an API server restart
   * NotReady for good (found by the fault suite, kmem apiserver-restart).
   */
  private async annotate(node: NodeRuntime, annotations: Record<string, string | null>): Promise<void> {
    const patch = JSON.stringify({ metadata: { annotations } });
    const args = [
      '--kubeconfig',
      this.cfg.kubeconfigPath,
      'patch',
      'node',
      node.name,
      '--type',
      'merge',
      '-p',
      patch,
    ];
    const deadline = Date.now() + ANNOTATE_PATIENCE_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await runFile(this.cfg.kubectlPath, args, { timeout: 15_000 });
        return;
      } catch (err) {
        const msg = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
        log(`${node.name}: annotate attempt ${attempt} failed: ${msg}`);
        const serverAway = /refused|unable to connect|timeout|timed out|EOF|ServiceUnavailable/i.test(msg);
        if ((attempt >= 3 && !serverAway) || Date.now() > deadline || this.shuttingDown) return;
        await sleep(Math.min(2000, 500 * attempt));
      }
    }
  }

  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.sandboxTimer) clearInterval(this.sandboxTimer);
    log('shutting down');
    await Promise.all([...this.nodes.values()].map((n) => this.killNode(n)));
    await Promise.all(this.proxies.map((p) => p.close()));
    this.server?.close();
    const p = simPaths(this.cfg.dir);
    fs.rmSync(p.supervisorSocket, { force: true });
    fs.rmSync(p.supervisorPid, { force: true });
    log('stopped');
    process.exit(0);
  }
}

async function main(): Promise<void> {
  const configPath = process.argv[2];
  if (!configPath) throw new Error('usage: supervisor.ts <supervisor.json>');
  const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8')) as SupervisorConfig;
  const sup = new Supervisor(cfg);
  await sup.start();
}

main().catch((err: unknown) => {
  log(`supervisor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
