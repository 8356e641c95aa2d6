/**
 * Registry entry, input schema and report of nodeInventory: a read-only look at every node over SSH
 * (kernel release, boot ID, kernel command line, root filesystem use). It is what the kmem,
 * closed-network and logrotate procedures decide from, and the smallest example of a procedure on the
 * platform: its workflow file, its activity, this entry and its tests.
 */
import { type z } from 'zod';
import { BaseRemediationInputSchema, boundedInt, NodeListSchema } from '../inputs';
import { countOutcomes, failuresFirst } from '../report';
import { defineProcedure, SSH_NODES } from './define';

export const NODE_INVENTORY_DEFAULTS = { maxParallel: 10 } as const;

export const NodeInventoryInputSchema = BaseRemediationInputSchema.extend({
  nodes: NodeListSchema.optional().describe('only these nodes (default: every Ready node)'),
  maxParallel: boundedInt(1, 200, NODE_INVENTORY_DEFAULTS.maxParallel, 'nodes read at once over SSH'),
}).strict();

export type NodeInventoryInput = z.input<typeof NodeInventoryInputSchema>;
export type NodeInventoryOptions = z.output<typeof NodeInventoryInputSchema>;

/** What one node says about itself. */
export interface NodeFacts {
  /** `uname -r`. */
  kernelRelease: string;
  bootId: string;
  /** /proc/cmdline, trimmed. */
  cmdline: string;
  /** Use of the filesystem holding /var/lib (container images), in percent. */
  varLibUsePercent: number;
}

export interface NodeInventoryEntry {
  node: string;
  outcome: 'read' | 'failed' | 'skipped';
  facts?: NodeFacts;
  /** Failure type and message, or why the node was skipped. */
  reason?: string;
}

export interface NodeInventoryResult {
  cluster: string;
  outcome: 'complete' | 'partial';
  counts: Record<NodeInventoryEntry['outcome'], number>;
  /** Kernel release → number of nodes. */
  kernels: Record<string, number>;
  /** Every failed and skipped node; read nodes too while the list stays short (see omitted). */
  nodes: NodeInventoryEntry[];
  /** Read nodes left out of `nodes` (the progress query and the history have each one). */
  omitted: number;
  summary: string;
}

export const nodeInventoryProcedure = defineProcedure({
  workflowType: 'nodeInventory',
  cliName: 'node-inventory',
  description:
    'reads every node over SSH: kernel, boot ID, kernel command line, /var/lib disk use (read-only)',
  inputSchema: NodeInventoryInputSchema,
  mutates: false,
  usesSsh: true,
  permissions: [SSH_NODES],
  report: (r: NodeInventoryResult) => ({
    summary: `${r.outcome}: ${r.summary}`,
    tables: [
      failuresFirst(
        `nodes (${countOutcomes(r.nodes.map((n) => n.outcome))}${r.omitted ? `, ${r.omitted} more read` : ''})`,
        ['NODE', 'OUTCOME', 'KERNEL', 'VAR-LIB USE', 'CMDLINE / REASON'],
        r.nodes,
        (n) => n.outcome !== 'read',
        (n) => [
          n.node,
          n.outcome,
          n.facts?.kernelRelease ?? '-',
          n.facts ? `${n.facts.varLibUsePercent}%` : '-',
          n.facts?.cmdline ?? n.reason ?? '',
        ],
      ),
    ],
    next: r.counts.failed
      ? [`nodes that could not be read: check sshd and the cluster's known_hosts, then rerun`]
      : [],
  }),
});
