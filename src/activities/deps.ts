import type { ClusterEntry } from '../common/registry-schema';

/**
 * What the worker injects into createActivities. Tests inject other implementations.
 */
export interface ClusterRegistry {
  /** Throws an ApplicationFailure of type UnknownCluster (non-retryable) for a name it does not know. */
  get(name: string): ClusterEntry;
  names(): string[];
}

/**
 * Test-only seams, never set by the worker's entry point (no configuration reaches them): they let a
 * test act between an activity's read and its write, e.g. to prove a concurrent edit is detected.
 */
export interface ActivityTestHooks {
  /** Called after an object was read and before it is written back, with `kind namespace/name`. */
  beforeWrite?(object: string): Promise<void>;
}

export interface ActivityDeps {
  registry: ClusterRegistry;
  testHooks?: ActivityTestHooks;
}
