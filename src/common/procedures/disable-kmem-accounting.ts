/**
 * Registry entry, input schema and report of disableKmemAccounting (docs/procedures.md §5): pods failing
 * with `cannot allocate memory` (FailedCreatePodContainer) on 3.x/4.x kernels. Adds
 * `cgroup.memory=nokmem` to the kernel command line of the affected nodes and reboots them one
 * batch at a time, under the cluster lock (and never while kured holds its own), a health gate and an optional maintenance
 * window; each node cordoned (ownership recorded), drained with the Eviction API, rebooted, verified
 * and uncordoned only if this run cordoned it.
 */
import { z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { KURED_LOCK_PERMISSION } from '../cluster-lock';
import { DisruptionInputSchema } from '../disruption';
import { KMEM_KERNEL_ARG } from '../grub';
import {
  BaseRemediationInputSchema,
  boundedInt,
  NODES_XOR_FROM_EVENTS,
  nodesXorFromEvents,
  nodeTargetFields,
} from '../inputs';
import { failuresFirst, outcomeLine } from '../report';
import { defineProcedure, type ReportTable } from './define';

/** kubelet's FailedCreatePodContainer message on a node hit by the kmem accounting bug ends so. */
export const KMEM_OOM_MESSAGE = 'cannot allocate memory';
export const KMEM_OOM_EVENT_REASON = 'FailedCreatePodContainer';

export const KMEM_DEFAULTS = {
  maxUnavailable: 1,
  drainTimeoutSeconds: 600,
  rebootTimeoutMinutes: 20,
  /**
   * Nodes per child workflow. Measured: one node rebooted costs about 75 events (9 activities, the
   * kured read and health check of its round, the workflow tasks between them), so a child of 50
   * nodes at maxUnavailable 1 records about 50 × 75 + 20 (start, input, result) = 3,770 events, well
   * under the 10,240 we hold every history to, with room for gates that wait and poll. 5,000 nodes
   * make 100 children.
   */
  nodesPerChild: 50,
  /**
   * A child continues as new between rounds once its history has this many events: gates that wait
   * long (a closed window, kured busy) and the lock's renewals grow a child's history with time, not
   * only with its nodes. Far under 10,240, so one more round always fits.
   */
  childContinueAsNewAt: 6_000,
} as const;

export const DisableKmemAccountingInputSchema = BaseRemediationInputSchema.extend({
  ...nodeTargetFields('the nodes where pods failed with FailedCreatePodContainer "cannot allocate memory"'),
  force: z
    .boolean()
    .default(false)
    .describe('also nodes on kernel 5.x or newer (not affected by the bug: skipped by default)'),
  maxUnavailable: boundedInt(1, 50, KMEM_DEFAULTS.maxUnavailable, 'nodes down at once'),
  drainTimeoutSeconds: boundedInt(
    10,
    7200,
    KMEM_DEFAULTS.drainTimeoutSeconds,
    'how long evictions blocked by a PodDisruptionBudget are retried before the node stops',
  ),
  rebootTimeoutMinutes: boundedInt(
    1,
    240,
    KMEM_DEFAULTS.rebootTimeoutMinutes,
    'how long to wait for a node to come back Ready with a new boot ID',
  ),
  nodesPerChild: boundedInt(
    1,
    KMEM_DEFAULTS.nodesPerChild,
    KMEM_DEFAULTS.nodesPerChild,
    'nodes per child workflow (each child reboots its nodes in rounds of maxUnavailable); smaller only to test',
  ),
  childContinueAsNewAt: boundedInt(
    100,
    KMEM_DEFAULTS.childContinueAsNewAt,
    KMEM_DEFAULTS.childContinueAsNewAt,
    'a child continues as new between rounds past this many history events; smaller only to test',
  ),
  ...ApprovalInputSchema.shape,
  requireApproval: z
    .boolean()
    .default(true)
    .describe('wait for an `approve` Update (nksr approve) before the first node is touched'),
  ...DisruptionInputSchema.shape,
})
  .strict()
  .refine(nodesXorFromEvents, NODES_XOR_FROM_EVENTS);

export type DisableKmemAccountingInput = z.input<typeof DisableKmemAccountingInputSchema>;
export type DisableKmemAccountingOptions = z.output<typeof DisableKmemAccountingInputSchema>;

export type KmemNodeOutcome =
  'rebooted' | 'would-reboot' | 'skipped' | 'drain-blocked' | 'failed' | 'not-started';

export interface KmemNodeEntry {
  node: string;
  outcome: KmemNodeOutcome;
  reason?: string;
  kernel?: string;
  /** The node was cordoned before this run (by someone else): it stays cordoned. */
  cordonedBefore?: boolean;
  /** This run uncordoned it at the end. */
  uncordoned?: boolean;
  grub?: 'added' | 'unchanged';
  bootIdBefore?: string;
  bootIdAfter?: string;
  /** Pods evicted by the drain (namespace/name). */
  evicted?: string[];
  /** Pods whose eviction was still refused at the drain timeout, with why. */
  blocked?: string[];
  /** The changes made (or, in a dry run, planned), in order. */
  changes: string[];
}

export interface DisableKmemAccountingResult {
  cluster: string;
  dryRun: boolean;
  outcome: 'complete' | 'stopped' | 'nothing-to-do' | 'approval-expired';
  /** The nodes to reboot, in the order they are (or would be) done: the first MAX_ORDER_LISTED. */
  order: string[];
  /** Nodes of the order not listed in `order`. */
  orderOmitted?: number;
  /** Failed and drain-blocked nodes in full, then the others up to MAX_LISTED_SUCCESSES. */
  nodes: KmemNodeEntry[];
  /** Nodes not listed in `nodes`. */
  nodesOmitted?: number;
  /** Every node's outcome counted (`3 rebooted, 1 skipped`), the omitted ones too. */
  nodeOutcomes: string;
  approvedBy?: string;
  /** The Lease held while nodes were down. */
  lock?: { namespace: string; name: string; holder: string; waitedSeconds: number };
  /** Why the run stopped before the end, if it did. */
  stoppedBecause?: string;
  /** For new node groups: the custom image's user script (idempotent). */
  userScript: string;
  summary: string;
}

const FAILING = new Set<KmemNodeOutcome>(['drain-blocked', 'failed', 'not-started']);
/** Listed in a result in full: what an operator must look at on each node. */
export const KMEM_NOTABLE = new Set<KmemNodeOutcome>(['drain-blocked', 'failed']);
/** A table of an already bounded list: the rows the result left out are counted too. */
function withOmitted(left: number | undefined, t: ReportTable): ReportTable {
  const omitted = (t.omitted ?? 0) + (left ?? 0);
  return omitted ? { ...t, omitted } : t;
}

/** Names of the order listed in a result and its summary; 5,000 of them would pass 64 KB. */
export const MAX_ORDER_LISTED = 100;

export const disableKmemAccountingProcedure = defineProcedure({
  workflowType: 'disableKmemAccounting',
  cliName: 'disable-kmem-accounting',
  description: `"cannot allocate memory" (FailedCreatePodContainer): ${KMEM_KERNEL_ARG} on the kernel command line, rolling reboot (guide §5)`,
  guide: 'docs/procedures.md §5',
  inputSchema: DisableKmemAccountingInputSchema,
  mutates: true,
  usesSsh: true,
  childWorkflowTypes: ['disableKmemAccountingNodes'],
  permissions: [
    {
      apiGroup: '',
      resources: ['nodes'],
      verbs: ['get', 'list', 'patch'],
      why: 'lists nodes (health gate, kernel version); cordons and uncordons, recording who cordoned in an annotation',
    },
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['list'],
      why: 'fromEvents: finds the FailedCreatePodContainer "cannot allocate memory" events',
    },
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['get', 'list'],
      why: 'the pods to drain from a node, blocking pods of the health gate',
    },
    {
      apiGroup: '',
      resources: ['pods/eviction'],
      verbs: ['create'],
      why: 'drains nodes with the Eviction API, so PodDisruptionBudgets are respected',
    },
    KURED_LOCK_PERMISSION,
  ],
  report: (r: DisableKmemAccountingResult) => ({
    summary: outcomeLine(r),
    tables: [
      withOmitted(
        r.nodesOmitted,
        failuresFirst(
          `nodes (${r.nodeOutcomes || 'none'})`,
          ['NODE', 'OUTCOME', 'KERNEL', 'CORDONED BEFORE', 'BOOT', 'REASON / CHANGES'],
          r.nodes,
          (n) => FAILING.has(n.outcome),
          (n) => [
            n.node,
            n.outcome,
            n.kernel ?? '-',
            n.cordonedBefore === undefined ? '-' : n.cordonedBefore ? 'yes (stays)' : 'no',
            n.bootIdAfter ? `${n.bootIdBefore?.slice(0, 8)} → ${n.bootIdAfter.slice(0, 8)}` : '-',
            n.reason ?? n.changes.join('; '),
          ],
        ),
      ),
    ],
    next: [
      ...(r.stoppedBecause
        ? [`stopped: ${r.stoppedBecause}; fix that and rerun (done nodes are skipped)`]
        : []),
      'new node groups: use the result’s userScript as the custom image’s user script',
    ],
  }),
});
