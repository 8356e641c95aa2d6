import type { ActivityDeps } from '../deps';

/** Node-side (SSH) activities. Filled in by the SSH-nodes work. */
export function createNodeActivities(_deps: ActivityDeps) {
  return {};
}
