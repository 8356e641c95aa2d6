import { ApplicationFailure } from '@temporalio/common';
import { CALICO_DEFAULTS } from '../../common/calico';
import type { CalicoDockerHubPulls } from '../../common/calico-types';
import { ErrorType } from '../../common/errors';
import { isDockerHubImage } from '../../common/procedures/docker-hub-pull-secret';
import type { ActivityDeps } from '../deps';
import {
  prePullSecretNamespaceAllowed,
  requireImagesAllowed,
  requirePrePullSecretNamespaceAllowed,
} from '../policy';
import { kubeClientsFor } from './client';
import { dockerHubCredentialOf } from './docker-hub';
import {
  deletePrePullPodsOfRun,
  deleteStalePrePullPodsOf,
  prePullImagesOnNodes,
  type PrePullImagesInput,
  type PrePullImagesResult,
  type PrePullRunPods,
} from './prepull';
import {
  deleteOwnPrePullSecret,
  deleteStalePrePullSecretsOf,
  ensurePrePullSecret,
  type EnsurePrePullSecretResult,
} from './prepull-secret';
import { waitForWorkloadRollout, type WaitForRolloutInput, type WaitForRolloutResult } from './rollout';
import {
  deletePodsByUid,
  listWorkloadPods,
  readWorkloadImages,
  setWorkloadImages,
  type PodRef,
  type SetImagesInput,
  type SetImagesResult,
  type WorkloadRef,
  type WorkloadSnapshot,
} from './workloads';

/**
 * Kubernetes activities of calicoImageRepair. Each takes one object parameter naming the cluster by
 * its registry name; the kubeconfig stays on the worker. Idempotency contracts are on the functions
 * they call (prepull.ts, workloads.ts, rollout.ts).
 */
