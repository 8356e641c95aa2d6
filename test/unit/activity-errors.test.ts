import { ApiException } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { kubeFailure, withKubeAnswering } from '../../src/activities/errors';

const ctx = { cluster: 'sim', operation: 'list nodes', server: 'https://127.0.0.1:6443' };
const SECRET = 'eyJhbGciOiJSUzI1NiJ9.secret-token';

function apiError(code: number, message = 'something'): ApiException<string> {
  // The shape client-node 1.x throws: the raw body string and the response headers.
  const body = JSON.stringify({ kind: 'Status', message, reason: 'Whatever', details: { token: SECRET } });
  return new ApiException(code, 'request failed', body, { authorization: `Bearer ${SECRET}` });
}

describe('kubeFailure: one classification for Kubernetes API errors', () => {
  test.each([
    [401, 'KubeUnauthorized', false],
    [403, 'KubeForbidden', false],
    [404, 'KubeNotFound', false],
    [409, 'KubeConflict', true],
    [422, 'KubeInvalid', false],
    [400, 'KubeInvalid', false],
    [429, 'KubeServerError', true],
    [500, 'KubeServerError', true],
    [503, 'KubeServerError', true],
  ])('HTTP %i → %s (retryable: %s), no secrets in the message', (code, type, retryable) => {
    const f = kubeFailure(apiError(code, 'nodes "x" is forbidden'), ctx);
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe(type);
    expect(f.nonRetryable).toBe(!retryable);
    expect(f.message).toContain('cluster "sim": list nodes');
    expect(f.message).toContain(`(${code})`);
    expect(JSON.stringify([f.message, f.details])).not.toContain(SECRET);
  });

  test('the Status message of the API server is kept, bounded', () => {
    const f = kubeFailure(apiError(404, 'nodes "node-9" not found'), ctx);
    expect(f.message).toBe('cluster "sim": list nodes: not found (404): nodes "node-9" not found');
    const long = kubeFailure(apiError(422, 'x'.repeat(1000)), ctx);
    expect(long.message.length).toBeLessThan(400);
  });

  test('a Forbidden names the verb, resource and scope RBAC refused, and where to grant it', () => {
    const namespaced = kubeFailure(
      apiError(
        403,
        'secrets "cinder-csi-cloud-config" is forbidden: User "system:serviceaccount:kube-system:nksr-remediator" cannot update resource "secrets" in API group "" in the namespace "kube-system"',
      ),
      { cluster: 'sim', operation: 'update secret kube-system/cinder-csi-cloud-config' },
    );
    expect(namespaced.type).toBe('KubeForbidden');
    expect(namespaced.message).toBe(
      'cluster "sim": update secret kube-system/cinder-csi-cloud-config: forbidden (403): ' +
        'system:serviceaccount:kube-system:nksr-remediator may not update secrets in namespace kube-system; ' +
        'grant it with the RBAC of deploy/target-cluster-rbac.yaml (extended for a non-default namespace or name)',
    );
    expect(namespaced.details?.[0]).toMatchObject({
      denied: { verb: 'update', resource: 'secrets', apiGroup: '', namespace: 'kube-system' },
    });
    const cluster = kubeFailure(
      apiError(
        403,
        'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope',
      ),
      ctx,
    );
    expect(cluster.message).toContain('alice may not list deployments (API group apps) at cluster scope;');
    // A 403 of another shape (an admission webhook, a proxy) keeps the server's words.
    const other = kubeFailure(apiError(403, 'denied by policy X'), ctx);
    expect(other.message).toBe('cluster "sim": list nodes: forbidden (403): denied by policy X');
  });

  test.each([
    'ECONNREFUSED',
    'ETIMEDOUT',
    'ENOTFOUND',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ])('connection failure %s (also when wrapped as a cause) → KubeApiUnreachable, retryable', (code) => {
    // node-fetch's FetchError carries the socket error's code; undici wraps it in `cause`.
    const direct = Object.assign(
      new Error(`request to https://127.0.0.1:6443/api failed, reason: ${SECRET}`),
      { code },
    );
    const wrapped = new TypeError('fetch failed', { cause: Object.assign(new Error('socket'), { code }) });
    for (const err of [direct, wrapped]) {
      const f = kubeFailure(err, ctx);
      expect(f.type).toBe('KubeApiUnreachable');
      expect(f.nonRetryable).toBe(false);
      expect(f.message).toContain(`at https://127.0.0.1:6443`);
      expect(f.message).toContain(code);
      expect(f.message).not.toContain(SECRET);
    }
  });

  test('an unknown error keeps only its class, not its message', () => {
    const f = kubeFailure(new RangeError(`bad ${SECRET}`), ctx);
    expect(f.type).toBe('KubeServerError');
    expect(f.message).toContain('RangeError');
    expect(f.message).not.toContain(SECRET);
  });

  test('an ApplicationFailure passes through unchanged (e.g. UnknownCluster from the registry)', () => {
    const original = ApplicationFailure.nonRetryable('unknown cluster "x"', 'UnknownCluster');
    expect(kubeFailure(original, ctx)).toBe(original);
  });
});

describe('withKubeAnswering: statuses that answer the question instead of failing', () => {
  const throwing = (err: unknown) => () => Promise.reject(err);

  test("a listed status returns the answer; the call's own result passes through", async () => {
    await expect(withKubeAnswering(ctx, [404], 'absent', throwing(apiError(404)))).resolves.toBe('absent');
    await expect(withKubeAnswering(ctx, [404, 409], 'gone', throwing(apiError(409)))).resolves.toBe('gone');
    await expect(withKubeAnswering(ctx, [404], 'absent', () => Promise.resolve('found'))).resolves.toBe(
      'found',
    );
  });

  test('any other status, and a connection error, are classified as kubeFailure does', async () => {
    await expect(withKubeAnswering(ctx, [404], 'absent', throwing(apiError(403)))).rejects.toMatchObject({
      type: 'KubeForbidden',
    });
    await expect(withKubeAnswering(ctx, [409], 'adopted', throwing(apiError(404)))).rejects.toMatchObject({
      type: 'KubeNotFound',
    });
    const refused = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    await expect(withKubeAnswering(ctx, [404], 'absent', throwing(refused))).rejects.toMatchObject({
      type: 'KubeApiUnreachable',
    });
  });
});
