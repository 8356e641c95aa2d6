import type { ActivityDeps } from '../deps';
import { requireImagesAllowed } from '../policy';
import { kubeClientsFor } from './client';
import {
  deletePrePullPodsOfRun,
  deleteStalePrePullPodsOf,
  prePullImagesOnNodes,
  type PrePullImagesInput,
  type PrePullImagesResult,
  type PrePullRunPods,
} from './prepull';
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
