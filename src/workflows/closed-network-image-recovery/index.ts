/**
 * closedNetworkImageRecovery (docs/procedures.md §3): on a closed network a node cannot pull a
 * default NKS image that kubelet's image GC removed (`failed to pull image "k8s.gcr.io/pause:3.2"`).
 *
 * 1. Targets: the given nodes with the given images, or (fromEvents) the nodes of pods failing to
 *    pull one of the images or whose sandbox (pause) image is missing (FailedCreatePodSandBox), each
 *    with the images, by tag, its pods want. The runtime of each node comes from the Kubernetes API
 *    (`containerRuntimeVersion`): docker, or containerd (nerdctl -n k8s.io).
 * 2. The nodes in batches, one recoverNodeImages activity each (shared fan-out, failure budget
 *    counted in nodes), so the history grows by batch: per node an image asked for without a tag
 *    gets the tag of the sandbox image the node's runtime config names (or none: never `:latest`);
 *    each image is listed first; with dryRun the plan (which images would be pulled from where) is
 *    returned and nothing changes. Otherwise a missing image is pulled as `<registry>/<basename>`,
 *    tagged as the original, the internal tag removed and the result verified; a present image is
 *    left alone.
 * 3. Per node the image filesystem's disk use against kubelet's GC thresholds (85/80 %): the likely
 *    cause.
 * The result lists failed nodes in full and counts the rest. A rerun finds every restored image
 * present and changes nothing.
 */
import {
  ClosedNetworkImageRecoveryInputSchema,
  DEFAULT_INTERNAL_REGISTRY,
  type ClosedNetworkImageRecoveryInput,
  type ClosedNetworkImageRecoveryOptions,
  type ClosedNetworkImageRecoveryResult,
  type ImageEntry,
  type ImagePullFailure,
  type NodeRuntimeKind,
  type RecoveryTarget,
} from '../../common/procedures/closed-network-image-recovery';
import { notableFirst } from '../../common/report';
import type { NodeReport } from '../definitions';
import { clusterScanActivities } from '../activity-profiles';
import { approvalStep } from '../lib/approval';
import { runRemediation, type ProgressTracker } from '../lib/progress';
import { withClusterLock } from '../lib/cluster-lock';
import { runPreflight } from '../lib/preflight';
import { selectTargets } from '../lib/targets';
import { isFailedNode, restoreImages } from './batches';
import type { RecoveryRun } from './run';

type Target = RecoveryTarget;

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
    run.nodes.set(s.node, {
      node: s.node,
      outcome: 'skipped',
      images: [],
      imageCounts: {},
      reason: s.reason,
    });
  const known = new Map(nodes.map((n) => [n.name, n]));
  return targets.flatMap((node): Target[] => {
    const { containerRuntime } = known.get(node)!;
    const runtime = runtimeKind(containerRuntime);
    if (runtime) return [{ node, runtime, images: imagesOf.get(node)! }];
    const reason = `container runtime ${JSON.stringify(containerRuntime)} is neither docker nor containerd`;
    run.nodes.set(node, { node, outcome: 'skipped', images: [], imageCounts: {}, reason });
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
      imageCounts: {},
      reason: 'approval expired',
    });
  return false;
}

function buildReport(run: RecoveryRun): ClosedNetworkImageRecoveryResult {
  const { input, wanted } = run;
  const all = wanted.map((n) => run.nodes.get(n)!).filter(Boolean);
  const imageCounts: ClosedNetworkImageRecoveryResult['imageCounts'] = {};
  const nodeCounts: ClosedNetworkImageRecoveryResult['nodeCounts'] = {};
  for (const n of all) {
    nodeCounts[n.outcome] = (nodeCounts[n.outcome] ?? 0) + 1;
    for (const [o, c] of Object.entries(n.imageCounts) as [ImageEntry['outcome'], number][])
      imageCounts[o] = (imageCounts[o] ?? 0) + c;
  }
  const count = (o: ImageEntry['outcome']) => imageCounts[o] ?? 0;
  const bad = all.filter((n) => ['failed', 'not-started', 'skipped'].includes(n.outcome)).length;
  const restored = count(input.dryRun ? 'would-restore' : 'restored');
  const tagUnknown = count('tag-unknown');
  const summary =
    wanted.length === 0
      ? 'no pod fails to pull one of the images or to create its sandbox'
      : run.expiredAfter
        ? `approval expired: no decision within ${run.expiredAfter}; no node changed`
        : `${restored} images ${input.dryRun ? 'would be restored' : 'restored'}, ${count('present')} present on ${wanted.length} nodes` +
          (tagUnknown ? `, ${tagUnknown} missing with no tag known (not pulled)` : '') +
          (bad ? `, ${bad} nodes failed, skipped or not started` : '');
  const nodes = notableFirst(all, isFailedNode);
  const pods = notableFirst(run.pods, () => false);
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
    nodes: nodes.listed,
    ...(nodes.omitted ? { nodesOmitted: nodes.omitted } : {}),
    nodeCounts,
    imageCounts,
    pods: pods.listed,
    ...(pods.omitted ? { podsOmitted: pods.omitted } : {}),
    summary,
  };
}
