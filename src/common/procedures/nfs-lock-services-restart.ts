/**
 * Registry entry, input schema and report of nfsLockServicesRestart (docs/procedures.md §7): pods whose NFS
 * mount fails with `rpc.statd is not running but is required for remote locking`. Per node: make sure
 * rpcbind is active, restart rpc-statd, verify both; then delete the stuck pods a controller recreates
 * (bare pods are reported, never deleted) and wait until their replacements run.
 */
import { ApprovalInputSchema } from '../approval';
import { ClusterLockInputSchema } from '../cluster-lock';
import { type z } from 'zod';
import type { OwnerController, PodIdentity } from '../types';
import {
  BaseRemediationInputSchema,
  boundedInt,
  nodeFanOutFields,
  NODES_XOR_FROM_EVENTS,
  nodesXorFromEvents,
  nodeTargetFields,
} from '../inputs';
import { approvedOutcomeLine, countOutcomes, failuresFirst } from '../report';
import { defineProcedure, SSH_NODES } from './define';

/** What kubelet's FailedMount event says (mount.nfs's words). */
export const RPC_STATD_NOT_RUNNING = 'rpc.statd is not running but is required for remote locking';

export const NFS_LOCK_DEFAULTS = { maxParallel: 5, maxFailures: 3, replacementTimeoutSeconds: 300 } as const;

export const NfsLockServicesRestartInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  ...ApprovalInputSchema.shape,
  ...nodeTargetFields('the nodes of pods whose NFS mount failed because rpc.statd was not running'),
  ...nodeFanOutFields(NFS_LOCK_DEFAULTS),
  replacementTimeoutSeconds: boundedInt(
    10,
    3600,
    NFS_LOCK_DEFAULTS.replacementTimeoutSeconds,
    'how long to wait for each deleted pod’s replacement to run',
  ),
})
  .strict()
  .refine(nodesXorFromEvents, NODES_XOR_FROM_EVENTS);

export type NfsLockServicesRestartInput = z.input<typeof NfsLockServicesRestartInputSchema>;
export type NfsLockServicesRestartOptions = z.output<typeof NfsLockServicesRestartInputSchema>;

/** A pod whose NFS mount failed because rpc.statd was not running, still Pending. */
export interface NfsStuckPod extends PodIdentity {
  node: string;
  phase: string;
  /** Its controller; absent for a bare pod (reported, never deleted). */
  controller?: OwnerController;
}

export interface NfsNodeEntry {
  node: string;
  outcome: 'fixed' | 'would-fix' | 'failed' | 'not-started' | 'skipped';
  /** `systemctl is-active` before and after. */
  /** `systemctl is-active` before and after, and whether rpcinfo got an answer (a hung rpcbind is active but silent). */
  rpcbind?: { before: string; after: string; answeredBefore?: boolean; restarted?: boolean };
  rpcStatd?: { before: string; after: string };
  reason?: string;
}

export interface NfsPodEntry {
  namespace: string;
  name: string;
  node: string;
  outcome: 'recreated' | 'would-delete' | 'bare' | 'not-attempted' | 'failed';
  controller?: string;
  /** The replacement that runs. */
  replacement?: string;
  reason?: string;
}

export interface NfsLockServicesRestartResult {
  cluster: string;
  dryRun: boolean;
  outcome: 'complete' | 'partial' | 'nothing-to-do' | 'approval-expired';
  nodes: NfsNodeEntry[];
  pods: NfsPodEntry[];
  /** Who approved the run, verified by the worker (when its policy or the input wanted a gate). */
  approvedBy?: string;
  summary: string;
}

const NODE_FAILING = new Set(['failed', 'not-started', 'skipped']);
const POD_FAILING = new Set(['failed', 'not-attempted', 'bare']);

export const nfsLockServicesRestartProcedure = defineProcedure({
  workflowType: 'nfsLockServicesRestart',
  cliName: 'nfs-lock-services-restart',
  description:
    'NFS mounts failing with "rpc.statd is not running": restarts rpcbind (also a hung one) before rpc-statd, the guide\'s order reversed because rpc-statd cannot start on a hung rpcbind (shown on the simulator, §7), recreates the stuck pods',
  guide: 'docs/procedures.md §7',
  inputSchema: NfsLockServicesRestartInputSchema,
  mutates: true,
  usesSsh: true,
  permissions: [
    SSH_NODES,
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['list'],
      why: 'finds the FailedMount events that say rpc.statd is not running',
    },
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['get', 'list', 'delete'],
      why: 'reads the stuck pods, deletes the ones a controller recreates (UID precondition), watches their replacements',
    },
  ],
  report: (r: NfsLockServicesRestartResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      failuresFirst(
        `nodes (${countOutcomes(r.nodes.map((n) => n.outcome))})`,
        ['NODE', 'OUTCOME', 'RPCBIND', 'RPC-STATD', 'REASON'],
        r.nodes,
        (n) => NODE_FAILING.has(n.outcome),
        (n) => [
          n.node,
          n.outcome,
          n.rpcbind
            ? `${n.rpcbind.before}${n.rpcbind.before === 'active' && n.rpcbind.answeredBefore === false ? ' (hung)' : ''} → ${n.rpcbind.after}`
            : '-',
          n.rpcStatd ? `${n.rpcStatd.before} → ${n.rpcStatd.after}` : '-',
          n.reason ?? '',
        ],
      ),
      failuresFirst(
        `stuck pods (${countOutcomes(r.pods.map((p) => p.outcome)) || 'none'})`,
        ['POD', 'NODE', 'OUTCOME', 'CONTROLLER', 'REPLACEMENT / REASON'],
        r.pods,
        (p) => POD_FAILING.has(p.outcome),
        (p) => [
          `${p.namespace}/${p.name}`,
          p.node,
          p.outcome,
          p.controller ?? '-',
          p.replacement ?? p.reason ?? '',
        ],
      ),
    ],
    next: [
      ...(r.pods.some((p) => p.outcome === 'bare')
        ? [
            'bare pods are not recreated by anything: delete and recreate them yourself once the node is fixed',
          ]
        : []),
      ...(r.nodes.some((n) => n.outcome === 'failed' || n.outcome === 'not-started')
        ? ['nodes that failed: check sshd and the node’s nfs-utils, then rerun']
        : []),
    ],
  }),
});
