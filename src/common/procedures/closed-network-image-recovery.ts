/**
 * Registry entry, input schema and report of closedNetworkImageRecovery (docs/procedures.md §3): on a closed
 * network a node cannot pull a default NKS image (`failed to pull image "k8s.gcr.io/pause:3.2"`) once
 * kubelet's image GC removed it. Per node and image: skip if present; pull `<registry>/<basename>`
 * from NHN Cloud's internal registry, tag it as the original, remove the internal tag, verify, with
 * docker on docker nodes and `nerdctl --namespace k8s.io` on containerd nodes.
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { normalizeImageReference, parseImageReference, validateRepositoryPrefix } from '../image-ref';
import {
  BaseRemediationInputSchema,
  nodeFanOutFields,
  NODES_XOR_FROM_EVENTS,
  nodesXorFromEvents,
  nodeTargetFields,
} from '../inputs';
import { countOutcomes, failuresFirst, outcomeLine } from '../report';
import { defineProcedure, SSH_NODES } from './define';

/** The guide's list of images a new NKS node holds (its "closed network" section), duplicates removed. */
export const GUIDE_DEFAULT_IMAGES = [
  'kubernetesui/dashboard',
  'k8s.gcr.io/pause',
  'k8s.gcr.io/kube-proxy',
  'kubernetesui/metrics-scraper',
  'quay.io/coreos/flannel',
  'quay.io/coreos/flannel-cni',
  'calico-kube-controllers',
  'calico-typha',
  'calico-cni',
  'calico-node',
  'coredns/coredns',
  'k8s.gcr.io/metrics-server-amd64',
  'k8s.gcr.io/metrics-server/metrics-server',
  'gcr.io/google_containers/cluster-proportional-autoscaler-amd64',
  'k8s.gcr.io/cpa/cluster-proportional-autoscaler-amd64',
  'k8s.gcr.io/sig-storage/csi-attacher',
  'k8s.gcr.io/sig-storage/csi-provisioner',
  'k8s.gcr.io/sig-storage/csi-snapshotter',
  'k8s.gcr.io/sig-storage/csi-resizer',
  'k8s.gcr.io/sig-storage/csi-node-driver-registrar',
  'k8s.gcr.io/sig-storage/snapshot-controller',
  'docker.io/k8scloudprovider/cinder-csi-plugin',
  'k8s.gcr.io/node-problem-detector',
  'k8s.gcr.io/node-problem-detector/node-problem-detector',
  'k8s.gcr.io/autoscaling/cluster-autoscaler',
  'nvidia/k8s-device-plugin',
] as const;

/** NHN Cloud's internal registry the guide pulls from. */
export const DEFAULT_INTERNAL_REGISTRY = 'harbor-kr1.cloud.toastoven.net/container_service';

/** kubelet's image GC thresholds on NKS (imageGCHighThresholdPercent / imageGCLowThresholdPercent). */
export const IMAGE_GC_HIGH_PERCENT = 85;
export const IMAGE_GC_LOW_PERCENT = 80;

export const CLOSED_NETWORK_DEFAULTS = { maxParallel: 5, maxFailures: 3 } as const;

