import type { ActivityDeps } from '../deps';
import { createBootActivities } from './boot';
import { createFileActivities } from './files';
import { createGrubActivities } from './grub';
import { createImageActivities } from './images';
import { createInventoryActivities } from './inventory';
import { createLogrotateBatchActivities } from './logrotate-batch';
import { createServiceActivities } from './services';

export type { NodeRef } from './nodes';
/** Test-only (arbitrary commands as root): never part of createNodeActivities. */
export { createNodeCommandActivities } from './services';
export type * from './files';
export type * from './boot';
export type * from './grub';
export type * from './services';
export type * from './images';
export type * from './logrotate-batch';

/**
 * Node-side activities over SSH. Every one takes `{ cluster, node, ... }`: the node's address is
 * looked up in the Kubernetes API on the worker and its SSH settings come from the cluster registry.
 */
export function createNodeActivities(deps: ActivityDeps) {
  return {
    ...createServiceActivities(deps),
    ...createFileActivities(deps),
    ...createBootActivities(deps),
    ...createInventoryActivities(deps),
    ...createImageActivities(deps),
    ...createGrubActivities(deps),
    ...createLogrotateBatchActivities(deps),
  };
}
