/**
 * Tokens of the shared deployment: ES256 JWTs whose `permissions` claim is what the server's claim
 * mapper reads (`<namespace>:<role>`, `temporal-system:admin` for the whole server), signed with a
 * P-256 key that never leaves the state dir (0600); the server holds only the public half.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';

export const ROLES = ['worker', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do is decided by the server's authorizer (shared/temporal-server/authorizer.go). */
export function permissionsOf(role: Role, namespace: string): string[] {
  switch (role) {
    case 'worker':
      return [`${namespace}:worker`];
    case 'operator':
      return [`${namespace}:write`];
    case 'auditor':
      return [`${namespace}:read`];
    case 'admin':
      return ['temporal-system:admin'];
  }
}

export function createSigningKey(privateKeyFile: string, publicKeyFile: string): void {
  if (fs.existsSync(privateKeyFile) && fs.existsSync(publicKeyFile)) return;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
}

/** The server's claim mapper wants a key id; there is one key, so one id. */
const SIGNING_KEY_ID = 'nksr-shared';

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export interface TokenRequest {
  privateKeyPem: string;
  subject: string;
  permissions: string[];
  /** Seconds from now; negative makes an expired token (tests of refusal). */
  ttlSeconds: number;
}

export function signToken(req: TokenRequest): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: SIGNING_KEY_ID }));
  const payload = base64url(
    JSON.stringify({ sub: req.subject, permissions: req.permissions, iat: now, exp: now + req.ttlSeconds }),
  );
  // JWS wants the raw r||s form of an ECDSA signature, not DER.
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: req.privateKeyPem,
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${payload}.${base64url(signature)}`;
}
