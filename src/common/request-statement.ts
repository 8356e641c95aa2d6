/**
 * The statement a requester signs when starting a run (nksr run, the SDK's `signWith`): which
 * workflow, which procedure, the digest of the exact input, until when. The worker verifies it
 * against its approvers' keys, so the history records who asked, verified, and an approval policy
 * that wants two people can tell the requester from the approver. It travels inside the input
 * (`requestSignature`) as the exact JSON text that was signed. Pure (no Node built-ins).
 */
import { parseJsonObject, type SignedApproval } from './approval-statement';

export const REQUEST_STATEMENT_VERSION = 1;

/** A request must be started within this long of signing (the clients sign just before starting). */
export const MAX_REQUEST_LIFETIME_MS = 3600_000;

export interface RequestStatement {
  v: typeof REQUEST_STATEMENT_VERSION;
  kind: 'request';
  workflowId: string;
  workflowType: string;
  /** sha256 of canonicalInput(input): the input as sent, without its requestSignature. */
  inputDigest: string;
  expiresAt: string;
  nonce: string;
}

export type SignedRequest = SignedApproval;

/**
 * The input as the signature covers it: JSON with every object's keys sorted and undefined values
 * left out, `requestSignature` removed. The client and the worker compute it alike.
 */
export function canonicalInput(input: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = canon(x);
      }
      return out;
    }
    return v;
  };
  const { requestSignature: _signature, ...rest } = (input ?? {}) as Record<string, unknown>;
  return JSON.stringify(canon(rest));
}

/** The statement's text for signing: fixed field order. */
export function requestStatementText(s: RequestStatement): string {
  return JSON.stringify({
    v: s.v,
    kind: s.kind,
    workflowId: s.workflowId,
    workflowType: s.workflowType,
    inputDigest: s.inputDigest,
    expiresAt: s.expiresAt,
    nonce: s.nonce,
  });
}

/** The request statement in `text`, or why it is not one. */
export function parseRequestStatement(text: string): RequestStatement | string {
  const raw = parseJsonObject(text, 'the request statement');
  if (typeof raw === 'string') return raw;
  const s = raw as Partial<Record<keyof RequestStatement, unknown>>;
  if (s.v !== REQUEST_STATEMENT_VERSION || s.kind !== 'request') return 'not a request statement';
  for (const k of ['workflowId', 'workflowType', 'inputDigest', 'expiresAt', 'nonce'] as const)
    if (typeof s[k] !== 'string' || s[k] === '') return `the request statement has no ${k}`;
  if (!/^[0-9a-f]{64}$/.test(s.inputDigest as string)) return 'the input digest is not a sha256';
  if (Number.isNaN(Date.parse(s.expiresAt as string))) return 'expiresAt is not a time';
  return s as RequestStatement;
}
