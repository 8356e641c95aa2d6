import { ClusterPreflightInputSchema } from '../common/inputs';
import type { ClusterPreflightInput, ClusterPreflightResult } from './definitions';
import { beginRemediation } from './lib/progress';
import { runPreflight } from './lib/preflight';

/**
 * Lists the cluster's nodes through the Kubernetes API and reports, per node, Ready or not,
 * InternalIP, kubelet version and container runtime. Read-only; never fails because a node is
 * NotReady (it reports it). Fails with UnknownCluster (non-retryable) for a name the worker's
 * registry does not have, with KubeApiUnreachable when the API server cannot be reached after the
 * quick-call retries.
 */
export async function clusterPreflight(input: ClusterPreflightInput): Promise<ClusterPreflightResult> {
  const { input: valid, progress } = beginRemediation('clusterPreflight', input, ClusterPreflightInputSchema);
  return progress.run(
    () => runPreflight(progress, valid),
    (r) => `${r.readyCount}/${r.nodes.length} nodes Ready`,
  );
}
