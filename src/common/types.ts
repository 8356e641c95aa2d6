/**
 * Types every procedure shares: the base input, progress lines and the approval request. Plain types
 * (no Temporal imports), so common/, workflows/, activities/ and clients can all use them.
 */
import type { SignedApproval } from './approval-statement';

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
  /** While the run waits for approval: what an approver signs (nksr approve reads it). */
  approval?: { runId: string; plan: string; planDigest: string };
  items: ProgressItem[];
  /** Human-readable log of phase transitions, newest last. */
  events: string[];
}

/** The approve Update's argument: a statement signed with an approver's key (nksr approve). */
export type ApprovalRequest = SignedApproval;

export interface ApprovalResult {
  /** The gate took the statement: it decided the run. */
  accepted: boolean;
  /** The verified approver (from the worker's approvers list), when accepted. */
  approver?: string;
  decision?: 'approved' | 'rejected';
  /** Why the gate did not take it (the run keeps waiting). */
  reason?: string;
  phase: string;
}
