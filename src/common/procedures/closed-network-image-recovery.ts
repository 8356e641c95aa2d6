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

/** Nodes one recoverNodeImages activity works on, at most. */
export const MAX_BATCH_SIZE = 100;
/** What a batch's input and result may take: well under Temporal's 2 MB, and under 64 KB. */
export const BATCH_PAYLOAD_BUDGET = 48_000;
/** Images listed per node in results (failures first); the others are counted in imageCounts. */
export const MAX_LISTED_IMAGES = 8;
/** An image's reason in a result, at most (a command's stderr can be long). */
export const MAX_IMAGE_REASON = 300;

/**
 * The most bytes one node takes in a batch's input and result: its name and runtime, the images it
 * lists (each with its internal reference and a clipped reason), its counts, its disk use and cause.
 */
function nodeBytesAtMost(images: readonly string[], registry: string): number {
  const longest = Math.max(0, ...images.map((i) => i.length));
  const listed = Math.min(images.length, MAX_LISTED_IMAGES);
  return 800 + images.length * 8 + listed * (2 * longest + registry.length + MAX_IMAGE_REASON + 120);
}

/**
 * How a run cuts its nodes into recoverNodeImages activities: `size` nodes each (at most
 * BATCH_PAYLOAD_BUDGET per activity, so the history's event count grows by batch, not by node),
 * `lanes` batches at once and `inFlight` nodes at once inside each: never more than maxParallel
 * nodes over the run. Pure: the workflow and its tests plan the same way.
 */
export function recoveryBatchPlan(opts: {
  nodes: number;
  images: readonly string[];
  registry: string;
  maxParallel: number;
  batchSize?: number;
}): { size: number; batches: number; lanes: number; inFlight: number } {
  // The batch's input lists its images once, then each node by index.
  const shared = opts.images.reduce((sum, i) => sum + i.length + 3, 0);
  const fits = Math.floor((BATCH_PAYLOAD_BUDGET - shared) / nodeBytesAtMost(opts.images, opts.registry));
  const size = Math.max(1, Math.min(opts.batchSize ?? MAX_BATCH_SIZE, fits, MAX_BATCH_SIZE));
  const batches = Math.ceil(opts.nodes / size);
  const lanes = Math.max(1, Math.min(opts.maxParallel, batches));
  return { size, batches, lanes, inFlight: Math.max(1, Math.floor(opts.maxParallel / lanes)) };
}

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
  batchSize: z
    .number()
    .int()
    .min(1)
    .max(MAX_BATCH_SIZE)
    .optional()
    .describe('nodes per activity (default: as many as keep its input and result under 48 KB, at most 100)'),
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

/** kubelet's event reason when it cannot create a pod's sandbox (its pause image, among others). */
export const SANDBOX_FAILURE_REASON = 'FailedCreatePodSandBox';

/**
 * The image a FailedCreatePodSandBox message names: containerd's `failed to get sandbox image "…"`,
 * dockershim's `failed pulling image "…"`, or a plain `failed to pull image "…"`; undefined when the
 * sandbox failed for another reason (network plugin, cgroups).
 */
export function sandboxImageOf(message: string | undefined): string | undefined {
  const m = /(?:sandbox image|failed pulling image|failed to pull image) "([^"\s]+)"/.exec(message ?? '');
  if (!m) return undefined;
  try {
    parseImageReference(m[1]!);
    return m[1];
  } catch {
    return undefined;
  }
}

/** Kubernetes' registry moved from k8s.gcr.io to registry.k8s.io: the same images under either host. */
const K8S_REGISTRY_HOSTS = new Set(['k8s.gcr.io', 'registry.k8s.io']);

/** The repository of a reference without its tag, both Kubernetes registry hosts written as one. */
function upstreamRepository(image: string): string {
  const n = normalizeImageReference(image).replace(/@.*$/, '');
  const slash = n.indexOf('/');
  const host = n.slice(0, slash);
  const rest = n.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const repo = colon >= 0 ? rest.slice(0, colon) : rest;
  return `${K8S_REGISTRY_HOSTS.has(host) ? 'k8s.gcr.io' : host}/${repo}`;
}

/**
 * Whether `image` (what a pod or a node's config wants, with its tag) is one of the images a run asks
 * for: the same image, any tag of an image asked for without one, with k8s.gcr.io and registry.k8s.io
 * counting as one registry (nodes of one cluster name pause under either). For choosing what to
 * restore only; whether an image is present on a node is findImage's exact question.
 */
