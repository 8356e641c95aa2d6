/**
 * The one place where failures of external systems become the named failure types of
 * src/common/errors.ts. Activities call these instead of letting raw errors escape, so that:
 * - workflows and clients match on a stable `type`, not on library-specific classes;
 * - retryable vs permanent is decided once (Temporal retries; we never hand-loop);
 * - no message carries kubeconfig content, tokens, request headers or response bodies: only the
 *   cluster name, the operation, the HTTP status / error code and the API server's short Status message.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, type ErrorTypeName } from '../common/errors';
import { procedureOfWorkflow } from '../common/procedures';

export interface KubeCallContext {
  cluster: string;
  /** What was attempted, e.g. `list nodes` or `patch daemonset kube-system/calico-node`. */
  operation: string;
  /** API server URL (not secret), to say where a connection failed. */
  server?: string;
}

/** The role that grants what the running procedure needs, for a Forbidden's message. */
function roleHint(cluster: string): string {
  let workflowType: string | undefined;
  try {
    workflowType = Context.current().info.workflowType;
  } catch {
    // not inside an activity
  }
  const p = workflowType ? procedureOfWorkflow(workflowType) : undefined;
  return p
    ? `the role nksr-${p.cliName} (deploy/rbac/nksr-${p.cliName}.yaml; nksr rbac --cluster ${cluster})`
    : 'the RBAC of deploy/target-cluster-rbac.yaml';
}

export interface SshCallContext {
  cluster: string;
  node: string;
  /** host:port that was dialled. */
  address?: string;
  operation: string;
}

/** Node.js / OpenSSL error codes that mean "could not talk to the server at all". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const CERTIFICATE_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/;

const MAX_SERVER_MESSAGE = 300;

/** The error code of an error or of its causes (fetch wraps socket errors). */
export function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The HTTP status of a duck-typed ApiException of @kubernetes/client-node (avoids importing the ESM
 * package here); undefined for anything else, a failed connection included.
 */
function httpStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 100 && code < 600 && 'body' in err) return code;
  return undefined;
}

/** At most `max` characters, marked with `…` when cut. */
function clip(msg: string, max: number): string {
  return msg.length > max ? `${msg.slice(0, max)}…` : msg;
}

/** A message on one line (whitespace runs become one space), clipped to `max`. */
function oneLine(msg: string, max: number): string {
  return clip(msg.replace(/\s+/g, ' ').trim(), max);
}

/**
 * The `message` of a Kubernetes Status body, e.g. `nodes "x" not found`. The rest of the body and
 * the headers are dropped: they may echo request content.
 */
function statusMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
    return oneLine((value as { message: string }).message, MAX_SERVER_MESSAGE);
  }
  return undefined;
}

/** What RBAC refused, as the authorizer's message names it. */
export interface DeniedPermission {
  user: string;
  verb: string;
  /** `secrets`, or `deployments/scale` for a subresource. */
  resource: string;
  apiGroup: string;
  /** Absent at cluster scope. */
  namespace?: string;
}

/**
 * Reads the verb, resource and scope out of the API server's Forbidden message, e.g.
 * `secrets "x" is forbidden: User "system:serviceaccount:kube-system:sa" cannot update resource
 * "secrets" in API group "" in the namespace "kube-system"`. The message's shape is the authorizer's
 * (stable across Kubernetes releases); anything else is left to the generic message.
 */
export function deniedPermission(message: string): DeniedPermission | undefined {
  const m =
    /User "([^"]*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]*)"| at the cluster scope)/.exec(
      message,
    );
  if (!m) return undefined;
  const [, user, verb, resource, apiGroup, namespace] = m;
  return {
    user: user!,
    verb: verb!,
    resource: resource!,
    apiGroup: apiGroup!,
    ...(namespace ? { namespace } : {}),
  };
}

function failure(
  type: ErrorTypeName,
  message: string,
  retryable: boolean,
  details: Record<string, unknown>,
): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: !retryable, details: [details] });
}

