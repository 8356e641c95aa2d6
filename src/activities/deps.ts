import type { ClusterEntry } from '../common/registry-schema';

/**
 * What the worker injects into createActivities. Tests inject other implementations.
 */
export interface ClusterRegistry {
  /** Throws an ApplicationFailure of type UnknownCluster (non-retryable) for a name it does not know. */
  get(name: string): ClusterEntry;
  names(): string[];
}

export interface ActivityDeps {
  registry: ClusterRegistry;
}
