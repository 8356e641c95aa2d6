/**
 * Inputs, results, queries, updates and signals of every workflow. Imported by workflows, the
 * client SDK and the CLI; deterministic, no Node built-ins.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

// ---------------------------------------------------------------------------------------------
// Common to every procedure
// ---------------------------------------------------------------------------------------------

/** Every procedure's input names the cluster by its registry name; credentials stay on the worker. */
export interface BaseRemediationInput {
  cluster: string;
  /** Compute and return the plan; change nothing. */
  dryRun?: boolean;
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

export const progressQuery = defineQuery<Progress>('progress');

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
/** Approval gates are Updates: validated, answered synchronously, recorded in history with the approver. */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalRequest]>('approve');

// ---------------------------------------------------------------------------------------------
// clusterPreflight
// ---------------------------------------------------------------------------------------------

export type ClusterPreflightInput = BaseRemediationInput;

export interface NodeReport {
  name: string;
  ready: boolean;
  /** Reason/message of the Ready condition when not Ready. */
  readyReason?: string;
  internalIP?: string;
  kubeletVersion: string;
  containerRuntime: string;
  bootID?: string;
  unschedulable: boolean;
}

export interface ClusterPreflightResult {
  cluster: string;
  nodes: NodeReport[];
  readyCount: number;
  notReady: string[];
  checkedAt: string;
}