/** Kubernetes API errors (ApiException or a failed connection) → named ApplicationFailure. */
export function kubeFailure(err: unknown, ctx: KubeCallContext): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const where = `cluster "${ctx.cluster}": ${ctx.operation}`;
  const status = httpStatus(err);
  if (status !== undefined) {
    const serverSays = statusMessage((err as { body?: unknown }).body);
    const suffix = serverSays ? `: ${serverSays}` : '';
    const details = { cluster: ctx.cluster, operation: ctx.operation, httpStatus: status };
    switch (true) {
      case status === 401:
        return failure(
          ErrorType.KubeUnauthorized,
          `${where}: unauthorized (401); check the kubeconfig's credentials`,
          false,
          details,
        );
      case status === 403: {
        const denied = serverSays ? deniedPermission(serverSays) : undefined;
        if (!denied)
          return failure(ErrorType.KubeForbidden, `${where}: forbidden (403)${suffix}`, false, details);
        const group = denied.apiGroup ? ` (API group ${denied.apiGroup})` : '';
        const scope = denied.namespace ? `in namespace ${denied.namespace}` : 'at cluster scope';
        return failure(
          ErrorType.KubeForbidden,
          `${where}: forbidden (403): ${denied.user} may not ${denied.verb} ${denied.resource}${group} ${scope}; ` +
            `grant it with ${roleHint(ctx.cluster)} (extended for a non-default namespace or name)`,
          false,
          { ...details, denied },
        );
      }
      case status === 404:
        return failure(ErrorType.KubeNotFound, `${where}: not found (404)${suffix}`, false, details);
      case status === 409:
        // A conflict is another writer winning a race; a retry re-reads and tries again.
        return failure(ErrorType.KubeConflict, `${where}: conflict (409)${suffix}`, true, details);
      case status === 429:
        return failure(
          ErrorType.KubeServerError,
          `${where}: throttled by the API server (429)`,
          true,
          details,
        );
      case status >= 500:
        return failure(
          ErrorType.KubeServerError,
          `${where}: API server error (${status})${suffix}`,
          true,
          details,
        );
      default:
        // 400, 422 and the rest of 4xx: the request itself is wrong; repeating it cannot help.
        return failure(ErrorType.KubeInvalid, `${where}: rejected (${status})${suffix}`, false, details);
    }
  }
  const code = errorCode(err);
  if (code && (CONNECTION_CODES.has(code) || CERTIFICATE_CODE.test(code))) {
    const kind = CERTIFICATE_CODE.test(code) ? 'TLS certificate problem' : 'connection failed';
    const at = ctx.server ? ` at ${ctx.server}` : '';
    return failure(
      ErrorType.KubeApiUnreachable,
      `${where}: Kubernetes API unreachable${at} (${kind}: ${code})`,
      true,
      { cluster: ctx.cluster, operation: ctx.operation, code, server: ctx.server },
    );
  }
  // Unknown shape: keep only the error's class and code, never its message (it may embed a body).
  const name = err instanceof Error ? err.name : typeof err;
  return failure(
    ErrorType.KubeServerError,
    `${where}: unexpected error (${name}${code ? ` ${code}` : ''})`,
    true,
    { cluster: ctx.cluster, operation: ctx.operation, errorName: name, code },
  );
}

/** Runs one Kubernetes API call and classifies whatever it throws. */
export async function withKube<T>(ctx: KubeCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw kubeFailure(err, ctx);
  }
}

/**
 * Runs one Kubernetes API call for which some HTTP statuses are answers, not failures (404 on a read:
 * absent; 404 on a delete: already gone; 409 on a create: another attempt created it first). Those
 * return `answer`; everything else is classified as withKube does.
 */
export async function withKubeAnswering<T, A>(
  ctx: KubeCallContext,
  statuses: readonly number[],
  answer: A,
  call: () => Promise<T>,
): Promise<T | A> {
  try {
    return await call();
  } catch (err) {
    const status = httpStatus(err);
    if (status !== undefined && statuses.includes(status)) return answer;
    throw kubeFailure(err, ctx);
  }
}

/** The server presented a host key that known_hosts does not vouch for (or revokes). */
export class SshHostKeyRejected extends Error {
  override readonly name = 'SshHostKeyRejected';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly verdict: {
      reason: 'unknown' | 'mismatch' | 'revoked';
      /** SHA256 fingerprint of the presented key (absent when refused before dialling). */
      presented?: string;
      /** Fingerprints on record. Fingerprints only: keys never go into messages. */
      expected: string[];
    },
  ) {
    super(`host key ${verdict.reason}`);
  }
}