/** An image reference in image-ref.ts's grammar, by tag (a digest cannot be a `tag` target). */
const ImageSchema = z
  .string()
  .max(255)
  .superRefine((v, ctx) => {
    try {
      const ref = parseImageReference(v);
      if (ref.digest) ctx.addIssue({ code: 'custom', message: 'give the image by tag, not digest' });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

export const ClosedNetworkImageRecoveryInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  images: z
    .array(ImageSchema)
    .min(1)
    .max(200)
    .default([...GUIDE_DEFAULT_IMAGES])
    .describe(
      'images to restore (default: the guide’s default NKS images); without a tag, any tag on the node counts as present',
    ),
  registry: z
    .string()
    .max(200)
    .superRefine((v, ctx) => {
      const problem = validateRepositoryPrefix(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(DEFAULT_INTERNAL_REGISTRY)
    .describe('internal registry/prefix the images are pulled from as <registry>/<basename>'),
  ...nodeTargetFields('the nodes of pods failing to pull one of the images (only those images there)'),
  ...ApprovalInputSchema.shape,
  ...nodeFanOutFields(CLOSED_NETWORK_DEFAULTS),
})
  .strict()
  .refine(nodesXorFromEvents, NODES_XOR_FROM_EVENTS);

export type ClosedNetworkImageRecoveryInput = z.input<typeof ClosedNetworkImageRecoveryInputSchema>;
export type ClosedNetworkImageRecoveryOptions = z.output<typeof ClosedNetworkImageRecoveryInputSchema>;

/**
 * The reference on the node that satisfies `image`: the same image, or, for an image given without a
 * tag, any tag of its repository.
 */
export function findImage(image: string, onNode: readonly string[]): string | undefined {
  const parsed = parseImageReference(image);
  const want = normalizeImageReference(image);
  const repo = want.slice(0, want.lastIndexOf(':'));
  for (const ref of onNode) {
    let n: string;
    try {
      n = normalizeImageReference(ref);
    } catch {
      continue;
    }
    if (n === want) return ref;
    if (!parsed.tag && n.slice(0, n.lastIndexOf(':')) === repo) return ref;
  }
  return undefined;
}

/** The guide's `$(basename $TARGET_IMAGE)` under the internal registry. */
export function internalReference(registry: string, image: string): string {
  return `${registry.replace(/\/+$/, '')}/${image.slice(image.lastIndexOf('/') + 1)}`;
}

/** A pod failing to pull one of the images. */
export interface ImagePullFailure {
  namespace: string;
  name: string;
  node: string;
  image: string;
  reason: string;
}

export type NodeRuntimeKind = 'docker' | 'containerd';

export interface ImageEntry {
  image: string;
  outcome: 'present' | 'restored' | 'would-restore' | 'failed';
  /** The internal reference pulled (or that would be). */
  pulledFrom?: string;
  /** The reference found on the node when present. */
  found?: string;
  reason?: string;
}

export interface ImageFsUsage {
  path: string;
  usePercent: number;
}

export interface ImageNodeEntry {
  node: string;
  outcome: 'restored' | 'would-restore' | 'all-present' | 'failed' | 'not-started' | 'skipped';
  runtime?: NodeRuntimeKind;
  images: ImageEntry[];
  disk?: ImageFsUsage;
  /** The likely cause, from the disk use against kubelet's image-GC thresholds. */
  cause?: string;
  reason?: string;
}

export interface ClosedNetworkImageRecoveryResult {
  cluster: string;
  dryRun: boolean;
  registry: string;
  outcome: 'complete' | 'partial' | 'nothing-to-do' | 'approval-expired';
  /** Who approved the restores, when the run waited for approval. */
  approvedBy?: string;
  nodes: ImageNodeEntry[];
  pods: ImagePullFailure[];
  summary: string;
}

/** What the disk use says about kubelet's image GC. */
export function likelyCause(usePercent: number): string {
  if (usePercent > IMAGE_GC_HIGH_PERCENT)
    return `image filesystem ${usePercent}% > ${IMAGE_GC_HIGH_PERCENT}%: kubelet's image GC removes unused images (likely cause); free disk space`;
  if (usePercent > IMAGE_GC_LOW_PERCENT)
    return `image filesystem ${usePercent}%, between ${IMAGE_GC_LOW_PERCENT} and ${IMAGE_GC_HIGH_PERCENT}%: image GC ran recently if it went above ${IMAGE_GC_HIGH_PERCENT}% (likely cause)`;
  return `image filesystem ${usePercent}% ≤ ${IMAGE_GC_LOW_PERCENT}%: image GC is not running now; the image was removed earlier or by hand`;
}

const NODE_FAILING = new Set(['failed', 'not-started', 'skipped']);

export const closedNetworkImageRecoveryProcedure = defineProcedure({
  workflowType: 'closedNetworkImageRecovery',
  cliName: 'closed-network-image-recovery',
  description:
    'Closed network, default image missing: pulls it from the internal registry on the nodes (docker or nerdctl -n k8s.io) and tags it as the original',
  guide: 'docs/procedures.md §3',
  inputSchema: ClosedNetworkImageRecoveryInputSchema,
  mutates: true,
  usesSsh: true,
  permissions: [
    SSH_NODES,
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list'],
      why: 'fromEvents: finds the pods failing to pull one of the images, and their nodes',
    },
  ],
  report: (r: ClosedNetworkImageRecoveryResult) => ({
    summary: outcomeLine(r),
    tables: [
      failuresFirst(
        `nodes (${countOutcomes(r.nodes.map((n) => n.outcome)) || 'none'})`,
        ['NODE', 'OUTCOME', 'RUNTIME', 'IMAGES', 'DISK', 'LIKELY CAUSE / REASON'],
        r.nodes,
        (n) => NODE_FAILING.has(n.outcome),
        (n) => [
          n.node,
          n.outcome,
          n.runtime ?? '-',
          countOutcomes(n.images.map((i) => i.outcome)) || '-',
          n.disk ? `${n.disk.usePercent}% ${n.disk.path}` : '-',
          n.reason ?? n.cause ?? '',
        ],
      ),
      failuresFirst(
        'images',
        ['NODE', 'IMAGE', 'OUTCOME', 'FROM / REASON'],
        r.nodes.flatMap((n) => n.images.map((i) => ({ node: n.node, ...i }))),
        (i) => i.outcome === 'failed',
        (i) => [i.node, i.image, i.outcome, i.reason ?? i.pulledFrom ?? i.found ?? ''],
      ),
    ],
    next: [
      ...(r.nodes.some((n) => n.disk && n.disk.usePercent > IMAGE_GC_LOW_PERCENT)
        ? [
            `nodes above ${IMAGE_GC_LOW_PERCENT}% disk use: free space, or kubelet's image GC removes the images again`,
          ]
        : []),
      ...(r.nodes.some((n) => n.images.some((i) => i.outcome === 'failed'))
        ? [`images that failed: check that ${r.registry} holds them (same basename and tag)`]
        : []),
      ...(r.dryRun && r.nodes.some((n) => n.outcome === 'would-restore')
        ? ['rerun without --dry-run to restore the images']
        : []),
    ],
  }),
});
