/**
 * An approver's Ed25519 key (nksr keygen) and the signed statements nksr approve sends. The
 * private key stays in its file (0600) on the approver's machine; only the public half goes into
 * the worker's clusters.yaml.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  type ApprovalStatement,
  type SignedApproval,
  STATEMENT_VERSION,
  statementText,
} from '../common/approval-statement';
import {
  canonicalInput,
  REQUEST_STATEMENT_VERSION,
  requestStatementText,
  type SignedRequest,
} from '../common/request-statement';

/** Where nksr looks for the key when neither --key nor NKSR_APPROVER_KEY says. */
export function defaultApproverKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.NKSR_APPROVER_KEY || join(homedir(), '.config', 'nksr', 'approver.key');
}

/** base64 of the SPKI DER: the form clusters.yaml's `approvers[].publicKey` takes. */
export function publicKeyText(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem))
    .export({ type: 'spki', format: 'der' })
    .toString('base64');
}

/** Writes a new key (PKCS#8 PEM, 0600) to `file` unless one is there; returns its public key text. */
export function generateApproverKey(file: string, opts: { overwrite?: boolean } = {}): string {
  if (existsSync(file) && !opts.overwrite) throw new Error(`${file} exists (--force replaces it)`);
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(file, pem, { mode: 0o600 });
  chmodSync(file, 0o600);
  return publicKeyText(pem);
}

/** Reads an approver key file; the error names the file, never its content. */
export function readApproverKey(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the approver key ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); make one with nksr keygen`,
    );
  }
  try {
    if (createPrivateKey(pem).asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
  } catch {
    throw new Error(`${file} is not an Ed25519 private key (nksr keygen makes one)`);
  }
  return pem;
}

/** Signs a decision on one run's plan, valid for `validForMs`. */
export function signApproval(
  privateKeyPem: string,
  target: { workflowId: string; runId: string; planDigest: string },
  decision: ApprovalStatement['decision'],
  opts: { comment?: string; validForMs?: number; now?: number } = {},
): SignedApproval {
  const statement = statementText({
    v: STATEMENT_VERSION,
    ...target,
    decision,
    expiresAt: new Date((opts.now ?? Date.now()) + (opts.validForMs ?? 10 * 60_000)).toISOString(),
    nonce: randomBytes(16).toString('hex'),
    ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
  });
  const signature = sign(null, Buffer.from(statement, 'utf8'), createPrivateKey(privateKeyPem)).toString(
    'base64',
  );
  return { statement, signature };
}

/**
 * Signs the request to start one run with exactly this input (valid 10 minutes by default): the
 * worker then knows, verified, who asked (common/request-statement.ts).
 */
export function signRunRequest(
  privateKeyPem: string,
  target: { workflowId: string; workflowType: string },
  input: unknown,
  opts: { validForMs?: number; now?: number } = {},
): SignedRequest {
  const statement = requestStatementText({
    v: REQUEST_STATEMENT_VERSION,
    kind: 'request',
    ...target,
    inputDigest: createHash('sha256').update(canonicalInput(input), 'utf8').digest('hex'),
    expiresAt: new Date((opts.now ?? Date.now()) + (opts.validForMs ?? 10 * 60_000)).toISOString(),
    nonce: randomBytes(16).toString('hex'),
  });
  const signature = sign(null, Buffer.from(statement, 'utf8'), createPrivateKey(privateKeyPem)).toString(
    'base64',
  );
  return { statement, signature };
}