export function createCalicoActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  /**
   * policy.calicoImageRepair.registries (clusters.yaml) decides which images may be pre-pulled on
   * every node and set on calico's privileged DaemonSet: checked here, on the worker, so no workflow
   * input gets past it. Throws ImageNotAllowed (non-retryable) before any API call.
   */
  const checkAllowed = (cluster: string, images: string[]): string[] =>
    requireImagesAllowed(cluster, deps.registry.get(cluster), 'calicoImageRepair', images);
  return {
    /**
     * Read-only (clusters.yaml on the worker): are these images under the cluster's policy.calicoImageRepair.registries?
     * Throws ImageNotAllowed naming the refused ones; returns the allowed prefixes otherwise.
     */
    async checkImagesAllowed(input: {
      cluster: string;
      images: string[];
    }): Promise<{ allowedRegistries: string[] }> {
      return { allowedRegistries: checkAllowed(input.cluster, input.images) };
    },
    /**
     * Read-only (clusters.yaml and the credential file on the worker): do the pre-pulls of these
     * images go to Docker Hub with the worker's credential? Anonymous, saying why, without one or
     * for a namespace the policy keeps it out of; not-needed without a docker.io image. A
     * credential file that cannot be read or parsed fails the run here (RegistryInvalid, naming
     * the file only), before anything changes.
     */
    async checkPrePullCredential(input: {
      cluster: string;
      namespace: string;
      images: string[];
    }): Promise<CalicoDockerHubPulls> {
      if (!input.images.some(isDockerHubImage)) return { mode: 'not-needed' };
      const entry = deps.registry.get(input.cluster);
      if (!entry.dockerHub?.credentialsFile)
        return { mode: 'anonymous', reason: `no dockerHub.credentialsFile for cluster "${input.cluster}"` };
      if (!prePullSecretNamespaceAllowed(entry, input.namespace))
        return {
          mode: 'anonymous',
          reason: `namespace ${input.namespace} is not ${CALICO_DEFAULTS.namespace} nor in policy.dockerHubPullSecret.namespaces`,
        };
      dockerHubCredentialOf(deps.registry, input.cluster);
      return { mode: 'pull-secret' };
    },
    /**
     * Check-then-act create of the run's Docker Hub pull secret (prepull-secret.ts); the namespace
     * is checked against the worker's policy and the credential read here, returned nowhere.
     */
    async ensurePrePullSecret(input: {
      cluster: string;
      namespace: string;
    }): Promise<EnsurePrePullSecretResult> {
      requirePrePullSecretNamespaceAllowed(input.cluster, deps.registry.get(input.cluster), input.namespace);
      const credential = dockerHubCredentialOf(deps.registry, input.cluster);
      if (!credential)
        throw ApplicationFailure.nonRetryable(
          `cluster "${input.cluster}": no dockerHub.credentialsFile in the worker's registry`,
          ErrorType.RegistryInvalid,
        );
      return ensurePrePullSecret(clients.forCluster(input.cluster), credential, input);
    },
    /** Deletes the run's own pull secret; idempotent. */
    async deletePrePullSecret(input: { cluster: string; namespace: string }): Promise<{ deleted: string[] }> {
      return deleteOwnPrePullSecret(clients.forCluster(input.cluster), input);
    },
    /** Deletes the pull secrets of every other run before this one starts; idempotent. */
    async deleteStalePrePullSecrets(input: {
      cluster: string;
      namespace: string;
    }): Promise<{ deleted: string[] }> {
      return deleteStalePrePullSecretsOf(clients.forCluster(input.cluster), input);
    },
    /** Read-only: containers and images of the named workloads. */
    async readWorkloadImages(input: {
      cluster: string;
      namespace: string;
      workloads: WorkloadRef[];
    }): Promise<WorkloadSnapshot[]> {
      return readWorkloadImages(clients.forCluster(input.cluster), input);
    },
    /**
     * Pre-pull a batch of node×image pairs with one watch and one list per round; deletes earlier
     * batches' recorded pods; resumes from its heartbeat and its pods on retry, never re-creating a
     * decided pair's pod.
     */
    async prePullImagesOnNodes(input: PrePullImagesInput): Promise<PrePullImagesResult> {
      checkAllowed(input.cluster, [...new Set(input.pairs.map((p) => p.image))]);
      return prePullImagesOnNodes(clients.forCluster(input.cluster), input);
    },
    /** Deletes the pre-pull pods of every other run before this one starts; idempotent. */
    async deleteStalePrePullPods(input: PrePullRunPods): Promise<{ deleted: string[] }> {
      return deleteStalePrePullPodsOf(clients.forCluster(input.cluster), input);
    },
    /** Label-selector cleanup of a run's pre-pull pods; idempotent. */
    async deletePrePullPods(input: PrePullRunPods): Promise<{ deleted: string[] }> {
      return deletePrePullPodsOfRun(clients.forCluster(input.cluster), input);
    },
    /** Check-then-act `set image`; records the previous images. */
    async setWorkloadImages(input: SetImagesInput & { cluster: string }): Promise<SetImagesResult> {
      checkAllowed(
        input.cluster,
        input.images.map((i) => i.image),
      );
      return setWorkloadImages(clients.forCluster(input.cluster), input, deps.testHooks);
    },
    /** Read-only: the pods a workload selects now (name + UID). */
    async listWorkloadPods(input: WorkloadRef & { cluster: string; namespace: string }): Promise<PodRef[]> {
      return listWorkloadPods(clients.forCluster(input.cluster), input);
    },
    /** Deletes pods by name with a UID precondition; gone or replaced pods are skipped. */
    async deletePodsByUid(input: {
      cluster: string;
      namespace: string;
      pods: PodRef[];
    }): Promise<{ deleted: string[]; alreadyGone: string[] }> {
      return deletePodsByUid(clients.forCluster(input.cluster), input);
    },
    /** Heartbeating `rollout status` with kubectl's rules; resumes its deadline after a retry. */
    async waitForRollout(input: WaitForRolloutInput & { cluster: string }): Promise<WaitForRolloutResult> {
      return waitForWorkloadRollout(clients.forCluster(input.cluster), input);
    },
  };
}

export type CalicoActivities = ReturnType<typeof createCalicoActivities>;
