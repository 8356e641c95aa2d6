/**
 * Every activity the worker registers. The worker injects the real registry; tests inject others.
 * Workflows import the *type* of this (Activities) and never the implementations.
 */
import { createApprovalActivities } from './approvals';
import type { ActivityDeps } from './deps';
import { createCalicoActivities } from './kube/calico';
import { createCinderActivities } from './kube/cinder';
import { createClosedNetworkActivities } from './kube/closed-network';
import { createClusterLockActivities } from './kube/cluster-lock';
import { createDisruptionActivities } from './kube/disruption';
import { createDiagnosisActivities } from './kube/diagnosis/activity';
import { createFsGroupActivities } from './kube/fsgroup';
import { createDockerHubActivities } from './kube/docker-hub';
import { createGhcrActivities } from './kube/ghcr';
import { createNfsLockActivities } from './kube/nfs-lock';
import { createPreflightActivities } from './kube/nodes';
import { createNodeActivities } from './node';
import { createPolicyActivities } from './policy';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPreflightActivities(deps),
    ...createCalicoActivities(deps),
    ...createCinderActivities(deps),
    ...createFsGroupActivities(deps),
    ...createGhcrActivities(deps),
    ...createDockerHubActivities(deps),
    ...createNodeActivities(deps),
    ...createNfsLockActivities(deps),
    ...createClosedNetworkActivities(deps),
    ...createClusterLockActivities(deps),
    ...createDisruptionActivities(deps),
    ...createDiagnosisActivities(deps),
    ...createPolicyActivities(deps),
    ...createApprovalActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
