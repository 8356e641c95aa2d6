/**
 * Queries, updates and signals of every workflow, and (re-exported from common/) their inputs and
 * results. Imported by workflows, the client SDK and the CLI; deterministic, no Node built-ins.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalRequest, ApprovalResult, Progress } from '../common/types';

export type * from '../common/types';
export type * from '../common/preflight-types';
export type * from '../common/calico-types';
export type { CalicoImageRepairInput } from '../common/calico';
export type { NodeInventoryInput, NodeInventoryResult } from '../common/procedures/node-inventory';
export type {
  CinderRescanOnResizeInput,
  CinderRescanOnResizeResult,
} from '../common/procedures/cinder-rescan-on-resize';
export type {
  FsGroupChangePolicyInput,
  FsGroupChangePolicyResult,
} from '../common/procedures/fs-group-change-policy';
export type { GhcrMigrationInput, GhcrMigrationResult } from '../common/procedures/ghcr-migration';
export type {
  DockerHubPullSecretInput,
  DockerHubPullSecretResult,
} from '../common/procedures/docker-hub-pull-secret';
export type { ClusterDiagnosisInput, ClusterDiagnosisResult } from '../common/procedures/cluster-diagnosis';

export const progressQuery = defineQuery<Progress>('progress');

/** Approval gates are Updates: validated, answered synchronously, recorded in history with the approver. */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalRequest]>('approve');
