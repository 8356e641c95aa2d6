/**
 * The statement an approver signs (nksr approve): which run, which plan, which decision, until
 * when. It travels as the exact JSON text that was signed, so no re-encoding can change what the
 * signature covers. Pure (no Node built-ins): workflows, activities and clients share it.
 */

export const STATEMENT_VERSION = 1;

/** An approval is valid this long at most (the CLI's default is 10 minutes). */
export const MAX_STATEMENT_LIFETIME_MS = 24 * 3600_000;

export interface ApprovalStatement {
  v: typeof STATEMENT_VERSION;
  workflowId: string;
  runId: string;
  /** sha256 of the plan the approver was shown (the gate's summary). */
  planDigest: string;
  decision: 'approve' | 'reject';
  /** ISO time after which the statement is void. */
  expiresAt: string;
  /** Random, once per statement: the same statement cannot decide twice. */
  nonce: string;
  comment?: string;
}

/** What the approve Update carries. */
export interface SignedApproval {
  /** The statement's JSON text, exactly as signed. */
  statement: string;
  /** Ed25519 signature of the statement's UTF-8 bytes, base64. */
  signature: string;
}

/** The statement's text for signing: fixed field order, so every client writes the same bytes. */
export function statementText(s: ApprovalStatement): string {
  return JSON.stringify({
    v: s.v,
    workflowId: s.workflowId,
    runId: s.runId,
    planDigest: s.planDigest,
    decision: s.decision,
    expiresAt: s.expiresAt,
    nonce: s.nonce,
    ...(s.comment !== undefined ? { comment: s.comment } : {}),
  });
}

/** The JSON object in `text`, or why it is not one (`what` names it: "the statement"). */
export function parseJsonObject(text: string, what: string): Record<string, unknown> | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return `${what} is not JSON`;
  }
  return typeof raw === 'object' && raw !== null
    ? (raw as Record<string, unknown>)
    : `${what} is not an object`;
}

/** The statement in `text`, or why it is not one. */
export function parseStatement(text: string): ApprovalStatement | string {
  const raw = parseJsonObject(text, 'the statement');
  if (typeof raw === 'string') return raw;
  const s = raw as Partial<Record<keyof ApprovalStatement, unknown>>;
  if (s.v !== STATEMENT_VERSION) return `unknown statement version ${String(s.v)}`;
  for (const k of ['workflowId', 'runId', 'planDigest', 'expiresAt', 'nonce'] as const)
    if (typeof s[k] !== 'string' || s[k] === '') return `the statement has no ${k}`;
  if (s.decision !== 'approve' && s.decision !== 'reject')
    return 'the statement decides neither approve nor reject';
  if (s.comment !== undefined && typeof s.comment !== 'string') return 'the comment is not text';
  if (!/^[0-9a-f]{64}$/.test(s.planDigest as string)) return 'the plan digest is not a sha256';
  if (Number.isNaN(Date.parse(s.expiresAt as string))) return 'expiresAt is not a time';
  return s as ApprovalStatement;
}
