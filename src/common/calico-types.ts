/** calicoImageRepair's input and report types (docs/procedures.md §6). Validation lives in calico.ts. */
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
  /** wait-rollout: the spec is on target, its rollout is not complete (an earlier run stopped there). */
  action: 'update' | 'wait-rollout' | 'skip-up-to-date' | 'missing';
  changes: CalicoContainerChange[];
  note: string;
}

export interface CalicoPlan {
  namespace: string;
  /** Nodes the images are pre-pulled on (the first ones only on a large cluster: see nodeCount). */
  nodes: string[];
  nodeCount?: number;
  /** NotReady nodes left out (skipNotReadyNodes). */
  skippedNodes: string[];
  images: string[];
  workloads: CalicoWorkloadPlan[];
  rolloutTimeouts: Record<string, number>;
  /** How the pre-pulls of docker.io images authenticate (set once the worker's policy was read). */
  dockerHubPulls?: CalicoDockerHubPulls;
}

/**
 * pull-secret: docker.io pre-pull pods reference a pull secret the run makes of the worker's Docker
 * Hub credential (and deletes after); anonymous: no credential for them, `reason` says why;
 * not-needed: no image is on docker.io.
 */
export interface CalicoDockerHubPulls {
  mode: 'pull-secret' | 'anonymous' | 'not-needed';
  reason?: string;
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
  /** The pod was deleted after the verdict was recorded (absent: it may still be there). */
  podRemoved?: boolean;
}

/**
 * The heartbeat details of prePullImagesOnNodes, by pair index in its batch: what a retried attempt
 * resumes from, and what the workflow learns of a batch whose activity timed out (its last details).
 */
export interface CalicoPrePullBatchProgress {
  /** When each started pair's pod was first created (ms since epoch): its deadline counts from it. */
  started: Record<string, number>;
  /** Each decided pair's verdict: never pulled again, its pod never re-created. */
  verdicts: Record<string, CalicoPrePullBatchVerdict>;
}

/**
 * A failed prePullImagesOnNodes attempt appends `{ prePullBatchProgress: CalicoPrePullBatchProgress }`
 * to its ApplicationFailure's details: a workflow sees no heartbeat details of an activity that
 * failed, and needs them to tell the pairs the batch never started from those that failed.
 */
export const PREPULL_BATCH_PROGRESS_DETAIL = 'prePullBatchProgress';

/** One pair's verdict in CalicoPrePullBatchProgress (short keys: they ride every heartbeat). */
export interface CalicoPrePullBatchVerdict {
  o: CalicoPrePullOutcome['outcome'];
  /** reason */
  r?: string;
  /** ms from the pair's start to its verdict */
  d: number;
  /** the attempt that decided created the pod */
  c: boolean;
  /** the pod is known gone (pairs the failure budget stopped: deleted at once) */
  rm?: boolean;
}

/** What the run's final pre-pull cleanup did, or could not do. */
export interface CalicoPrePullCleanup {
  /** The label value (`nksr.io/run`) of every pre-pull pod of this run. */
  runLabel: string;
  /** Pods of earlier runs deleted before this run's pre-pulls started. */
  staleDeleted: string[];
  /** Pods of this run the cleanup deleted. */
  deleted: number;
  /** When the cleanup failed: every pod of this run not known to be gone, by name. */
  leftovers: string[];
  error?: string;
  /** Pull secrets of earlier runs deleted before this run's pre-pulls started. */
  staleSecretsDeleted?: string[];
  /** This run's Docker Hub pull secret, when it made one: deleted, or left (with why). */
  pullSecret?: { name: string; deleted: boolean; error?: string };
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
  /**
   * Whether this run changed the workload's images: `unknown` when the call that sets them failed
   * (the patch may have landed before the API went away). Absent in runs before step outcomes.
   */
  changed?: 'yes' | 'no' | 'unknown';
  /** The step whose API calls failed past their retries (list-pods, set-images, delete-old-pods). */
  failedStep?: string;
}

export interface CalicoImageRepairResult {
  cluster: string;
  outcome: 'repaired' | 'nothing-to-do' | 'planned' | 'failed' | 'approval-expired';
  dryRun: boolean;
  plan: CalicoPlan;
  approvedBy?: string;
  /**
   * Every pre-pull that did not succeed; successful ones only while the list stays short (see
   * `omitted`). The progress query and the history have each one.
   */
  prePulls: CalicoPrePullOutcome[];
  /** Pre-pulls per outcome (pulled, failed, not-started), all of them. */
  prePullCounts?: Record<string, number>;
  /** Every node whose pre-pulls did not all succeed; the others while the list stays short. */
  nodes: CalicoNodeReport[];
  /** Entries left out of `prePulls`, `nodes` and `plan.nodes` to keep the result small at fleet scale. */
  omitted?: { prePulls: number; nodes: number; planNodes: number };
  workloads: CalicoWorkloadReport[];
  /** `kind/name` of every workload whose update failed (the guide's "Please check to resources status"). */
  failedResources: string[];
  /** Wall time per phase in ms. */
  phaseDurationsMs: Record<string, number>;
  /** The pre-pull pods' cleanup: stale ones swept first, this run's at the end, what was left. */
  prePullCleanup?: CalicoPrePullCleanup;
  summary: string;
}

/** One node×image pre-pull. */
export interface CalicoPrePullPair {
  node: string;
  image: string;
}
