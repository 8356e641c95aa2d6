import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';

// @kubernetes/client-node is ESM-only; this proves jest transforms it rather than failing to load it.
test('loads @kubernetes/client-node under jest and builds an API client from a kubeconfig', () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  const api = kc.makeApiClient(CoreV1Api);
  expect(api).toBeInstanceOf(CoreV1Api);
  expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
});