export function isWantedImage(wanted: string, image: string): boolean {
  try {
    if (findImage(wanted, [image])) return true;
    if (upstreamRepository(wanted) !== upstreamRepository(image)) return false;
    const tag = parseImageReference(wanted).tag;
    return tag === undefined || tag === parseImageReference(image).tag;
  } catch {
    return false;
  }
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
  /**
   * The image restored or planned: with its tag (an image asked for without one gets the tag the
   * node's runtime config names for its sandbox image); tag-unknown: as asked.
   */
  image: string;
  /** tag-unknown: asked for without a tag, missing, and nothing on the node names its tag. */
  outcome: 'present' | 'restored' | 'would-restore' | 'failed' | 'tag-unknown';
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

/** A node to work on: its runtime and the images it must have. */
export interface RecoveryTarget {
  node: string;
  runtime: NodeRuntimeKind;
  images: string[];
}

export interface ImageNodeEntry {
  node: string;
  outcome: 'restored' | 'would-restore' | 'all-present' | 'failed' | 'not-started' | 'skipped';
  runtime?: NodeRuntimeKind;
  /** Images not present before (failed first), at most MAX_LISTED_IMAGES; imageCounts counts all. */
  images: ImageEntry[];
  /** Every image of the node by outcome (present ones included). */
  imageCounts: Partial<Record<ImageEntry['outcome'], number>>;
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
  /** Failed nodes in full, then at most MAX_LISTED_SUCCESSES others; nodesOmitted counts the rest. */
  nodes: ImageNodeEntry[];
  nodesOmitted?: number;
  /** Every node of the run by outcome, and every image by outcome over all nodes. */
  nodeCounts: Partial<Record<ImageNodeEntry['outcome'], number>>;
  imageCounts: Partial<Record<ImageEntry['outcome'], number>>;
  /** At most MAX_LISTED_SUCCESSES pods; podsOmitted counts the rest. */
  pods: ImagePullFailure[];
  podsOmitted?: number;
  summary: string;
}

/** The node's entry from every image's entry: failures first, bounded, and counted. */
export function nodeEntry(
  base: Omit<ImageNodeEntry, 'outcome' | 'images' | 'imageCounts'>,
  entries: readonly ImageEntry[],
): ImageNodeEntry {
  const imageCounts: ImageNodeEntry['imageCounts'] = {};
  for (const e of entries) imageCounts[e.outcome] = (imageCounts[e.outcome] ?? 0) + 1;
  const notPresent = entries.filter((e) => e.outcome !== 'present');
  const listed = [
    ...notPresent.filter((e) => e.outcome === 'failed'),
    ...notPresent.filter((e) => e.outcome !== 'failed'),
  ].slice(0, MAX_LISTED_IMAGES);
  const failed = imageCounts.failed ?? 0;
  const outcome: ImageNodeEntry['outcome'] = failed
    ? 'failed'
    : imageCounts['would-restore']
      ? 'would-restore'
      : imageCounts.restored
        ? 'restored'
        : 'all-present';
  return {
    ...base,
    outcome,
    images: listed,
    imageCounts,
    ...(failed && !base.reason ? { reason: `${failed} images failed` } : {}),
  };
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
    'Closed network, default image missing (pull failures, or `FailedCreatePodSandBox` for the pause image): pulls the tag kubelet asks for from the internal registry on the nodes (docker or nerdctl -n k8s.io) and tags it as the original',
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
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['list'],
      why: 'fromEvents: FailedCreatePodSandBox events name the pause image a node lacks, and its tag',
    },
  ],
  report: (r: ClosedNetworkImageRecoveryResult) => ({
    summary: outcomeLine(r),
    tables: [
      failuresFirst(
        `nodes (${
          Object.entries(r.nodeCounts)
            .map(([o, n]) => `${n} ${o}`)
            .join(', ') || 'none'
        })`,
        ['NODE', 'OUTCOME', 'RUNTIME', 'IMAGES', 'DISK', 'LIKELY CAUSE / REASON'],
        r.nodes,
        (n) => NODE_FAILING.has(n.outcome),
        (n) => [
          n.node,
          n.outcome,
          n.runtime ?? '-',
          Object.entries(n.imageCounts)
            .map(([o, c]) => `${c} ${o}`)
            .join(', ') || '-',
          n.disk ? `${n.disk.usePercent}% ${n.disk.path}` : '-',
          n.reason ?? n.cause ?? '',
        ],
      ),
      failuresFirst(
        `images (${countOutcomes(Object.entries(r.imageCounts).flatMap(([o, n]) => Array<string>(n ?? 0).fill(o))) || 'none'})`,
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
      ...(r.imageCounts.failed
        ? [`images that failed: check that ${r.registry} holds them (same basename and tag)`]
        : []),
      ...(r.imageCounts['tag-unknown']
        ? [
            'images given without a tag and missing from a node: no tag was pulled; give image:tag, or use fromEvents (the failing pods name theirs)',
          ]
        : []),
      ...(r.dryRun && r.nodes.some((n) => n.outcome === 'would-restore')
        ? ['rerun without --dry-run to restore the images']
        : []),
    ],
  }),
});
