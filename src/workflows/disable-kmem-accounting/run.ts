/** What one disableKmemAccounting run knows as it goes: shared by its phases (index.ts, reboot-node.ts). */
import { workflowInfo } from '@temporalio/workflow';
import type {
  DisableKmemAccountingOptions,
  KmemNodeEntry,
} from '../../common/procedures/disable-kmem-accounting';
import type { ProgressTracker } from '../lib/progress';

/** What one node's reboot (reboot-node.ts) needs of its run, in the parent or in a child workflow. */
export interface NodeRebootContext {
  readonly input: DisableKmemAccountingOptions;
  /** The cordon owner recorded on nodes: the parent run's workflow ID. */
  readonly owner: string;
  readonly entries: Map<string, KmemNodeEntry>;
  readonly progress: {
    item: (...args: Parameters<ProgressTracker['item']>) => unknown;
    note: ProgressTracker['note'];
  };
  entryBase(node: string): KmemNodeEntry;
}

/** One run: what it read of the nodes before any change, the reboot order, every node's entry. */
export class KmemRun implements NodeRebootContext {
  /** The cordon owner recorded on nodes: this run's workflow ID (the same across workers and retries). */
  readonly owner = workflowInfo().workflowId;
  readonly entries = new Map<string, KmemNodeEntry>();
  wanted: string[] = [];
  order: string[] = [];
  readonly kernelOf = new Map<string, string | undefined>();
  readonly cordonedBefore = new Map<string, boolean>();
  readonly bootId = new Map<string, string>();
  approvedBy?: string;

  constructor(
    readonly input: DisableKmemAccountingOptions,
    readonly progress: ProgressTracker,
  ) {}

  entryBase(node: string): KmemNodeEntry {
    const kernel = this.kernelOf.get(node);
    return { node, outcome: 'not-started', changes: [], ...(kernel ? { kernel } : {}) };
  }
}
