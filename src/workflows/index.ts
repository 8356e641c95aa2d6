/** The worker's workflowsPath: every workflow type it runs. */
export { clusterPreflight } from './cluster-preflight';
export { calicoImageRepair, calicoPrePullBatch } from './calico-image-repair';