/** A remote command outlived its deadline; the connection was dropped. */
export class SshCommandTimeout extends Error {
  override readonly name = 'SshCommandTimeout';
  constructor(readonly timeoutMs: number) {
    super(`command timed out after ${timeoutMs} ms`);
  }
}

/** The connection closed before a command reported its end (node going down, sshd killed). */
export class SshSessionClosed extends Error {
  override readonly name = 'SshSessionClosed';
  constructor() {
    super('connection closed');
  }
}

const MAX_SSH_MESSAGE = 200;

/** ssh2's own message, single-line and bounded. ssh2 never puts key material into messages. */
function sshMessage(err: unknown): string {
  return err instanceof Error ? oneLine(err.message, MAX_SSH_MESSAGE) : clip(String(err), MAX_SSH_MESSAGE);
}

/**
 * SSH errors → named ApplicationFailure. Permanent: host key refused (unknown, changed, revoked:
 * only an operator can decide a key is legitimate), authentication refused. Retryable: connection
 * refused/reset/unreachable, connect and command timeouts, a connection dropped mid-command.
 */
export function sshFailure(err: unknown, ctx: SshCallContext): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const where = `cluster "${ctx.cluster}", node ${ctx.node}${ctx.address ? ` (${ctx.address})` : ''}: ${ctx.operation}`;
  const base = { cluster: ctx.cluster, node: ctx.node, address: ctx.address, operation: ctx.operation };

  if (err instanceof SshHostKeyRejected) {
    const { reason, presented, expected } = err.verdict;
    const details = { ...base, reason, presentedFingerprint: presented, expectedFingerprints: expected };
    if (reason === 'unknown') {
      return failure(
        ErrorType.SshHostKeyUnknown,
        `${where}: no host key on record for ${err.host} port ${err.port} in known_hosts${presented ? ` (server presented ${presented})` : ''}; refusing to connect`,
        false,
        details,
      );
    }
    const why =
      reason === 'revoked'
        ? `host key ${presented} is marked @revoked in known_hosts`
        : `host key changed: server presented ${presented}, known_hosts has ${expected.join(', ')} (possible man in the middle)`;
    return failure(ErrorType.SshHostKeyMismatch, `${where}: ${why}; refusing to connect`, false, details);
  }
  if (err instanceof SshCommandTimeout) {
    return failure(ErrorType.SshTimeout, `${where}: no result within ${err.timeoutMs} ms`, true, base);
  }
  if (err instanceof SshSessionClosed) {
    return failure(
      ErrorType.SshConnectionFailed,
      `${where}: connection closed by the other side (node going down?)`,
      true,
      base,
    );
  }

  const level = err && typeof err === 'object' ? (err as { level?: unknown }).level : undefined;
  const code = errorCode(err);
  const details = { ...base, level, code };
  if (level === 'client-authentication') {
    return failure(
      ErrorType.SshAuthFailed,
      `${where}: authentication refused (${sshMessage(err)})`,
      false,
      details,
    );
  }
  if (level === 'client-timeout' || code === 'ETIMEDOUT') {
    return failure(ErrorType.SshTimeout, `${where}: connect timed out`, true, details);
  }
  if (code && CONNECTION_CODES.has(code)) {
    return failure(ErrorType.SshConnectionFailed, `${where}: connection failed (${code})`, true, details);
  }
  if (level === 'handshake' && /host key/i.test(sshMessage(err))) {
    // The server offers none of the host key types on record: its keys were replaced.
    return failure(
      ErrorType.SshHostKeyMismatch,
      `${where}: server offers no host key of a type on record in known_hosts (${sshMessage(err)})`,
      false,
      details,
    );
  }
  // Handshake/protocol trouble, DNS, a dropped socket: transient until proven otherwise.
  return failure(
    ErrorType.SshConnectionFailed,
    `${where}: SSH error (${level ? `${String(level)}: ` : ''}${sshMessage(err)})`,
    true,
    details,
  );
}
