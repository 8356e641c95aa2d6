/**
 * Verification of signed approvals, on the worker: the statement's signature against the keys of
 * clusters.yaml's `approvers`, and that it is about this run, this plan, now, and used once. The
 * history then records the verified approver's name, never a name a client made up.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { MAX_STATEMENT_LIFETIME_MS, parseStatement } from '../common/approval-statement';
import { canonicalInput, MAX_REQUEST_LIFETIME_MS, parseRequestStatement } from '../common/request-statement';
import type { Approver } from '../common/registry-schema';
import type { ActivityDeps } from './deps';

export interface VerifyApprovalInput {
  statement: string;
  signature: string;
  /** What the statement must be about: this run and the plan its gate shows. */
  expected: { workflowId: string; runId: string; planDigest: string };
  /** Nonces of statements this run already took. */
  usedNonces: string[];
  /** With requireDistinctApprover: who asked for the run, whom the approver must not be. */
  distinctFrom?: string;
}

export type VerifyApprovalResult =
  | { ok: true; approver: string; decision: 'approve' | 'reject'; nonce: string; comment?: string }
  | { ok: false; reason: string };

/** The approver whose key made `signature` over `statement`, if any. */
function signer(approvers: readonly Approver[], statement: string, signature: string): Approver | undefined {
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64) return undefined;
  const data = Buffer.from(statement, 'utf8');
  return approvers.find((a) => {
    try {
      const key = createPublicKey({ key: Buffer.from(a.publicKey, 'base64'), format: 'der', type: 'spki' });
      return verify(null, data, key, sig);
    } catch {
      return false;
    }
  });
}

export function verifyApproval(
  approvers: readonly Approver[],
  input: VerifyApprovalInput,
  now = Date.now(),
): VerifyApprovalResult {
  const refuse = (reason: string): VerifyApprovalResult => ({ ok: false, reason });
  if (typeof input.statement !== 'string' || typeof input.signature !== 'string')
    return refuse('no signed statement (nksr approve signs one with your key)');
  const who = signer(approvers, input.statement, input.signature);
  if (!who) return refuse('signed by no key in the worker’s approvers list (or not signed)');
  const s = parseStatement(input.statement);
  if (typeof s === 'string') return refuse(s);
  const { expected } = input;
  if (s.workflowId !== expected.workflowId) return refuse(`the statement is for workflow ${s.workflowId}`);
  if (s.runId !== expected.runId) return refuse(`the statement is for another run (${s.runId})`);
  if (s.planDigest !== expected.planDigest)
    return refuse('the statement approves another plan than the one waiting (the plan changed: look again)');
  const expires = Date.parse(s.expiresAt);
  if (expires <= now) return refuse(`the statement expired at ${s.expiresAt}`);
  if (expires - now > MAX_STATEMENT_LIFETIME_MS) return refuse('the statement is valid for more than 24 h');
  if (input.usedNonces.includes(s.nonce)) return refuse('the statement was already used');
  if (input.distinctFrom && who.name.toLowerCase() === input.distinctFrom.trim().toLowerCase())
    return refuse(`${who.name} asked for this run; another approver must decide`);
  return {
    ok: true,
    approver: who.name,
    decision: s.decision,
    nonce: s.nonce,
    ...(s.comment !== undefined ? { comment: s.comment } : {}),
  };
}

export interface VerifyRunRequestInput {
  workflowId: string;
  workflowType: string;
  /** When the run started (workflowInfo().startTime), ISO. */
  startedAt: string;
  /** The run's input as started, requestSignature included. */
  input: unknown;
}

/**
 * `verified`: a listed approver signed this run's request. `unknown-signer`: signed, but by no key
 * this worker knows (the requester stays unverified; nobody can be impersonated with it).
 * `refused`: a listed key's signature that does not cover this run or this input, or is expired.
 */
export type VerifyRunRequestResult =
  | { status: 'verified'; requester: string }
  | { status: 'unknown-signer' }
  | { status: 'refused'; reason: string };

/** Who signed the run's request, if the signature is a listed approver's over this run and this input. */
export function verifyRunRequest(
  approvers: readonly Approver[],
  req: VerifyRunRequestInput,
): VerifyRunRequestResult {
  const refuse = (reason: string): VerifyRunRequestResult => ({ status: 'refused', reason });
  const signed = (req.input as { requestSignature?: { statement?: unknown; signature?: unknown } } | null)
    ?.requestSignature;
  if (!signed || typeof signed.statement !== 'string' || typeof signed.signature !== 'string')
    return refuse('the request is not signed');
  const who = signer(approvers, signed.statement, signed.signature);
  if (!who) return { status: 'unknown-signer' };
  const s = parseRequestStatement(signed.statement);
  if (typeof s === 'string') return refuse(s);
  if (s.workflowId !== req.workflowId) return refuse(`the request was signed for workflow ${s.workflowId}`);
  if (s.workflowType !== req.workflowType) return refuse(`the request was signed for ${s.workflowType}`);
  const digest = createHash('sha256').update(canonicalInput(req.input), 'utf8').digest('hex');
  if (s.inputDigest !== digest) return refuse('the input is not the one the requester signed');
  const expires = Date.parse(s.expiresAt);
  const started = Date.parse(req.startedAt);
  if (expires <= started) return refuse(`the request expired at ${s.expiresAt}, before the run started`);
  if (expires - started > MAX_REQUEST_LIFETIME_MS)
    return refuse('the request is valid for more than an hour');
  return { status: 'verified', requester: who.name };
}

export function createApprovalActivities(deps: ActivityDeps) {
  return {
    /**
     * Checks a signed approval against the worker's approvers and this run's gate. Read-only; safe
     * to retry. A refusal is a result (the run keeps waiting), not a failure.
     */
    async verifyApproval(input: VerifyApprovalInput): Promise<VerifyApprovalResult> {
      return verifyApproval(deps.registry.approvers(), input);
    },
    /**
     * Checks the signature of a run's request against the worker's approvers: who asked, verified.
     * Read-only; safe to retry. A bad signature is a result the workflow fails on.
     */
    async verifyRunRequest(input: VerifyRunRequestInput): Promise<VerifyRunRequestResult> {
      return verifyRunRequest(deps.registry.approvers(), input);
    },
  };
}
