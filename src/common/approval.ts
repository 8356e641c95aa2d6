/**
 * Input fields of a procedure that can stop at an approval gate (src/workflows/lib/approval.ts).
 * A zod fragment: a procedure's schema spreads `ApprovalInputSchema.shape` into its own. The
 * descriptions feed CLI help and the JSON Schemas. No Node built-ins here.
 */
import { z } from 'zod';
import { boundedInt } from './inputs';

export const APPROVAL_DEFAULTS = {
  /** 24 h. */
  timeoutMinutes: 1440,
  /** 30 days. */
  maxTimeoutMinutes: 43_200,
} as const;

export const ApprovalInputSchema = z.object({
  requireApproval: z
    .boolean()
    .default(false)
    .describe('wait for an `approve` Update (nksr approve) after preflight, before the first change'),
  approvalTimeoutMinutes: boundedInt(
    1,
    APPROVAL_DEFAULTS.maxTimeoutMinutes,
    APPROVAL_DEFAULTS.timeoutMinutes,
    'minutes to wait for a decision; then the run ends approval-expired, having changed nothing',
  ),
  requireDistinctApprover: z
    .boolean()
    .default(false)
    .describe('the approver must be someone other than the requester (requestedBy)'),
});

/** As sent by a client (every field optional). */
export type ApprovalInput = z.input<typeof ApprovalInputSchema>;
/** Validated, defaults filled. */
export type ApprovalOptions = z.output<typeof ApprovalInputSchema>;
