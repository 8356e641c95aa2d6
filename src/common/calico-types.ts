/** calicoImageRepair's input and report types (PROCEDURES.md 6). Validation lives in calico.ts. */
import type { BaseRemediationInput } from './types';

/** Raw input as sent by the CLI/SDK/Temporal CLI; validated and defaulted by src/common/calico.ts. */
export interface CalicoImageRepairInput extends BaseRemediationInput {
  /** Image tag; default v3.24.1. */
  tag?: string;
  /** Repository prefix the image names go under; default docker.io/calico (the guide's `calico/`). */
  registry?: string;
  /** Default kube-system. */
  namespace?: string;
  /** Pre-pulls running at once; default 10. */
  maxParallel?: number;
  /** Stop starting new pre-pulls after this many failed; default 3. */
  maxFailures?: number;
  /** Per node×image pre-pull; default 360. */
  prePullTimeoutSeconds?: number;
  /** DaemonSet rollout timeout per node; default 240 (the guide's nodes × 4 min). */
  daemonSetRolloutSecondsPerNode?: number;
  /** Each Deployment's rollout timeout; default 240. */
  deploymentRolloutTimeoutSeconds?: number;
  /** Pre-pull on Ready nodes only and go on, instead of stopping when a node is NotReady. */
  skipNotReadyNodes?: boolean;
  /** Wait for an `approve` Update after preflight, before the first change. */
  requireApproval?: boolean;
  /** Node×image pre-pulls per workflow history; more go to child workflows. Default 120. */
  prePullBatchSize?: number;
}

export type CalicoWorkloadKind = 'DaemonSet' | 'Deployment';

export interface CalicoContainerChange {
  container: string;
  init: boolean;
  current: string | null;
  target: string;
  upToDate: boolean;
}

export interface CalicoWorkloadPlan {
  kind: CalicoWorkloadKind;
  name: string;
  action: 'update' | 'skip-up-to-date' | 'missing';
  changes: CalicoContainerChange[];
  note: string;
}

export interface CalicoPlan {
  namespace: string;
  /** Nodes the images are pre-pulled on. */
  nodes: string[];
  /** NotReady nodes left out (skipNotReadyNodes). */
  skippedNodes: string[];
  images: string[];
  workloads: CalicoWorkloadPlan[];
  rolloutTimeouts: Record<string, number>;
}

export interface CalicoPrePullOutcome {
  node: string;
  image: string;
  outcome: 'pulled' | 'failed' | 'not-started';
  /** ErrImagePull, ImagePullBackOff, Timeout, ... */
  reason?: string;
  podName?: string;
  /** This attempt created the pod (false: found and reused the pod of an earlier attempt). */
  podCreated?: boolean;
  attempt?: number;
  startedAt?: string;
  durationMs?: number;
}

export interface CalicoNodeReport {
  node: string;
  outcome: 'pulled' | 'failed' | 'incomplete';
  failedImages: string[];
}

export interface CalicoWorkloadReport {
  kind: CalicoWorkloadKind;
  name: string;
  outcome: 'updated' | 'skipped' | 'failed' | 'not-attempted' | 'missing';
  detail: string;
  /** Images before the change, per container: what an undo would set back. */
  previousImages?: { container: string; init: boolean; image: string }[];
  rolloutMessage?: string;
  /** calico-typha after a failed rollout: the pre-update pods deleted (the guide's delete_old_pods, fixed). */
  oldPodsDeleted?: string[];
  /** Pre-update pods that were already gone (the rollout itself removed them) when the deletion ran. */
  oldPodsAlreadyGone?: string[];
  startedAt?: string;
  durationMs?: number;
}

export interface CalicoImageRepairResult {
  cluster: string;
  outcome: 'repaired' | 'nothing-to-do' | 'planned' | 'failed' | 'approval-expired';
  dryRun: boolean;
  plan: CalicoPlan;
  approvedBy?: string;
  prePulls: CalicoPrePullOutcome[];
  nodes: CalicoNodeReport[];
  workloads: CalicoWorkloadReport[];
  /** `kind/name` of every workload whose update failed (the guide's "Please check to resources status"). */
  failedResources: string[];
  /** Wall time per phase in ms. */
  phaseDurationsMs: Record<string, number>;
  summary: string;
}

/** Child workflow running one batch of pre-pulls (large clusters keep each history small). */
export interface CalicoPrePullBatchInput {
  cluster: string;
  namespace: string;
  /** Label value shared by every pre-pull pod of the parent run, for cleanup. */
  runLabel: string;
  pairs: { node: string; image: string }[];
  maxParallel: number;
  /** Failures allowed in this batch before it stops starting new pre-pulls. */
  failureBudget: number;
  prePullTimeoutSeconds: number;
}

export interface CalicoPrePullBatchResult {
  outcomes: CalicoPrePullOutcome[];
}
