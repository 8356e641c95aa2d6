/**
 * Types every procedure shares: the base input, progress lines and the approval request. Plain types
 * (no Temporal imports), so common/, workflows/, activities/ and clients can all use them.
 */

/** Every procedure's input names the cluster by its registry name; credentials stay on the worker. */
export interface BaseRemediationInput {
  cluster: string;
  /** Compute and return the plan; change nothing. */
  dryRun?: boolean;
  /** Who asked for the run (nksr and the SDK set it); an approver may be required to differ. */
  requestedBy?: string;
}

/** A pod as the API names it: namespace, name, and the UID that tells a replacement apart. */
export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/** The controller that owns (and recreates) a pod: ReplicaSet, StatefulSet, DaemonSet, Job. */
export interface OwnerController {
  kind: string;
  name: string;
  uid: string;
}

export type ItemOutcome = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'unchanged';

/** One line of progress: a node, a node×image, an object. */
export interface ProgressItem {
  key: string;
  kind: 'node' | 'node-image' | 'resource' | 'object';
  outcome: ItemOutcome;
  detail?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface Progress {
  workflowType: string;
  cluster: string;
  phase: string;
  dryRun: boolean;
  awaitingApproval: boolean;
  items: ProgressItem[];
  /** Human-readable log of phase transitions, newest last. */
  events: string[];
}

export interface ApprovalRequest {
  /** Who approves: recorded in history with the decision. */
  approver: string;
  approve?: boolean;
  comment?: string;
}
export interface ApprovalResult {
  accepted: boolean;
  approver: string;
  phase: string;
}
