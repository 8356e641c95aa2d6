/** Registry entry of clusterPreflight: read-only node report, the first step of every procedure. */
import { ClusterPreflightInputSchema } from '../inputs';
import type { ClusterPreflightResult } from '../preflight-types';
import { failuresFirst } from '../report';
import { defineProcedure, PREFLIGHT_NODES } from './define';

export const clusterPreflightProcedure = defineProcedure({
  workflowType: 'clusterPreflight',
  cliName: 'cluster-preflight',
  description:
    'reports every node: Ready, InternalIP, kubelet version, runtime; first step of every procedure',
  inputSchema: ClusterPreflightInputSchema,
  mutates: false,
  usesSsh: false,
  permissions: [PREFLIGHT_NODES],
  report: (r: ClusterPreflightResult) => ({
    summary: `cluster ${r.cluster}: ${r.readyCount}/${r.nodes.length} nodes Ready${
      r.notReady.length ? ` (NotReady: ${r.notReady.join(', ')})` : ''
    }, checked ${r.checkedAt}`,
    tables: [
      failuresFirst(
        'nodes',
        ['NODE', 'READY', 'INTERNAL-IP', 'KUBELET', 'RUNTIME', 'NOTE'],
        r.nodes,
        (n) => !n.ready,
        (n) => [
          n.name,
          n.ready ? 'Ready' : 'NotReady',
          n.internalIP ?? '-',
          n.kubeletVersion || '-',
          n.containerRuntime || '-',
          [n.unschedulable ? 'cordoned' : '', n.ready ? '' : (n.readyReason ?? '')]
            .filter(Boolean)
            .join('; '),
        ],
      ),
    ],
    next: r.notReady.length
      ? [`NotReady nodes block procedures that need every node: kubectl describe node ${r.notReady[0]}`]
      : [],
  }),
});
