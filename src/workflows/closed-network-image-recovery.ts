/**
 * closedNetworkImageRecovery (PROCEDURES.md 3): on a closed network a node cannot pull a default
 * NKS image that kubelet's image GC removed (`failed to pull image "k8s.gcr.io/pause:3.2"`).
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
  type ClosedNetworkImageRecoveryInput,
  type ClosedNetworkImageRecoveryResult,
  findImage,
  type ImageEntry,
  type ImageNodeEntry,
  type ImagePullFailure,
  internalReference,
  likelyCause,
  type NodeRuntimeKind,
} from '../common/procedures/closed-network-image-recovery';
import { quickActivities, remoteActivities, waitActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { beginRemediation, runPreflight } from './lib/progress';

/** `containerd://1.6.28` → containerd; `docker://20.10.24` → docker; anything else: not handled. */
function runtimeKind(version: string): NodeRuntimeKind | undefined {
  const scheme = version.split('://')[0];
  return scheme === 'docker' || scheme === 'containerd' ? scheme : undefined;
}

export async function closedNetworkImageRecovery(
  raw: ClosedNetworkImageRecoveryInput,
): Promise<ClosedNetworkImageRecoveryResult> {
  const { input, progress } = beginRemediation(
    'closedNetworkImageRecovery',
    raw,
    ClosedNetworkImageRecoveryInputSchema,
  );
  return progress.run(
    async () => {
      const { cluster, registry } = input;
      const { findImagePullFailures } = quickActivities();
      const { listNodeImages, imageFsUsage } = remoteActivities();
      const { restoreNodeImage } = waitActivities({ scheduleToCloseTimeout: '20m' });
      const preflight = await runPreflight(progress, input);
      const known = new Map(preflight.nodes.map((n) => [n.name, n]));

      let pods: ImagePullFailure[] = [];
      const imagesOf = new Map<string, string[]>();
      if (input.fromEvents) {
        progress.phase('find-pods', 'pods failing to pull one of the images');
        pods = await findImagePullFailures({ cluster, images: input.images });
        for (const p of pods) {
          const list = imagesOf.get(p.node) ?? [];
          if (!list.includes(p.image)) list.push(p.image);
          imagesOf.set(p.node, list);
          progress.item(
            `pod/${p.namespace}/${p.name}`,
            'object',
            'pending',
            `${p.reason} ${p.image} on ${p.node}`,
          );
        }
      } else {
        for (const n of input.nodes ?? []) imagesOf.set(n, [...new Set(input.images)]);
      }
      const wanted = [...imagesOf.keys()].sort();

      const nodes = new Map<string, ImageNodeEntry>();
      const targets: { node: string; runtime: NodeRuntimeKind; images: string[] }[] = [];
      for (const node of wanted) {
        const n = known.get(node);
        const runtime = n ? runtimeKind(n.containerRuntime) : undefined;
        if (!n) nodes.set(node, { node, outcome: 'skipped', images: [], reason: 'no such node' });
        else if (!n.ready) nodes.set(node, { node, outcome: 'skipped', images: [], reason: 'NotReady' });
        else if (!runtime)
          nodes.set(node, {
            node,
            outcome: 'skipped',
            images: [],
            reason: `container runtime ${JSON.stringify(n.containerRuntime)} is neither docker nor containerd`,
          });
        else targets.push({ node, runtime, images: imagesOf.get(node)! });
      }

      progress.phase(
        input.dryRun ? 'plan' : 'restore-images',
        `${targets.length} nodes, ${input.maxParallel} at a time`,
      );
      await fanOut<(typeof targets)[number], ImageNodeEntry>({
        items: targets,
        key: (t) => t.node,
        maxParallel: input.maxParallel,
        maxFailures: input.maxFailures,
        run: async ({ node, runtime, images }) => {
          const entries: ImageEntry[] = [];
          if (input.dryRun) {
            const onNode = await listNodeImages({ cluster, node, runtime });
            for (const image of images) {
              const found = findImage(image, onNode);
              entries.push(
                found
                  ? { image, outcome: 'present', found }
                  : { image, outcome: 'would-restore', pulledFrom: internalReference(registry, image) },
              );
            }
          } else {
            for (const image of images) {
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
          const failed = entries.some((e) => e.outcome === 'failed');
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
            ...(failed
              ? { reason: `${entries.filter((e) => e.outcome === 'failed').length} images failed` }
              : {}),
          };
        },
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
          nodes.set(t.node, e);
          progress.item(
            `node/${t.node}`,
            'node',
            e.outcome === 'failed' ? 'failed' : 'succeeded',
            e.reason ?? e.outcome,
          );
        },
        onNotStarted: (t) =>
          nodes.set(t.node, {
            node: t.node,
            outcome: 'not-started',
            runtime: t.runtime,
            images: [],
            reason: 'failure budget spent',
          }),
      });

      const all = wanted.map((n) => nodes.get(n)!).filter(Boolean);
      const count = (o: ImageEntry['outcome']) =>
        all.reduce((s, n) => s + n.images.filter((i) => i.outcome === o).length, 0);
      const bad = all.filter((n) => ['failed', 'not-started', 'skipped'].includes(n.outcome)).length;
      const restored = count(input.dryRun ? 'would-restore' : 'restored');
      return {
        cluster,
        dryRun: input.dryRun,
        registry,
        outcome: wanted.length === 0 ? 'nothing-to-do' : bad ? 'partial' : 'complete',
        nodes: all,
        pods,
        summary:
          wanted.length === 0
            ? 'no pod fails to pull one of the images'
            : `${restored} images ${input.dryRun ? 'would be restored' : 'restored'}, ${count('present')} present on ${wanted.length} nodes` +
              (bad ? `, ${bad} nodes failed, skipped or not started` : ''),
      };
    },
    (r) => r.summary,
  );
}
