/** The worker's workflowsPath: every workflow type it runs. */
export { clusterPreflight } from './cluster-preflight';
export { calicoImageRepair, calicoPrePullBatch, calicoPrePullFanOutBatch } from './calico-image-repair';
export { nodeInventory } from './node-inventory';
export { cinderRescanOnResize } from './cinder-rescan-on-resize';
export { fsGroupChangePolicy } from './fs-group-change-policy';
export { ghcrMigration } from './ghcr-migration';
export { dockerHubPullSecret } from './docker-hub-pull-secret';
export { logrotateSync } from './logrotate-sync';
export { nfsLockServicesRestart } from './nfs-lock-services-restart';
export { closedNetworkImageRecovery } from './closed-network-image-recovery';
export { disableKmemAccounting } from './disable-kmem-accounting';
export { clusterDiagnosis } from './cluster-diagnosis';
