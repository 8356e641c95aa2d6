/**
 * What nksr approve does with a key: read the plan a run waits with, sign the decision on it, send it.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { ApprovalStatement } from '../common/approval-statement';
import { approveUpdate, type ApprovalResult, progressQuery } from '../workflows/definitions';
import { signApproval } from './approver-key';

/** The run is not waiting for approval, or not with the plan the caller expected. */
export class NotWaitingForApprovalError extends Error {
  override readonly name = 'NotWaitingForApprovalError';
}

/**
 * Signs a decision on the plan `handle`'s run waits with and sends it (what nksr approve does):
 * the gate's answer, with the reason when it did not take it. `expectPlanDigest` refuses to sign
 * when the waiting plan is not the one the caller saw.
 */
export async function approveWaitingRun(
  handle: WorkflowHandle,
  privateKeyPem: string,
  decision: ApprovalStatement['decision'] = 'approve',
  opts: { comment?: string; validForMs?: number; expectPlanDigest?: string } = {},
): Promise<ApprovalResult> {
  const p = await handle.query(progressQuery);
  if (!p.approval)
    throw new NotWaitingForApprovalError(
      `${handle.workflowId} is not waiting for approval (phase ${p.phase})`,
    );
  if (opts.expectPlanDigest && opts.expectPlanDigest !== p.approval.planDigest)
    throw new NotWaitingForApprovalError(
      `${handle.workflowId} waits with another plan (sha256 ${p.approval.planDigest}) than the one expected`,
    );
  const signed = signApproval(
    privateKeyPem,
    { workflowId: handle.workflowId, runId: p.approval.runId, planDigest: p.approval.planDigest },
    decision,
    { comment: opts.comment, validForMs: opts.validForMs },
  );
  return handle.executeUpdate(approveUpdate, { args: [signed] });
}
