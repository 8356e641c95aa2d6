/**
 * A run's nodes in child workflows: the parent (index.ts) starts one child per `nodesPerChild` nodes (KMEM_DEFAULTS says why 50),
 * in order, so no one history grows with the cluster. The child reboots its nodes in rounds of
 * maxUnavailable, each round only while kured reboots nothing, inside the window and past the health
 * gate, exactly as the parent did; while it runs it renews the parent's cluster lock (the parent
 * renews nothing then) and starts no further round once the lock is lost. The child returns its nodes' entries when it ends (also when cancelled), and tells the parent
 * only when a gate makes it wait, so the parent's progress names the wait without one event per node.
 */
import {
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../../common/errors';
import type {
  DisableKmemAccountingOptions,
  KmemNodeEntry,
} from '../../common/procedures/disable-kmem-accounting';
import { type ClusterLease, keepClusterLock, type PhaseSink } from '../lib/cluster-lock';
import { quickActivities } from '../activity-profiles';
import { awaitHealthGate, awaitKuredLockFree, awaitMaintenanceWindow } from '../lib/disruption';
import { rebootOne } from './reboot-node';
import type { NodeRebootContext } from './run';

/** A gate in the child waits (or stops waiting): the parent shows it as its own phase or note. */
export const kmemGateSignal = defineSignal<[{ phase?: [string, string?]; note?: string }]>('kmemGate');

export interface KmemNodesChildInput {
  /** The run's options, without the `nodes` list (each child gets only its own). */
  options: Omit<DisableKmemAccountingOptions, 'nodes'>;
  /** The cordon owner: the parent's workflow ID. */
  owner: string;
  /** The parent's cluster lock: the child renews it while it runs (the parent renews nothing then). */
  lease: ClusterLease;
  nodes: { node: string; kernel?: string }[];
  /** Carried over a continue-as-new: the entries and notes of the nodes already done. */
  done?: { entries: KmemNodeEntry[]; notes: string[] };
  /** Position of the first node in the run's order, and the order's length, for the phase text. */
  first: number;
  total: number;
}

export interface KmemNodesChildResult {
  /** Entries of the nodes this child started (the others were not started). */
  entries: KmemNodeEntry[];
  /** Why the child stopped before its last node, if it did. */
  stoppedBecause?: string;
  /** Cancelled: the entries say what each node was left as. */
  cancelled?: boolean;
  /** Lines for the parent's event log (a node cancelled mid-reboot). */
  notes: string[];
}

class ChildContext implements NodeRebootContext {
  readonly entries = new Map<string, KmemNodeEntry>();
  readonly kernelOf: Map<string, string | undefined>;
  readonly notes: string[] = [];
  readonly progress: NodeRebootContext['progress'] = {
    // Per-node steps stay in the entry's `changes`: signalling each to the parent would cost it events.
    item: () => undefined,
    note: (message: string) => void this.notes.push(message),
  };

  constructor(
    readonly input: DisableKmemAccountingOptions,
    readonly owner: string,
    nodes: KmemNodesChildInput['nodes'],
    done: KmemNodesChildInput['done'],
  ) {
    this.kernelOf = new Map(nodes.map((n) => [n.node, n.kernel]));
    for (const e of done?.entries ?? []) this.entries.set(e.node, e);
    this.notes.push(...(done?.notes ?? []));
  }

  entryBase(node: string): KmemNodeEntry {
    const kernel = this.kernelOf.get(node);
    return { node, outcome: 'not-started', changes: [], ...(kernel ? { kernel } : {}) };
  }
}

/**
 * A child has no approval, window or lock of its own: it runs only under the parent run that holds
 * the cluster lock it was handed (the holder names that run), checked by a renewal before any node is
 * touched. A client starting this workflow type directly gets a non-retryable failure, nothing done.
 */
async function refuseWithoutParentLock(lease: ClusterLease): Promise<void> {
  const parent = workflowInfo().parent;
  const refuse = (why: string) =>
    ApplicationFailure.nonRetryable(
      `disableKmemAccountingNodes runs only as a child of disableKmemAccounting: ${why}; nothing done`,
      ErrorType.PolicyRefused,
    );
  if (!parent) throw refuse('started without a parent');
  if (lease.holder !== `${parent.workflowId}@${parent.runId}`)
    throw refuse('the cluster lock it was handed is not its parent run’s');
  const r = await quickActivities().renewClusterLock(lease);
  if (!r.held) throw refuse(`its parent does not hold the cluster lock (held by ${r.holder ?? 'nobody'})`);
}

export async function disableKmemAccountingNodes(b: KmemNodesChildInput): Promise<KmemNodesChildResult> {
  const input = b.options as DisableKmemAccountingOptions;
  const ctx = new ChildContext(input, b.owner, b.nodes, b.done);
  const parentId = workflowInfo().parent?.workflowId;
  const parent = parentId ? getExternalWorkflowHandle(parentId) : undefined;
  const tell = (msg: { phase?: [string, string?]; note?: string }) =>
    parent ? parent.signal(kmemGateSignal, msg).catch(() => undefined) : Promise.resolve();
  let waited = false;
  const sink: PhaseSink = {
    phase: (name, summary) => {
      waited = true;
      void tell({ phase: [name, summary] });
    },
    note: (message) => void tell({ note: message }),
  };
  const result = (stoppedBecause?: string, cancelled?: boolean): KmemNodesChildResult => ({
    entries: [...ctx.entries.values()],
    notes: ctx.notes,
    ...(stoppedBecause ? { stoppedBecause } : {}),
    ...(cancelled ? { cancelled } : {}),
  });
  const nodes = b.nodes.map((n) => n.node);
  await refuseWithoutParentLock(b.lease);
  const lock = keepClusterLock(sink, b.lease);
  try {
    for (let i = 0; i < nodes.length; i += input.maxUnavailable) {
      const round = nodes.slice(i, i + input.maxUnavailable);
      if (i > 0 && workflowInfo().historyLength >= input.childContinueAsNewAt) {
        return await continueAsNew<typeof disableKmemAccountingNodes>({
          ...b,
          nodes: b.nodes.slice(i),
          first: b.first + i,
          done: { entries: [...ctx.entries.values()], notes: ctx.notes },
        });
      }
      const lockLost = lock.lost();
      if (lockLost) return result(lockLost);
      const kured = await awaitKuredLockFree(sink, input);
      if (kured) return result(kured);
      await awaitMaintenanceWindow(sink, input.window);
      const gate = await awaitHealthGate(sink, { ...input, nodes: round });
      if (!gate.ok) return result(`health gate for ${round.join(', ')}: ${gate.reasons.join('; ')}`);
      if (lock.lost()) return result(lock.lost());
      if (waited) {
        waited = false;
        await tell({ phase: ['reboot', `${round.join(', ')} (${b.first + i + round.length}/${b.total})`] });
      }
      // Settled, not raced: on cancellation every node of the round finishes its own cleanup first.
      const settled = await Promise.allSettled(round.map((node) => rebootOne(ctx, node)));
      for (const s of settled) if (s.status === 'fulfilled') ctx.entries.set(s.value.node, s.value);
      const thrown = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (thrown) throw thrown.reason;
      const bad = settled.flatMap((s) =>
        s.status === 'fulfilled' && s.value.outcome !== 'rebooted' ? [s.value] : [],
      );
      if (bad.length) return result(bad.map((e) => `${e.node} ${e.outcome}`).join(', '));
    }
    return result();
  } catch (err) {
    if (!isCancellation(err) || !CancellationScope.current().consideredCancelled) throw err;
    // Returned, not thrown: the parent (cancelled too) reports what each node was left as.
    return result(undefined, true);
  } finally {
    await lock.stop();
  }
}
