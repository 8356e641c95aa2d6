/**
 * closedNetworkImageRecovery (docs/procedures.md §3): on a closed network a node cannot pull a
 * default NKS image that kubelet's image GC removed (`failed to pull image "k8s.gcr.io/pause:3.2"`).
 *
 * 1. Targets: the given nodes with the given images, or (fromEvents) the nodes of pods failing to
 *    pull one of the images, each with the images its pods want. The runtime of each node comes from
 *    the Kubernetes API (`containerRuntimeVersion`): docker, or containerd (nerdctl -n k8s.io).
 * 2. Per node (bounded fan-out, failure budget): each image is listed first; with dryRun the plan
 *    (which images would be pulled from where) is returned and nothing changes. Otherwise a missing
 *    image is pulled as `<registry>/<basename>`, tagged as the original, the internal tag removed
 *    and the result verified; a present image is left alone.
 * 3. Per node the image filesystem's disk use against kubelet's GC thresholds (85/80 %): the likely
 *    cause.
 * A rerun finds every restored image present and changes nothing.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  ClosedNetworkImageRecoveryInputSchema,
  DEFAULT_INTERNAL_REGISTRY,
  type ClosedNetworkImageRecoveryInput,
  type ClosedNetworkImageRecoveryOptions,
  type ClosedNetworkImageRecoveryResult,
  findImage,
  type ImageEntry,
  type ImageNodeEntry,
  type ImagePullFailure,
  internalReference,
  likelyCause,
  type NodeRuntimeKind,
} from '../common/procedures/closed-network-image-recovery';
import type { NodeReport } from './definitions';
import { clusterScanActivities, remoteActivities, waitActivities } from './activity-profiles';
import { approvalStep } from './lib/approval';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { withClusterLock } from './lib/cluster-lock';
import { runPreflight } from './lib/preflight';
import { selectTargets } from './lib/targets';

/** A node to work on: its runtime and the images it must have. */
interface Target {
  node: string;
  runtime: NodeRuntimeKind;
  images: string[];
}

/** One run: its input, the pods found, and every node's entry as the run learns it. */
interface RecoveryRun {
  input: ClosedNetworkImageRecoveryOptions;
  progress: ProgressTracker;
  pods: ImagePullFailure[];
  wanted: string[];
  nodes: Map<string, ImageNodeEntry>;
  approvedBy?: string;
  /** How long an approval gate waited before it expired. */
  expiredAfter?: string;
}

export function closedNetworkImageRecovery(
  raw: ClosedNetworkImageRecoveryInput,
): Promise<ClosedNetworkImageRecoveryResult> {
  return runRemediation(
    'closedNetworkImageRecovery',
    raw,
    ClosedNetworkImageRecoveryInputSchema,
    async (input, progress) => {
      const preflight = await runPreflight(progress, input);
      const { pods, imagesOf } = await findWantedImages(input, progress, preflight.nodes.length);
      const wanted = [...imagesOf.keys()].sort();
      const run: RecoveryRun = { input, progress, pods, wanted, nodes: new Map() };
      const targets = selectRecoveryTargets(run, preflight.nodes, imagesOf);
      if (input.dryRun) await restoreImages(run, targets);
      else if (targets.length > 0 && (await approveRestores(run, targets)))
        await withClusterLock(progress, input, () => restoreImages(run, targets));
      return buildReport(run);
    },
  );
}

/** 1. Which images each node must have: the input's, or those its failing pods want (fromEvents). */
async function findWantedImages(
  input: ClosedNetworkImageRecoveryOptions,
  progress: ProgressTracker,
  nodeCount: number,
) {
  const imagesOf = new Map<string, string[]>();
  if (!input.fromEvents) {
    for (const n of input.nodes ?? []) imagesOf.set(n, [...new Set(input.images)]);
    return { pods: [] as ImagePullFailure[], imagesOf };
  }
  const { findImagePullFailures } = clusterScanActivities(nodeCount);
  progress.phase('find-pods', 'pods failing to pull one of the images');
  const pods = await findImagePullFailures({ cluster: input.cluster, images: input.images });
  for (const p of pods) {
    const list = imagesOf.get(p.node) ?? [];
    if (!list.includes(p.image)) list.push(p.image);
    imagesOf.set(p.node, list);
    progress.item(`pod/${p.namespace}/${p.name}`, 'object', 'pending', `${p.reason} ${p.image} on ${p.node}`);
  }
  return { pods, imagesOf };
}

/** Unknown, NotReady and nodes on a runtime other than docker or containerd are skipped. */
function selectRecoveryTargets(
  run: RecoveryRun,
  nodes: NodeReport[],
  imagesOf: Map<string, string[]>,
): Target[] {
  const { targets, skipped } = selectTargets(run.wanted, nodes);
  for (const s of skipped)
    run.nodes.set(s.node, { node: s.node, outcome: 'skipped', images: [], reason: s.reason });
  const known = new Map(nodes.map((n) => [n.name, n]));
  return targets.flatMap((node): Target[] => {
    const { containerRuntime } = known.get(node)!;
    const runtime = runtimeKind(containerRuntime);
    if (runtime) return [{ node, runtime, images: imagesOf.get(node)! }];
    const reason = `container runtime ${JSON.stringify(containerRuntime)} is neither docker nor containerd`;
    run.nodes.set(node, { node, outcome: 'skipped', images: [], reason });
    return [];
  });
}

/** `containerd://1.6.28` → containerd; `docker://20.10.24` → docker; anything else: not handled. */
function runtimeKind(version: string): NodeRuntimeKind | undefined {
  const scheme = version.split('://')[0];
  return scheme === 'docker' || scheme === 'containerd' ? scheme : undefined;
}

