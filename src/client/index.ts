/** The package's SDK entry: `import { createNksClient } from 'nks-remediation'`. */
export {
  createNksClient,
  InvalidRemediationInputError,
  NksClient,
  NksClientError,
  type ApproveOptions,
  type NksClientOptions,
  type ProcedureName,
  RemediationAlreadyRunningError,
  type RemediationInput,
  type RemediationHandle,
  type RemediationListEntry,
  type RemediationResult,
  type RemediationStatus,
  type StartedRemediation,
  TemporalUnreachableError,
} from './sdk';
export { approveWaitingRun } from './approve-run';
export { defaultApproverKeyPath, generateApproverKey, readApproverKey, signApproval } from './approver-key';
export {
  analyzeHistory,
  auditHistoryFile,
  auditRemediation,
  buildAuditTimeline,
  type AuditEntry,
  type AuditOptions,
  type AuditReport,
} from './audit';
export { PROCEDURES, TASK_QUEUE, remediationWorkflowId, type WorkflowType } from '../common/procedures';
export { ErrorType } from '../common/errors';
export type * from '../workflows/definitions';
