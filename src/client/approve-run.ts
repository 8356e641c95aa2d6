/**
 * What nksr approve does with a key: read the plan a run waits with, sign the decision on it, send it.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { ApprovalStatement } from '../common/approval-statement';
import { approveUpdate, type ApprovalResult, progressQuery } from '../workflows/definitions';
import { signApproval } from './approver-key';

/**
 * Signs a decision on the plan `handle`'s run waits with and sends it (what nksr approve does):
 * the gate's answer, with the reason when it did not take it.
 */
export async function approveWaitingRun(
  handle: WorkflowHandle,
  privateKeyPem: string,
  decision: ApprovalStatement['decision'] = 'approve',
  opts: { comment?: string; validForMs?: number } = {},
): Promise<ApprovalResult> {
  const p = await handle.query(progressQuery);
  if (!p.approval) throw new Error(`${handle.workflowId} is not waiting for approval (phase ${p.phase})`);
  const signed = signApproval(
    privateKeyPem,
    { workflowId: handle.workflowId, runId: p.approval.runId, planDigest: p.approval.planDigest },
    decision,
    opts,
  );
  return handle.executeUpdate(approveUpdate, { args: [signed] });
}
