/**
 * The first step of every procedure: the cluster's nodes, listed in pages through an activity of
 * the calling workflow (not a child, so the node list is in its own history), each recorded as a
 * progress item.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { ErrorType } from '../../common/errors';
import { quickActivities } from '../activity-profiles';
import type { ClusterPreflightResult, NodeReport } from '../definitions';
import { Phase, type ProgressTracker } from './progress';

/** Node reports per page: about 40 KB, so no history event of a 1,000-node run nears payload limits. */
const NODE_PAGE = 200;

/** Every node of the cluster, sorted by name. */
async function listNodes(cluster: string): Promise<NodeReport[]> {
  const { listClusterNodesPage } = quickActivities();
  const nodes: NodeReport[] = [];
  let continueToken: string | undefined;
  do {
    const page = await listClusterNodesPage({ cluster, limit: NODE_PAGE, continueToken });
    nodes.push(...page.nodes);
    continueToken = page.continueToken;
  } while (continueToken);
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}

export interface PreflightOptions {
  /** Fail with NodesNotReady (naming the nodes) when any node is not Ready. */
  requireAllReady?: boolean;
}

/**
 * Lists the cluster's nodes and records each as a progress item; the first step of every procedure.
 * Runs as an activity of the calling workflow (not a child) so the node list is in its own history.
 */
export async function runPreflight(
  progress: ProgressTracker,
  input: { cluster: string },
  opts: PreflightOptions = {},
): Promise<ClusterPreflightResult> {
  progress.phase(Phase.Preflight, 'listing nodes');
  const nodes = await listNodes(input.cluster);
  for (const node of nodes) {
    const detail = node.ready
      ? [node.internalIP, node.kubeletVersion, node.containerRuntime].filter(Boolean).join(', ')
      : `NotReady${node.readyReason ? `: ${node.readyReason}` : ''}`;
    progress.item(`node/${node.name}`, 'node', node.ready ? 'succeeded' : 'failed', detail);
  }
  const notReady = nodes.filter((n) => !n.ready).map((n) => n.name);
  const result: ClusterPreflightResult = {
    cluster: input.cluster,
    nodes,
    readyCount: nodes.length - notReady.length,
    notReady,
    checkedAt: new Date().toISOString(),
  };
  progress.note(
    `preflight: ${result.readyCount}/${nodes.length} nodes Ready${notReady.length ? `; NotReady: ${notReady.join(', ')}` : ''}`,
  );
  if (opts.requireAllReady && notReady.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${input.cluster}": ${notReady.length} of ${nodes.length} nodes not Ready: ${notReady.join(', ')}`,
      ErrorType.NodesNotReady,
      { notReady },
    );
  }
  return result;
}
