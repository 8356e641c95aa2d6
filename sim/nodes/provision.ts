import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { GUIDE_DOCKER_LOGROTATE, OTHER_DOCKER_LOGROTATE, type SimNodeDrift } from './drift';
import {
  INITIAL_GRUB_CMDLINE_LINUX,
  NODE_KERNEL,
  NODE_STATE_MOUNT,
  SSH_PORT,
  SSH_USER,
  cmdlineFromGrubCfg,
  nodePaths,
  normalizeImageRef,
  simPaths,
} from './layout';

const run = promisify(execFile);
const STANDINS_DIR = path.join(__dirname, 'standins');
const SUDOERS_FILE = '/etc/sudoers.d/nksr-sim-centos';

export interface NodeSpecWithIndex {
  name: string;
  ip: string;
  runtime?: 'containerd' | 'docker';
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Host-wide prerequisites, shared by every simulator instance: the `centos` user (no password, but not
 * "locked", which sshd without PAM would refuse), its passwordless sudo, and the empty directories the
 * node namespaces mount over. Safe to run repeatedly and concurrently with other instances.
 */
export async function ensureHostPrerequisites(): Promise<{ uid: number; gid: number }> {
  if (process.getuid?.() !== 0)
    throw new Error('the SSH nodes of the simulator need root (mount namespaces)');
  for (const bin of ['/usr/sbin/sshd', '/usr/bin/ssh-keygen', '/usr/sbin/logrotate', '/usr/bin/sudo']) {
    if (!(await exists(bin))) {
      throw new Error(`${bin} is missing: apt-get install -y openssh-server openssh-client sudo logrotate`);
    }
  }
  const id = await run('id', ['-u', SSH_USER]).catch(() => undefined);
  if (!id) {
    await run('useradd', ['-m', '-s', '/bin/bash', SSH_USER]).catch(async (err: unknown) => {
      // Another simulator instance may have created it in the meantime.
      if (!(await run('id', ['-u', SSH_USER]).catch(() => undefined))) throw err;
    });
  }
  await run('usermod', ['-p', '*', SSH_USER]);
  const sudoers = `# Written by the nks-remediation simulator (sim/nodes): its nodes' centos user, as on NKS.\n${SSH_USER} ALL=(ALL) NOPASSWD: ALL\nDefaults:${SSH_USER} !requiretty\n`;
  const tmp = `${SUDOERS_FILE}.${process.pid}.tmp`;
  await fs.writeFile(tmp, sudoers, { mode: 0o440 });
  await run('visudo', ['-cf', tmp]);
  await fs.rename(tmp, SUDOERS_FILE);
  for (const d of ['/run/sshd', NODE_STATE_MOUNT, `/home/${SSH_USER}`, '/boot']) {
    await fs.mkdir(d, { recursive: true });
  }
  const uid = Number((await run('id', ['-u', SSH_USER])).stdout.trim());
  const gid = Number((await run('id', ['-g', SSH_USER])).stdout.trim());
  return { uid, gid };
}

async function generateKey(file: string, comment: string): Promise<void> {
  if (await exists(file)) return;
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

/**
 * The simulator's client key pair, new at every `up`: `up` wipes the state dir first, so keys (like
 * known_hosts) never outlive an instance.
 */
export async function ensureClientKey(dir: string): Promise<void> {
  const p = simPaths(dir);
  await fs.mkdir(p.root, { recursive: true });
  await generateKey(p.privateKey, 'nksr-sim');
  await fs.chmod(p.privateKey, 0o600);
}

/** One hashed known_hosts host field, as `ssh-keygen -H` writes it: |1|salt|HMAC-SHA1(salt, host). */
export function hashKnownHost(host: string, salt = crypto.randomBytes(20)): string {
  const mac = crypto.createHmac('sha1', salt).update(host).digest();
  return `|1|${salt.toString('base64')}|${mac.toString('base64')}`;
}

/**
 * known_hosts with each node's address and its real host key; the third node's entry is hashed so
 * clients' hashed-entry support is exercised. The man-in-the-middle key is deliberately absent.
 */
export async function writeKnownHosts(dir: string, nodes: NodeSpecWithIndex[]): Promise<void> {
  const lines: string[] = [];
  for (const [i, n] of nodes.entries()) {
    const pub = (await fs.readFile(`${nodePaths(dir, n.name).hostKey}.pub`, 'utf8')).trim().split(/\s+/);
    const host = i === 2 ? hashKnownHost(n.ip) : n.ip;
    lines.push(`${host} ${pub[0]} ${pub[1]}`);
  }
  await fs.writeFile(simPaths(dir).knownHosts, `${lines.join('\n')}\n`, { mode: 0o644 });
}

function sshdConfig(node: NodeSpecWithIndex, hostKey: string, port: number): string {
  return `# sshd of simulated node ${node.name}; started by the simulator's node supervisor.
ListenAddress ${node.ip}:${port}
HostKey ${hostKey}
PidFile none
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers ${SSH_USER}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
StrictModes yes
# No PAM: its session modules expect a booted systemd host.
UsePAM no
X11Forwarding no
PrintMotd no
PrintLastLog no
# The guide's scp (SFTP protocol in OpenSSH 9) needs it.
Subsystem sftp internal-sftp
# Fan-outs open many connections at once.
MaxStartups 200:30:400
MaxSessions 64
LogLevel INFO
`;
}

function grubDefaults(cmdline: string): string {
  return `GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR="CentOS Linux"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT="console"
GRUB_CMDLINE_LINUX="${cmdline}"
GRUB_DISABLE_RECOVERY="true"
`;
}

/** The grub.cfg the node image shipped with; same shape as the grub2-mkconfig stand-in writes. */
function grubCfg(rootUuid: string, cmdline: string): string {
  return `#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub2-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#
set timeout=1
### BEGIN /etc/grub.d/10_linux ###
menuentry 'CentOS Linux (${NODE_KERNEL}) 7 (Core)' --class centos --class gnu-linux --class gnu --class os {
	load_video
	insmod xfs
	linux16 /boot/vmlinuz-${NODE_KERNEL} root=UUID=${rootUuid} ro ${cmdline}
	initrd16 /boot/initramfs-${NODE_KERNEL}.img
}
### END /etc/grub.d/10_linux ###
`;
}

/**
 * /etc/containerd/config.toml: on containerd nodes the CRI plugin's sandbox_image (containerd 1.6's
 * version 2 layout); docker's own containerd has the CRI plugin disabled.
 */
export function containerdConfig(runtime: 'containerd' | 'docker', sandboxImage: string): string {
  if (runtime === 'docker') return 'disabled_plugins = ["cri"]\n';
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${sandboxImage}"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
`;
}

/** /etc/sysconfig/kubelet: docker nodes (dockershim) name their pause image with a kubelet flag. */
export function kubeletSysconfig(runtime: 'containerd' | 'docker', sandboxImage: string): string {
  const args =
    runtime === 'docker'
      ? `--network-plugin=cni --pod-infra-container-image=${sandboxImage}`
      : '--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock';
  return `KUBELET_EXTRA_ARGS="${args}"\n`;
}

function imageLine(ref: string): string {
  const full = normalizeImageRef(ref);
  return `${full} sha256:${crypto.createHash('sha256').update(full).digest('hex')}\n`;
}

/** Units every node has; rpc-statd Requires rpcbind as in CentOS 7's nfs-utils. */
const UNITS = ['rpcbind', 'rpc-statd', 'kubelet', 'sshd', 'crond', 'chronyd'];

/**
 * Lays out one node's root from scratch, with new host keys (writeKnownHosts records them): files the
 * namespace mounts over /etc/logrotate.d, /etc/default, /etc/hosts, /boot, /home/centos, /proc/cmdline,
 * the boot ID, the stand-ins, and the stand-ins' state.
 */
export async function provisionNode(
  dir: string,
  node: NodeSpecWithIndex,
  drift: SimNodeDrift,
  owner: { uid: number; gid: number },
  sshdPort: number = SSH_PORT,
): Promise<void> {
  const p = nodePaths(dir, node.name);
  await fs.rm(p.root, { recursive: true, force: true });
  await fs.mkdir(p.root, { recursive: true });
  await generateKey(p.hostKey, `${node.name}-host`);
  await generateKey(p.mitmHostKey, `${node.name}-mitm`);

  await fs.cp('/etc/logrotate.d', p.etcLogrotateD, { recursive: true });
  await fs.rm(path.join(p.etcLogrotateD, 'docker'), { force: true });
  if (drift.logrotateDifferent.includes(node.name)) {
    await fs.writeFile(path.join(p.etcLogrotateD, 'docker'), OTHER_DOCKER_LOGROTATE, { mode: 0o644 });
  } else if (!drift.logrotateMissing.includes(node.name)) {
    await fs.writeFile(path.join(p.etcLogrotateD, 'docker'), GUIDE_DOCKER_LOGROTATE, { mode: 0o644 });
  }

  await fs.cp('/etc/default', p.etcDefault, { recursive: true });
  await fs.writeFile(path.join(p.etcDefault, 'grub'), grubDefaults(INITIAL_GRUB_CMDLINE_LINUX), {
    mode: 0o644,
  });
  const hosts = await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1 localhost\n');
  await fs.writeFile(p.etcHosts, `${hosts.trimEnd()}\n${node.ip} ${node.name}\n`, { mode: 0o644 });

  const rootUuid = crypto.randomUUID();
  await fs.mkdir(path.dirname(p.grubCfg), { recursive: true });
  const cfg = grubCfg(rootUuid, INITIAL_GRUB_CMDLINE_LINUX);
  await fs.writeFile(p.grubCfg, cfg, { mode: 0o644 });
  await fs.writeFile(path.join(p.boot, `vmlinuz-${NODE_KERNEL}`), '');
  await fs.writeFile(path.join(p.boot, `initramfs-${NODE_KERNEL}.img`), '');
  await fs.writeFile(p.procCmdline, `${cmdlineFromGrubCfg(cfg)}\n`, { mode: 0o444 });
  await fs.writeFile(p.bootId, `${crypto.randomUUID()}\n`, { mode: 0o444 });

  // The key sits in the node's home, reached through the bind mount: the sim dir itself may be 0700.
  const dotSsh = path.join(p.home, '.ssh');
  await fs.mkdir(dotSsh, { recursive: true, mode: 0o700 });
  await fs.copyFile(simPaths(dir).publicKey, path.join(dotSsh, 'authorized_keys'));
  await fs.chmod(path.join(dotSsh, 'authorized_keys'), 0o600);
  for (const f of [p.home, dotSsh, path.join(dotSsh, 'authorized_keys')])
    await fs.chown(f, owner.uid, owner.gid);
  await fs.chmod(p.home, 0o700);

  const runtime = node.runtime ?? 'containerd';
  await fs.mkdir(p.etcContainerd, { recursive: true });
  await fs.writeFile(
    path.join(p.etcContainerd, 'config.toml'),
    containerdConfig(runtime, drift.sandboxImage),
    {
      mode: 0o644,
    },
  );
  await fs.mkdir(p.etcSysconfig, { recursive: true });
  await fs.writeFile(path.join(p.etcSysconfig, 'kubelet'), kubeletSysconfig(runtime, drift.sandboxImage), {
    mode: 0o644,
  });
  await fs.mkdir(p.bin, { recursive: true });
  for (const f of [
    '_nksr_lib.sh',
    'systemctl',
    'rpcinfo',
    'reboot',
    'shutdown',
    'grub2-mkconfig',
    'df',
    'logrotate',
  ]) {
    await fs.copyFile(path.join(STANDINS_DIR, f), path.join(p.bin, f));
    await fs.chmod(path.join(p.bin, f), 0o755);
  }
  await fs.copyFile(path.join(STANDINS_DIR, '_nksr_absent'), path.join(p.bin, '_nksr_absent'));
  await fs.chmod(path.join(p.bin, '_nksr_absent'), 0o755);
  // The host may have real ones; the node namespace hides those its runtime would not have.
  const absent = runtime === 'docker' ? ['nerdctl'] : ['docker'];
  await fs.writeFile(
    path.join(p.bin, '_nksr_absent.list'),
    absent.flatMap((b) => ['/usr/bin/', '/usr/sbin/'].map((d) => `${d}${b}\n`)).join(''),
  );
  const imageCli = path.join(p.bin, runtime === 'docker' ? 'docker' : 'nerdctl');
  await fs.copyFile(path.join(STANDINS_DIR, 'image-cli'), imageCli);
  await fs.chmod(imageCli, 0o755);

  await fs.mkdir(p.tmp, { recursive: true });
  await fs.chmod(p.tmp, 0o1777);
  await fs.mkdir(p.units, { recursive: true });
  await fs.chmod(p.state, 0o755);
  await fs.writeFile(p.callsLog, '', { mode: 0o666 });
  await fs.chmod(p.callsLog, 0o666);
  for (const u of [...UNITS, runtime]) {
    const stopped = u === 'rpc-statd' && drift.rpcStatdStopped.includes(node.name);
    await fs.writeFile(path.join(p.units, u), stopped ? 'inactive\n' : 'active\n');
  }
  await fs.writeFile(path.join(p.units, 'rpc-statd.requires'), 'rpcbind\n');
  await fs.writeFile(p.runtime, `${runtime}\n`);
  await fs.writeFile(p.kernel, `${NODE_KERNEL}\n`);
  await fs.writeFile(p.rootUuid, `${rootUuid}\n`);
  await fs.writeFile(p.unpullable, drift.unpullableImages.map((x) => `${x}\n`).join(''));

  const missing = new Set(
    drift.missingImages
      .map((e) => e.split('='))
      .filter(([n]) => n === node.name)
      .map(([, img]) => normalizeImageRef(img ?? '')),
  );
  const images = drift.defaultImages.filter((img) => !missing.has(normalizeImageRef(img)));
  const store = runtime === 'docker' ? p.dockerImages : p.containerdImages('k8s.io');
  await fs.mkdir(path.dirname(store), { recursive: true });
  await fs.writeFile(store, images.map(imageLine).join(''));

  await fs.writeFile(p.sshdConfig, sshdConfig(node, p.hostKey, sshdPort));
  await fs.writeFile(p.mitmSshdConfig, sshdConfig(node, p.mitmHostKey, sshdPort));
}
