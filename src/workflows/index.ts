/**
 * The worker's workflowsPath: every workflow type it runs.
 *
 * Versioning: before the first release the recorded histories (test/replay/histories) are fixtures
 * of this code and are re-recorded when it changes; no patched() branch is kept for them. From the
 * first release on, a change to a running workflow's commands goes behind patched(), then
 * deprecatePatch(), then is removed (or Worker Versioning pins runs to their build). DEVELOPMENT.md
 * "Versioning and recorded histories" says how to record.
 */
export { clusterPreflight } from './cluster-preflight';
export { calicoImageRepair } from './calico-image-repair';
export { nodeInventory } from './node-inventory';
export { cinderRescanOnResize } from './cinder-rescan-on-resize';
export { fsGroupChangePolicy } from './fs-group-change-policy';
export { ghcrMigration } from './ghcr-migration';
export { dockerHubPullSecret } from './docker-hub-pull-secret';
export { logrotateSync } from './logrotate-sync';
export { nfsLockServicesRestart } from './nfs-lock-services-restart';
export { closedNetworkImageRecovery } from './closed-network-image-recovery';
export { disableKmemAccounting } from './disable-kmem-accounting';
export { disableKmemAccountingNodes } from './disable-kmem-accounting/nodes-child';
export { clusterDiagnosis } from './cluster-diagnosis';
