import type { V1Node } from '@kubernetes/client-node';
import type { NodeReport } from '../../common/preflight-types';
import type { ActivityDeps } from '../deps';
import { withKube } from '../errors';
import { kubeClientsFor } from './client';

/** Nodes per listClusterNodesPage result: about 40 KB of reports, well under any payload limit. */
export const NODE_REPORT_PAGE_MAX = 200;

export interface ListNodesPageInput {
  cluster: string;
  /** At most NODE_REPORT_PAGE_MAX. */
  limit: number;
  /** From the previous page; absent for the first. */
  continueToken?: string;
}

export interface NodeReportPage {
  nodes: NodeReport[];
  /** Present while more nodes follow: pass it to the next call. */
  continueToken?: string;
}

export function nodeReport(node: V1Node): NodeReport {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const isReady = ready?.status === 'True';
  const info = node.status?.nodeInfo;
  const report: NodeReport = {
    name: node.metadata?.name ?? '',
    ready: isReady,
    internalIP: node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
    kubeletVersion: info?.kubeletVersion ?? '',
    containerRuntime: info?.containerRuntimeVersion ?? '',
    bootID: info?.bootID || undefined,
    unschedulable: node.spec?.unschedulable === true,
  };
  if (!isReady) {
    report.readyReason = ready
      ? [ready.reason, ready.message].filter(Boolean).join(': ') || `Ready=${ready.status}`
      : 'no Ready condition';
  }
  return report;
}

export function createPreflightActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * One page of the cluster's nodes (in the API's order, by name), so a 1,000-node cluster's list
     * reaches history in results of at most NODE_REPORT_PAGE_MAX reports instead of one 200 KB payload.
     * Pages are read back to back; the API server keeps a continue token valid for minutes.
     * Idempotency: read-only; safe to retry or repeat at any time.
     */
    async listClusterNodesPage(input: ListNodesPageInput): Promise<NodeReportPage> {
      const kube = clients.forCluster(input.cluster);
      const limit = Math.max(1, Math.min(NODE_REPORT_PAGE_MAX, Math.floor(input.limit)));
      const page = await withKube(
        { cluster: input.cluster, operation: 'list nodes', server: kube.server },
        () => kube.core.listNode({ limit, _continue: input.continueToken }),
      );
      const continueToken = page.metadata?._continue || undefined;
      return { nodes: page.items.map(nodeReport), ...(continueToken ? { continueToken } : {}) };
    },
  };
}
