/**
 * closedNetworkImageRecovery's node work (steps 2–3 of index.ts): the nodes cut into batches, one
 * recoverNodeImages activity per batch through the shared fan-out, so a 5,000-node run's history
 * grows by batch (recoveryBatchPlan keeps each batch's input and result under 48 KB). The failure
 * budget counts nodes: a batch counts for its failed nodes, and each batch gets what is left of it.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import {
  type ImageNodeEntry,
  type RecoveryTarget,
  recoveryBatchPlan,
} from '../../common/procedures/closed-network-image-recovery';
import { nodeBatchActivities, WAIT_SLACK_SECONDS } from '../activity-profiles';
import { failureSummary } from '../lib/failures';
import { type Batch, batchesOf, fanOut } from '../lib/fan-out';
import type { RecoveryRun } from './run';

/** A node's share of a batch's time: its listing, config read and df, plus a pull per image. */
const NODE_BASE_SECONDS = 120;
const IMAGE_SECONDS = 660;

/** One recoverNodeImages activity's nodes. */
type NodeBatch = Batch<RecoveryTarget>;

export const isFailedNode = (e: ImageNodeEntry) => e.outcome === 'failed';

/** 2–3. The nodes in batches under the failure budget: plan or restore each image, then the disk use. */
export async function restoreImages(run: RecoveryRun, targets: RecoveryTarget[]): Promise<void> {
  const { input, progress } = run;
  const images = [...new Set(targets.flatMap((t) => t.images))].sort();
  const plan = recoveryBatchPlan({
    nodes: targets.length,
    images,
    registry: input.registry,
    maxParallel: input.maxParallel,
    batchSize: input.batchSize,
  });
  const batches = batchesOf(targets, plan.size);
  progress.phase(
    input.dryRun ? 'plan' : 'restore-images',
    `${targets.length} nodes in ${batches.length} batches of up to ${plan.size}, ${plan.lanes * plan.inFlight} at a time`,
  );
  const perNode = Math.max(1, ...targets.map((t) => t.images.length)) * IMAGE_SECONDS + NODE_BASE_SECONDS;
  const rounds = Math.ceil(plan.size / plan.inFlight);
  const { recoverNodeImages } = nodeBatchActivities({
    scheduleToCloseTimeout: `${rounds * perNode + WAIT_SLACK_SECONDS}s`,
  });
  const indexOf = new Map(images.map((image, i) => [image, i]));
  let failures = 0;
  await fanOut<NodeBatch, ImageNodeEntry[]>({
    items: batches,
    key: (b) => String(b.index),
    maxParallel: plan.lanes,
    maxFailures: input.maxFailures,
    run: async (b) =>
      (
        await recoverNodeImages({
          cluster: input.cluster,
          registry: input.registry,
          dryRun: input.dryRun,
          images,
          nodes: b.items.map((t) => ({
            node: t.node,
            runtime: t.runtime,
            images: t.images.map((image) => indexOf.get(image)!),
          })),
          inFlight: plan.inFlight,
          failureBudget: input.maxFailures - failures,
        })
      ).nodes,
    isFailure: (entries) => entries.some(isFailedNode),
    failureCount: (entries) => entries.filter(isFailedNode).length,
    onError: (b, err) => failedBatch(b, err),
    onStart: (b) => {
      for (const t of b.items)
        progress.item(`node/${t.node}`, 'node', 'running', `${t.images.length} images (${t.runtime})`);
    },
    onDone: (_b, entries) => {
      for (const e of entries) {
        if (isFailedNode(e)) failures++;
        run.nodes.set(e.node, e);
        progress.item(
          `node/${e.node}`,
          'node',
          e.outcome === 'failed' ? 'failed' : e.outcome === 'not-started' ? 'skipped' : 'succeeded',
          e.reason ?? e.outcome,
        );
      }
    },
    onNotStarted: (b) => {
      for (const t of b.items)
        run.nodes.set(t.node, {
          node: t.node,
          outcome: 'not-started',
          runtime: t.runtime,
          images: [],
          imageCounts: {},
          reason: 'failure budget spent',
        });
    },
  });
}

/**
 * A batch whose activity failed past its retries: the nodes its last attempt finished (named in the
 * failure's details) keep their entries; every other node failed with the batch's failure.
 */
function failedBatch(b: NodeBatch, err: unknown): ImageNodeEntry[] {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  const details = cause instanceof ApplicationFailure ? cause.details : undefined;
  const done = new Map(
    ((details?.[0] as { done?: ImageNodeEntry[] } | undefined)?.done ?? []).map((e) => [e.node, e]),
  );
  const reason = failureSummary(err).slice(0, 300);
  return b.items.map(
    (t) =>
      done.get(t.node) ?? {
        node: t.node,
        outcome: 'failed',
        runtime: t.runtime,
        images: [],
        imageCounts: {},
        reason,
      },
  );
}