/**
 * The approval gate before any image is pulled and tagged as an original (by default the worker's
 * policy always asks). False: it expired, and no node was changed.
 */
async function approveRestores(run: RecoveryRun, targets: Target[]): Promise<boolean> {
  const { input, progress } = run;
  const images = new Set(targets.flatMap((t) => t.images)).size;
  const risks =
    input.registry === DEFAULT_INTERNAL_REGISTRY
      ? []
      : [`images come from ${input.registry}, not NHN's registry`];
  const what = `pull ${images} image(s) from ${input.registry} on ${targets.length} nodes and tag them as the originals`;
  const gate = await approvalStep(progress, what, input, risks);
  if (gate?.decision !== 'expired') {
    run.approvedBy = gate?.approver;
    return true;
  }
  run.expiredAfter = gate.after;
  for (const t of targets)
    run.nodes.set(t.node, {
      node: t.node,
      outcome: 'not-started',
      runtime: t.runtime,
      images: [],
      reason: 'approval expired',
    });
  return false;
}

/** 2–3. Per node under the failure budget: plan or restore each image, then the disk use. */
async function restoreImages(run: RecoveryRun, targets: Target[]): Promise<void> {
  const { input, progress } = run;
  progress.phase(
    input.dryRun ? 'plan' : 'restore-images',
    `${targets.length} nodes, ${input.maxParallel} at a time`,
  );
  await fanOut<Target, ImageNodeEntry>({
    items: targets,
    key: (t) => t.node,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: (t) => recoverNode(input, t),
    isFailure: (e) => e.outcome === 'failed',
    onError: (t, err) => ({
      node: t.node,
      outcome: 'failed',
      runtime: t.runtime,
      images: [],
      reason: failureSummary(err),
    }),
    onStart: (t) =>
      progress.item(`node/${t.node}`, 'node', 'running', `${t.images.length} images (${t.runtime})`),
    onDone: (t, e) => {
      run.nodes.set(t.node, e);
      progress.item(
        `node/${t.node}`,
        'node',
        e.outcome === 'failed' ? 'failed' : 'succeeded',
        e.reason ?? e.outcome,
      );
    },
    onNotStarted: (t) =>
      run.nodes.set(t.node, {
        node: t.node,
        outcome: 'not-started',
        runtime: t.runtime,
        images: [],
        reason: 'failure budget spent',
      }),
  });
}

async function recoverNode(input: ClosedNetworkImageRecoveryOptions, t: Target): Promise<ImageNodeEntry> {
  const { cluster, registry } = input;
  const { node, runtime } = t;
  const { listNodeImages, imageFsUsage } = remoteActivities();
  const { restoreNodeImage } = waitActivities({ scheduleToCloseTimeout: '20m' });
  const entries: ImageEntry[] = [];
  if (input.dryRun) {
    const onNode = await listNodeImages({ cluster, node, runtime });
    for (const image of t.images) {
      const found = findImage(image, onNode);
      entries.push(
        found
          ? { image, outcome: 'present', found }
          : { image, outcome: 'would-restore', pulledFrom: internalReference(registry, image) },
      );
    }
  } else {
    for (const image of t.images) {
      try {
        const r = await restoreNodeImage({ cluster, node, runtime, image, registry });
        entries.push({
          image,
          outcome: r.outcome,
          ...(r.outcome === 'restored' ? { pulledFrom: r.pulledFrom } : {}),
          ...(r.found ? { found: r.found } : {}),
        });
      } catch (err) {
        if (isCancellation(err)) throw err;
        entries.push({ image, outcome: 'failed', reason: failureSummary(err) });
      }
    }
  }
  const disk = await imageFsUsage({ cluster, node, runtime });
  const failed = entries.filter((e) => e.outcome === 'failed').length;
  const outcome: ImageNodeEntry['outcome'] = failed
    ? 'failed'
    : entries.some((e) => e.outcome === 'would-restore')
      ? 'would-restore'
      : entries.some((e) => e.outcome === 'restored')
        ? 'restored'
        : 'all-present';
  return {
    node,
    outcome,
    runtime,
    images: entries,
    disk,
    cause: likelyCause(disk.usePercent),
    ...(failed ? { reason: `${failed} images failed` } : {}),
  };
}

function buildReport(run: RecoveryRun): ClosedNetworkImageRecoveryResult {
  const { input, wanted } = run;
  const all = wanted.map((n) => run.nodes.get(n)!).filter(Boolean);
  const count = (o: ImageEntry['outcome']) =>
    all.reduce((s, n) => s + n.images.filter((i) => i.outcome === o).length, 0);
  const bad = all.filter((n) => ['failed', 'not-started', 'skipped'].includes(n.outcome)).length;
  const restored = count(input.dryRun ? 'would-restore' : 'restored');
  const summary =
    wanted.length === 0
      ? 'no pod fails to pull one of the images'
      : run.expiredAfter
        ? `approval expired: no decision within ${run.expiredAfter}; no node changed`
        : `${restored} images ${input.dryRun ? 'would be restored' : 'restored'}, ${count('present')} present on ${wanted.length} nodes` +
          (bad ? `, ${bad} nodes failed, skipped or not started` : '');
  return {
    cluster: input.cluster,
    dryRun: input.dryRun,
    registry: input.registry,
    outcome:
      wanted.length === 0
        ? 'nothing-to-do'
        : run.expiredAfter
          ? 'approval-expired'
          : bad
            ? 'partial'
            : 'complete',
    ...(run.approvedBy ? { approvedBy: run.approvedBy } : {}),
    nodes: all,
    pods: run.pods,
    summary,
  };
}
