/**
 * The approval gate: a procedure stops before its first change until an approver decides, through
 * the `approve` Update carrying a statement signed with the approver's key (nksr approve, the SDK).
 *
 * - Signed: the statement names this run, the digest of the plan the gate shows, the decision and an
 *   expiry; an activity verifies it against the worker's `approvers` (clusters.yaml). History records
 *   the verified approver's name. A statement that fails (unknown key, another run's or another
 *   plan's, expired, already used, the requester's own where two people are wanted) is answered with
 *   the reason, noted in the run's progress, and the run keeps waiting.
 * - Expiry: with no decision within `approvalTimeoutMinutes` (default 24 h) the gate returns
 *   `{ decision: 'expired' }` and the run's phase becomes `approval-expired`: the procedure returns a
 *   result saying nothing changed.
 * - A rejection fails the run with ApprovalRejected (non-retryable).
 *
 * The handler is registered at the start of every run (ProgressTracker's constructor), not when the
 * gate is reached: an Update sent to a handler-less workflow would be buffered and then accepted at
 * the gate, instead of refused as early.
 *
 * Usage in a procedure (after preflight, before the first change):
 *   const gate = await approvalStep(progress, `roll ${names}`, input);
 *   if (gate?.decision === 'expired') return report('approval-expired', `no decision within ${gate.after}; nothing changed`);
 *   approvedBy = gate?.approver;
 */
import { ApplicationFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { APPROVAL_DEFAULTS } from '../../common/approval';
import { ErrorType } from '../../common/errors';
import { quickActivities } from '../activity-profiles';
import { type ApprovalRequest, type ApprovalResult, approveUpdate } from '../definitions';
import { verifyRequest } from './requester';

/** The gate's phases (also in progress.ts's Phase). */
export const ApprovalPhase = {
  AwaitingApproval: 'awaiting-approval',
  ApprovalExpired: 'approval-expired',
} as const;

/** What a gate needs from the procedure's input (ApprovalInputSchema + BaseRemediationInputSchema fields). */
export interface ApprovalGateOptions {
  /** Minutes to wait for a decision; default APPROVAL_DEFAULTS.timeoutMinutes (24 h). */
  approvalTimeoutMinutes?: number;
  /**
   * The approver must differ from the requester: the verified signer of the run's request, or
   * else `requestedBy` (compared trimmed, case-insensitively).
   */
  requireDistinctApprover?: boolean;
  /** Who asked for the run, as the client says. */
  requestedBy?: string;
  /**
   * The worker's policy wants two people: the approver must differ from the verified requester,
   * so a run whose request is not signed cannot be approved.
   */
  approverOtherThanRequester?: boolean;
}

export type ApprovalOutcome =
  | { decision: 'approved'; approver: string; comment?: string }
  | {
      decision: 'expired';
      /** How long the gate waited, for people: `30m`, `24h`, `1h30m`. */
      after: string;
      timeoutMinutes: number;
    };

interface Waiting {
  requireDistinctApprover: boolean;
  requestedBy?: string;
  /** What the approver is shown and signs the digest of. */
  plan: string;
  planDigest: string;
}

interface Decision {
  approve: boolean;
  approver: string;
  comment?: string;
}

/** A statement and its signature are short; anything longer is not one. */
const MAX_SIGNED_BYTES = 8192;

/** `30m`, `24h`, `1h30m`. */
export function formatMinutes(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}

/**
 * What the gate needs of the run's progress: the phase it shows, and the event log. Declared here
 * (ProgressTracker implements it) so the gate does not depend on the tracker that owns it.
 */
export interface GateProgress {
  readonly phaseName: string;
  phase(name: string, summary?: string): void;
  conclude(name: string, summary?: string): void;
  note(message: string): void;
}

/** One per run, owned by the run's ProgressTracker (`progress.approval`). */
export class ApprovalGate {
  /** Set while the gate waits. */
  private waiting?: Waiting;
  private decision?: Decision;
  /** Nonces of the statements this run took: none decides twice. */
  private readonly usedNonces: string[] = [];

  /** The signer of the run's request, once verified (verifyRequester). */
  private requester?: string;
  private requesterChecked = false;

  constructor(
    private readonly progress: GateProgress,
    /** The run's input as started: its requestSignature says who asked. */
    private readonly request?: unknown,
  ) {
    setHandler(approveUpdate, (req: ApprovalRequest): Promise<ApprovalResult> => this.decide(req), {
      // Rejected here, an Update leaves no trace in history: only statements the gate weighs are recorded.
      validator: (req: ApprovalRequest) => this.validate(req),
    });
  }

  /** Who signed the run's request, verified (see verifyRequest); cached for the run. */
  async verifyRequester(): Promise<string | undefined> {
    if (!this.requesterChecked) {
      this.requester = await verifyRequest(this.request, (m) => this.progress.note(m));
      this.requesterChecked = true;
    }
    return this.requester;
  }

  /** True while the gate waits and nobody has decided yet (the `progress` query's awaitingApproval). */
  get awaiting(): boolean {
    return this.waiting !== undefined && this.decision === undefined;
  }

  /** While waiting: what an approver signs (the `progress` query's approval). */
  get view(): { runId: string; plan: string; planDigest: string } | undefined {
    const w = this.awaiting ? this.waiting : undefined;
    return w && { runId: workflowInfo().runId, plan: w.plan, planDigest: w.planDigest };
  }

  /**
   * Waits for a decision. Resolves `approved` with the verified approver, or `expired` (NksPhase
   * approval-expired, which run() keeps as the final phase) when the timeout passes first; a
   * rejection throws ApprovalRejected.
   */
  async wait(what: string, opts: ApprovalGateOptions = {}): Promise<ApprovalOutcome> {
    const timeoutMinutes = opts.approvalTimeoutMinutes ?? APPROVAL_DEFAULTS.timeoutMinutes;
    const verifiedRequester = await this.verifyRequester();
    const byPolicy = opts.approverOtherThanRequester === true;
    const requireDistinctApprover = byPolicy || opts.requireDistinctApprover === true;
    const requestedBy = verifiedRequester ?? (byPolicy ? undefined : opts.requestedBy?.trim() || undefined);
    if (byPolicy && !verifiedRequester) {
      // Fail now, before waiting: an unsigned request has no requester the worker could tell apart.
      throw ApplicationFailure.nonRetryable(
        "the worker's policy wants an approver other than the requester, and this run's request is not signed (nksr run signs it with your approver key; the SDK with signWith); nothing changed",
        ErrorType.PolicyRefused,
      );
    }
    if (requireDistinctApprover && !requestedBy) {
      // Fail now, before waiting: no approver could ever be told apart from an unknown requester.
      throw ApplicationFailure.nonRetryable(
        'requireDistinctApprover needs requestedBy (who asked for this run); nothing changed',
        ErrorType.InvalidInput,
      );
    }
    const { sha256: planDigest } = await quickActivities().digestText({ text: what });
    this.decision = undefined;
    this.waiting = { requireDistinctApprover, requestedBy, plan: what, planDigest };
    const rules = [
      `expires in ${formatMinutes(timeoutMinutes)}`,
      requireDistinctApprover ? `approver other than ${requestedBy}` : undefined,
    ].filter(Boolean);
    this.progress.phase(
      ApprovalPhase.AwaitingApproval,
      // The run's own ID: an operator reading the UI's details copies the command as it is.
      `${what} (plan sha256 ${planDigest.slice(0, 12)}; send: nksr approve ${workflowInfo().workflowId}${rules.length ? `; ${rules.join('; ')}` : ''})`,
    );
    try {
      await condition(() => this.decision !== undefined, timeoutMinutes * 60_000);
    } finally {
      this.waiting = undefined;
    }
    // An Update decided in the same task as the timer fired still counts: it is in history.
    // (Cast: TypeScript keeps `this.decision` narrowed to the `undefined` assigned before the await.)
    const decision = this.decision as Decision | undefined;
    if (!decision) {
      const after = formatMinutes(timeoutMinutes);
      this.progress.conclude(ApprovalPhase.ApprovalExpired, `no decision within ${after}; nothing changed`);
      return { decision: 'expired', after, timeoutMinutes };
    }
    if (!decision.approve) {
      throw ApplicationFailure.nonRetryable(
        `rejected by ${decision.approver}${decision.comment ? `: ${decision.comment}` : ''}`,
        ErrorType.ApprovalRejected,
        { approver: decision.approver },
      );
    }
    return { decision: 'approved', approver: decision.approver, comment: decision.comment };
  }

  private validate(req: ApprovalRequest): void {
    if (!req || typeof req.statement !== 'string' || typeof req.signature !== 'string') {
      throw new Error('approve: a signed statement is required (nksr approve signs one with your key)');
    }
    if (req.statement.length + req.signature.length > MAX_SIGNED_BYTES) {
      throw new Error('approve: the signed statement is too long');
    }
    if (!this.waiting || this.decision) {
      throw new Error(`not awaiting approval (phase: ${this.progress.phaseName})`);
    }
  }

  private async decide(req: ApprovalRequest): Promise<ApprovalResult> {
    const waiting = this.waiting!;
    const { workflowId, runId } = workflowInfo();
    const verified = await quickActivities().verifyApproval({
      statement: req.statement,
      signature: req.signature,
      expected: { workflowId, runId, planDigest: waiting.planDigest },
      usedNonces: [...this.usedNonces],
      ...(waiting.requireDistinctApprover && waiting.requestedBy
        ? { distinctFrom: waiting.requestedBy }
        : {}),
    });
    const refuse = (reason: string): ApprovalResult => {
      this.progress.note(`approval refused: ${reason}`);
      return { accepted: false, reason, phase: this.progress.phaseName };
    };
    if (!verified.ok) return refuse(verified.reason);
    // Another statement may have decided, or the gate expired, while this one was verified.
    if (this.waiting !== waiting || this.decision) return refuse('the gate had already closed');
    this.usedNonces.push(verified.nonce);
    const approve = verified.decision === 'approve';
    this.decision = { approve, approver: verified.approver, comment: verified.comment };
    this.progress.note(
      `${approve ? 'approved' : 'rejected'} by ${verified.approver} (signed)${verified.comment ? `: ${verified.comment}` : ''}`,
    );
    return {
      accepted: true,
      approver: verified.approver,
      decision: approve ? 'approved' : 'rejected',
      phase: this.progress.phaseName,
    };
  }
}

/** Waits at the run's approval gate (see ApprovalGate.wait); `opts` may be the procedure's parsed input. */
export function awaitApproval(
  progress: { readonly approval: ApprovalGate },
  what: string,
  opts: ApprovalGateOptions = {},
): Promise<ApprovalOutcome> {
  return progress.approval.wait(what, opts);
}

/** What a procedure's approval step reads from its input. */
export interface ApprovalStepOptions extends ApprovalGateOptions {
  cluster: string;
  requireApproval?: boolean;
}

/**
 * Whether this run waits for approval: the worker's policy decides (given `risks`: how this run's
 * input leaves the guide's defaults); the input can add a gate (`requireApproval`) but not remove
 * one. undefined: no gate; otherwise the policy's reason, if it is the policy that asks.
 */
export async function approvalRequirement(
  opts: ApprovalStepOptions,
  risks: string[] = [],
): Promise<{ reason?: string; approverOtherThanRequester: boolean } | undefined> {
  const policy = await quickActivities().approvalPolicy({
    cluster: opts.cluster,
    procedure: workflowInfo().workflowType,
    risks,
  });
  const approverOtherThanRequester = policy.approverOtherThanRequester === true;
  if (policy.required) return { reason: policy.reason, approverOtherThanRequester };
  return opts.requireApproval ? { approverOtherThanRequester } : undefined;
}

/** A procedure's approval step, before its first change (see approvalRequirement). undefined: no gate. */
export async function approvalStep(
  progress: { readonly approval: ApprovalGate },
  what: string,
  opts: ApprovalStepOptions,
  risks: string[] = [],
): Promise<ApprovalOutcome | undefined> {
  const need = await approvalRequirement(opts, risks);
  if (!need) return undefined;
  return awaitApproval(progress, need.reason ? `${need.reason}: ${what}` : what, {
    ...opts,
    approverOtherThanRequester: need.approverOtherThanRequester,
  });
}
