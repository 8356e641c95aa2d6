/** The worker's workflowsPath: every workflow type it runs. */
export { clusterPreflight } from './cluster-preflight';
export { calicoImageRepair, calicoPrePullBatch, calicoPrePullFanOutBatch } from './calico-image-repair';
export { nodeInventory } from './node-inventory';
export { logrotateSync } from './logrotate-sync';
export { nfsLockServicesRestart } from './nfs-lock-services-restart';
