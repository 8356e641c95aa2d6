/**
 * SSH nodes of the simulator (issue 3). Contract between the control-plane part of sim/ (which calls
 * these from `up`/`down`) and the SSH-node part (which implements them).
 */
export interface SimNodeSpec {
  /** Kubernetes node name. */
  name: string;
  /** The node's InternalIP, a loopback address: `${ipPrefix}.${i}`. */
  ip: string;
}

export interface StartSshNodesOptions {
  /** The simulator's state dir (absolute); SSH key, known_hosts and per-node roots go under it. */
  dir: string;
  /** Absolute path of the admin kubeconfig, to annotate nodes on reboot. */
  kubeconfigPath: string;
  /** Absolute path of kubectl. */
  kubectlPath: string;
  nodes: SimNodeSpec[];
  /** Free-form drift settings from `up` flags; the SSH-node part defines and documents them. */
  drift?: Record<string, unknown>;
}

export interface SshNodesInfo {
  privateKeyPath: string;
  knownHostsPath: string;
  user: string;
  port: number;
  /** Names of nodes that got an sshd. */
  nodes: string[];
}

/** Placeholder until the SSH-node part lands: no node gets an sshd. */
export async function startSshNodes(_opts: StartSshNodesOptions): Promise<SshNodesInfo | undefined> {
  return undefined;
}

export async function stopSshNodes(_opts: { dir: string }): Promise<void> {}
