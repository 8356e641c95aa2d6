import type { CalicoPrePullOutcome } from '../../common/calico-types';
import type { ActivityDeps } from '../deps';
import { kubeClientsFor } from './client';
import {
  deletePrePullPodOf,
  deletePrePullPodsOfRun,
  prePullImageOnNode,
  type PrePullImageInput,
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
  return {
    /** Read-only: containers and images of the named workloads. */
    async readWorkloadImages(input: {
      cluster: string;
      namespace: string;
      workloads: WorkloadRef[];
    }): Promise<WorkloadSnapshot[]> {
      return readWorkloadImages(clients.forCluster(input.cluster), input);
    },
    /** Pre-pull one image on one node; adopts its deterministic pod on retry; deletes it unless `keepPod`. */
    async prePullImage(input: PrePullImageInput): Promise<CalicoPrePullOutcome> {
      return prePullImageOnNode(clients.forCluster(input.cluster), input);
    },
    /** Deletes one node×image pre-pull pod after its verdict is recorded; idempotent. */
    async deletePrePullPod(input: {
      cluster: string;
      namespace: string;
      node: string;
      image: string;
    }): Promise<{ deleted: boolean }> {
      return deletePrePullPodOf(clients.forCluster(input.cluster), input);
    },
    /** Label-selector cleanup of a run's pre-pull pods; idempotent. */
    async deletePrePullPods(input: {
      cluster: string;
      namespace: string;
      runLabel: string;
    }): Promise<{ deleted: string[] }> {
      return deletePrePullPodsOfRun(clients.forCluster(input.cluster), input);
    },
    /** Check-then-act `set image`; records the previous images. */
    async setWorkloadImages(input: SetImagesInput & { cluster: string }): Promise<SetImagesResult> {
      return setWorkloadImages(clients.forCluster(input.cluster), input);
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
