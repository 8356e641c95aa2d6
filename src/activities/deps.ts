import type { Approver, ClusterEntry } from '../common/registry-schema';

/**
 * What the worker injects into createActivities. Tests inject other implementations.
 */
export interface ClusterRegistry {
  /** Throws an ApplicationFailure of type UnknownCluster (non-retryable) for a name it does not know. */
  get(name: string): ClusterEntry;
  names(): string[];
  /** Who may approve runs (clusters.yaml `approvers`), with their public keys. */
  approvers(): readonly Approver[];
}

/**
 * Test-only seams, never set by the worker's entry point (no configuration reaches them): they let a
 * test act between an activity's read and its write, e.g. to prove a concurrent edit is detected.
 */
export interface ActivityTestHooks {
  /** Called after an object was read and before it is written back (with its resourceVersion). */
  beforeWrite?(target: WriteTarget): Promise<void>;
  /**
   * Called right after a write succeeded and before the activity returns: a test kills the worker
   * here to prove a retry finds the change made and does not make it twice.
   */
  afterWrite?(target: WriteTarget): Promise<void>;
}

/** The object about to be written, as a test hook sees it. */
export interface WriteTarget {
  kind: string;
  namespace: string;
  name: string;
  /** 1 for the first write of this activity call; more when it re-read after a conflict. */
  attempt?: number;
}

export interface ActivityDeps {
  registry: ClusterRegistry;
  testHooks?: ActivityTestHooks;
}
