import path from 'node:path';

/** Where the stand-ins find their node's state; bind-mounted per node inside its mount namespace. */
export const NODE_STATE_MOUNT = '/var/lib/nksr-sim';
export const SSH_USER = 'centos';
export const SSH_PORT = 22;
/** With an SSH delay (sim up --ssh-delay-ms), sshd listens here and a delay proxy on SSH_PORT. */
export const SSH_BACKEND_PORT = 2222;

/** Files of the SSH-node part under the simulator's state dir. */
export function simPaths(dir: string) {
  const root = path.join(dir, 'nodes');
  return {
    root,
    privateKey: path.join(dir, 'id_ed25519'),
    publicKey: path.join(dir, 'id_ed25519.pub'),
    knownHosts: path.join(dir, 'known_hosts'),
    supervisorConfig: path.join(root, 'supervisor.json'),
    supervisorPid: path.join(root, 'supervisor.pid'),
    supervisorLog: path.join(root, 'supervisor.log'),
    supervisorSocket: path.join(root, 'supervisor.sock'),
    /** Every reboot of every node: `<iso> <node> down` when it goes down, `<iso> <node> up boot_id=…` when back. */
    rebootsLog: path.join(root, 'reboots.log'),
  };
}

/** Per-node files. Paths under `state` are what the node sees at NODE_STATE_MOUNT. */
export function nodePaths(dir: string, name: string) {
  const root = path.join(simPaths(dir).root, name);
  const state = path.join(root, 'state');
  return {
    root,
    etcLogrotateD: path.join(root, 'etc-logrotate.d'),
    etcDefault: path.join(root, 'etc-default'),
    etcHosts: path.join(root, 'etc-hosts'),
    /** /etc/containerd: config.toml with the CRI plugin's sandbox_image (containerd nodes). */
    etcContainerd: path.join(root, 'etc-containerd'),
    /** /etc/sysconfig: kubelet's KUBELET_EXTRA_ARGS (docker nodes name their pause image there). */
    etcSysconfig: path.join(root, 'etc-sysconfig'),
    boot: path.join(root, 'boot'),
    grubCfg: path.join(root, 'boot', 'grub2', 'grub.cfg'),
    home: path.join(root, 'home'),
    tmp: path.join(root, 'tmp'),
    bin: path.join(root, 'bin'),
    procCmdline: path.join(root, 'proc-cmdline'),
    bootId: path.join(root, 'boot-id'),
    hostKey: path.join(root, 'ssh_host_ed25519_key'),
    mitmHostKey: path.join(root, 'mitm_ssh_host_ed25519_key'),
    sshdConfig: path.join(root, 'sshd_config'),
    mitmSshdConfig: path.join(root, 'sshd_config.mitm'),
    sshdLog: path.join(root, 'sshd.log'),
    /** Mount namespaces this node has had (one per line), so `down` can prove none is left. */
    mountNamespaces: path.join(root, 'mount-namespaces'),
    state,
    callsLog: path.join(state, 'calls.log'),
    units: path.join(state, 'units'),
    rebootRequest: path.join(state, 'reboot-request'),
    bootsLog: path.join(state, 'boots.log'),
    runtime: path.join(state, 'runtime'),
    unpullable: path.join(state, 'unpullable'),
    kernel: path.join(state, 'kernel'),
    rootUuid: path.join(state, 'root-uuid'),
    dockerImages: path.join(state, 'images', 'docker.list'),
    containerdImages: (namespace: string) => path.join(state, 'images', 'containerd', `${namespace}.list`),
  };
}

export type NodePaths = ReturnType<typeof nodePaths>;

/** Same normalization as the docker/nerdctl stand-ins: "nginx" → "docker.io/library/nginx:latest". */
export function normalizeImageRef(ref: string): string {
  let r = ref;
  const first = r.split('/')[0] ?? '';
  if (!r.includes('/')) r = `docker.io/library/${r}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') r = `docker.io/${r}`;
  const last = r.slice(r.lastIndexOf('/') + 1);
  if (!last.includes(':') && !r.includes('@')) r = `${r}:latest`;
  return r;
}

/** The kernel command line a CentOS 7 node boots with (before anyone adds cgroup.memory=nokmem). */
export const INITIAL_GRUB_CMDLINE_LINUX =
  'console=tty0 crashkernel=auto console=ttyS0,115200 net.ifnames=0 biosdevname=0';
export const NODE_KERNEL = '3.10.0-1160.el7.x86_64';

/**
 * What the bootloader passes to the kernel, read from grub.cfg's first linux16 line, as /proc/cmdline
 * shows it. Undefined if grub.cfg has no such line (the node then keeps its current command line).
 */
export function cmdlineFromGrubCfg(grubCfg: string): string | undefined {
  const m = /^\s*linux(?:16|efi)?\s+(\S+)\s*(.*)$/m.exec(grubCfg);
  if (!m) return undefined;
  return `BOOT_IMAGE=${m[1]}${m[2] ? ` ${m[2].trim()}` : ''}`;
}
