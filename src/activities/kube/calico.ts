import type { ActivityDeps } from '../deps';

/** Kubernetes activities of calicoImageRepair. Filled in by the calico work. */
export function createCalicoActivities(_deps: ActivityDeps) {
  return {};
}
