/**
 * Names and defaults of the simulator shared by its modules, its CLI and the test helpers.
 * Annotation names are a contract with the SSH-node part (reboot) and with tests: change them only
 * together with sim/stages/node.yaml and sim/nodes/.
 */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const SIM_ROOT = __dirname;

export const CLUSTER_NAME = 'sim';
export const CONTEXT_NAME = 'sim';
export const KUBERNETES_VERSION = 'v1.34.4';
export const KWOK_VERSION = process.env.KWOK_VERSION ?? 'v0.8.0';

/** kwok manages exactly the nodes carrying this annotation. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
export const KWOK_NODE_ANNOTATION_VALUE = 'fake';
/** `"true"`: the node reports Ready=False (KubeletNotReady) until the annotation is removed. */
export const NOT_READY_ANNOTATION = 'sim.nksr.io/not-ready';
/** When present, the node's status.nodeInfo.bootID follows it. */
export const BOOT_ID_ANNOTATION = 'sim.nksr.io/boot-id';
/** Bumped on pods waiting for an image when the fault rules change, so kwok looks at them again. */
export const FAULT_GENERATION_ANNOTATION = 'sim.nksr.io/fault-generation';

export const DEFAULT_IP_PREFIX = '127.0.1';
/** NKS's default pod network; kwok hands out pod IPs from it. */
export const POD_CIDR = '10.100.0.0/16';
export const SERVICE_CIDR = '10.254.0.0/16';

/** The wrong calico repository of older NKS clusters (see sim/fixtures/nks-kube-system.yaml). */
export const BROKEN_CALICO_REPOSITORY = 'docker.io/nhn-broken/calico';

export function nodeName(index: number): string {
  return `sim-default-worker-node-${index}`;
}

/** Host addresses per /24 used for nodes: `.1`–`.254` (`.0` and `.255` are not usable host addresses). */
export const NODES_PER_SUBNET = 254;

/**
 * Node i (0-based) lives at `${prefix}.${i + 1}` for the first 254 nodes; beyond, the third octet
 * counts up (127.1.0.x, then 127.1.1.x, ...), so a prefix names the first of as many /24s as needed.
 */
export function nodeIp(prefix: string, index: number): string {
  const [a, b, c] = prefix.split('.').map(Number) as [number, number, number];
  const subnet = Math.floor(index / NODES_PER_SUBNET);
  return `${a}.${b}.${c + subnet}.${(index % NODES_PER_SUBNET) + 1}`;
}

/** The /24 prefixes (three octets) the first `nodes` nodes occupy. */
export function nodeSubnets(prefix: string, nodes: number): string[] {
  const count = Math.max(1, Math.ceil(nodes / NODES_PER_SUBNET));
  return Array.from({ length: count }, (_, i) => nodeIp(prefix, i * NODES_PER_SUBNET).replace(/\.\d+$/, ''));
}

export function defaultSimDir(): string {
  return path.resolve(process.env.NKSR_SIM_DIR ?? path.join(REPO_ROOT, '.sim'));
}

export function defaultIpPrefix(): string {
  return process.env.NKSR_SIM_IP_PREFIX ?? DEFAULT_IP_PREFIX;
}

export const CONTAINER_RUNTIMES = {
  containerd: 'containerd://1.6.28',
  docker: 'docker://20.10.24',
} as const;
export type ContainerRuntime = keyof typeof CONTAINER_RUNTIMES;

/** The runtime a node's reported `containerRuntimeVersion` (as kept in the sim state) names. */
export function runtimeKind(reported: string): ContainerRuntime {
  return reported.startsWith('docker') ? 'docker' : 'containerd';
}
