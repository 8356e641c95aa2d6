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
    .describe(
      'the approver must be someone other than the requester: the signer of the request when it is signed (nksr run signs it), else requestedBy',
    ),
});

/** As sent by a client (every field optional). */
export type ApprovalInput = z.input<typeof ApprovalInputSchema>;
/** Validated, defaults filled. */
export type ApprovalOptions = z.output<typeof ApprovalInputSchema>;

/**
 * When a procedure's run waits for approval, as the worker's policy decides it (clusters.yaml
 * `policy.approvals`); an input's `requireApproval: false` never lowers it.
 * - `required`: every run that would change something.
 * - `when-risky`: a run whose input leaves the guide's defaults (another registry, another config).
 * - `on-request`: only a run whose input asks (`requireApproval: true`).
 */
export const APPROVAL_MODES = ['required', 'when-risky', 'on-request'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

/** The worker's default approval policy; procedures not listed are `on-request`. */
export const DEFAULT_APPROVAL_MODES: Readonly<Record<string, ApprovalMode>> = {
  disableKmemAccounting: 'required',
  closedNetworkImageRecovery: 'required',
  logrotateSync: 'when-risky',
  calicoImageRepair: 'when-risky',
};

/** What the worker's approval policy says of one run. */
export interface ApprovalPolicyDecision {
  required: boolean;
  mode: ApprovalMode;
  /** policy.approverOtherThanRequester: the approver must not be the (verified) requester. */
  approverOtherThanRequester: boolean;
  /** Why the policy asks for approval (shown with the gate), when it does. */
  reason?: string;
}
