import { z } from 'zod';

/**
 * The logrotate config the guide installs at /etc/logrotate.d/docker (its first code block), byte for
 * byte as `cat > ... <<EOF` writes it: a trailing newline and nothing else.
 */
export const GUIDE_DOCKER_LOGROTATE = `/var/lib/docker/containers/*/*.log {
    rotate 10
    copytruncate
    missingok
    notifempty
    compress
    maxsize 100M
    daily
    dateext
    dateformat -%Y%m%d-%s
    create 0644 root root
}
`;

/** "Another version": what an older node image or a manual edit left behind. */
export const OTHER_DOCKER_LOGROTATE = `/var/lib/docker/containers/*/*.log {
    rotate 5
    copytruncate
    missingok
    notifempty
    compress
    maxsize 50M
    weekly
}
`;

/**
 * Images a fresh NKS node holds (a sample of the guide's list of default images), in the store kubelet
 * sees: containerd namespace k8s.io, or docker's store on docker nodes.
 */
export const DEFAULT_NODE_IMAGES = [
  'k8s.gcr.io/pause:3.2',
  'k8s.gcr.io/kube-proxy:v1.24.3',
  'docker.io/coredns/coredns:1.8.0',
  'k8s.gcr.io/metrics-server/metrics-server:v0.5.2',
  'k8s.gcr.io/sig-storage/csi-attacher:v3.4.0',
  'k8s.gcr.io/sig-storage/csi-provisioner:v3.1.0',
  'k8s.gcr.io/sig-storage/csi-resizer:v1.4.0',
  'k8s.gcr.io/sig-storage/csi-node-driver-registrar:v2.5.0',
  'docker.io/k8scloudprovider/cinder-csi-plugin:v1.24.0',
];

/** The sandbox image of an NKS node: the guide's `k8s.gcr.io/pause:3.2`, one of DEFAULT_NODE_IMAGES. */
export const DEFAULT_SANDBOX_IMAGE = 'k8s.gcr.io/pause:3.2';

const nodeList = z.array(z.string().min(1));

/**
 * Node drift at `up` (StartSshNodesOptions.drift). Every key is optional; nodes are named by their
 * Kubernetes name or by their 1-based position ("2" is the second node). Omitted logrotate keys get the
 * default drift below; an explicit [] means "no such drift".
 */
export const SimNodeDriftSchema = z
  .object({
    /** Nodes without /etc/logrotate.d/docker. Default: the 2nd node (if there are at least 2). */
    logrotateMissing: nodeList.optional(),
    /** Nodes whose /etc/logrotate.d/docker is OTHER_DOCKER_LOGROTATE. Default: the 4th node (or the last, if 3). */
    logrotateDifferent: nodeList.optional(),
    /** Nodes whose rpc-statd unit is stopped (inactive) at `up`. Default: none. */
    rpcStatdStopped: nodeList.default([]),
    /** "node=image" entries: that default image is absent from that node's kubelet-visible store. */
    missingImages: z
      .array(z.string().regex(/^[^=\s]+=[^=\s]+$/, 'missing image entries are node=image'))
      .default([]),
    /** Glob patterns of image references no node can pull (e.g. "k8s.gcr.io/*" for a closed network). */
    unpullableImages: z.array(z.string().min(1)).default([]),
    /** Images present on every node at `up`. */
    defaultImages: z.array(z.string().min(1)).default(DEFAULT_NODE_IMAGES),
    /**
     * The pause (sandbox) image each node's runtime config names: containerd's `sandbox_image` in
     * /etc/containerd/config.toml, kubelet's `--pod-infra-container-image` in /etc/sysconfig/kubelet.
     */
    sandboxImage: z
      .string()
      .regex(/^[^\s"'\\]+$/, 'an image reference')
      .default(DEFAULT_SANDBOX_IMAGE),
    /** How long a rebooting node stays down (sshd refusing, Kubernetes node NotReady). */
    rebootDownMs: z.number().int().min(0).max(600_000).default(5_000),
  })
  .strict();

export type SimNodeDriftInput = z.input<typeof SimNodeDriftSchema>;
export type SimNodeDrift = z.output<typeof SimNodeDriftSchema> & {
  logrotateMissing: string[];
  logrotateDifferent: string[];
};

/** Parses the drift record and fills the default logrotate drift from the node list. */
export function resolveDrift(raw: Record<string, unknown> | undefined, nodeNames: string[]): SimNodeDrift {
  const parsed = SimNodeDriftSchema.parse(raw ?? {});
  const envDelay = process.env.NKSR_SIM_REBOOT_DOWN_MS;
  if (raw?.rebootDownMs === undefined && envDelay !== undefined && /^\d+$/.test(envDelay)) {
    parsed.rebootDownMs = Number(envDelay);
  }
  const pick = (i: number): string[] => (nodeNames[i] === undefined ? [] : [nodeNames[i]]);
  const byPosition = (n: string): string => (/^\d+$/.test(n) ? (nodeNames[Number(n) - 1] ?? n) : n);
  const names = (list: string[]) => list.map(byPosition);
  const drift: SimNodeDrift = {
    ...parsed,
    logrotateMissing: names(parsed.logrotateMissing ?? pick(1)),
    logrotateDifferent: names(parsed.logrotateDifferent ?? (nodeNames.length >= 4 ? pick(3) : pick(2))),
    rpcStatdStopped: names(parsed.rpcStatdStopped),
    missingImages: parsed.missingImages.map((e) => {
      const [node = '', image = ''] = e.split('=');
      return `${byPosition(node)}=${image}`;
    }),
  };
  const known = new Set(nodeNames);
  const named = [
    ...drift.logrotateMissing,
    ...drift.logrotateDifferent,
    ...drift.rpcStatdStopped,
    ...drift.missingImages.map((e) => e.split('=')[0] ?? ''),
  ];
  const unknown = named.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new Error(`drift names nodes that have no sshd: ${[...new Set(unknown)].join(', ')}`);
  }
  return drift;
}
