/**
 * The heartbeating waits resume after a retry: with FAKE Kubernetes clients in a MockActivityEnvironment,
 * an attempt that receives an earlier attempt's heartbeat details keeps that deadline (no fresh
 * timeout). The pre-pull batch's resume: calico-prepull-batch-fake.test.ts.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ClusterKube } from '../../src/activities/kube/client';
import { waitForWorkloadRollout, type WaitForRolloutResult } from '../../src/activities/kube/rollout';

const stuckDeployment: V1Deployment = {
  metadata: { name: 'calico-typha', generation: 2 },
  spec: { replicas: 2, selector: {}, template: {} },
  status: { observedGeneration: 2, replicas: 3, updatedReplicas: 1 },
};

function fakeKube(over: { apps?: object; core?: object }): ClusterKube {
  return {
    cluster: 'sim',
    server: 'https://fake',
    apps: over.apps ?? {},
    core: over.core ?? {},
  } as unknown as ClusterKube;
}

test('waitForWorkloadRollout resumes the deadline from heartbeat details', async () => {
  const kube = fakeKube({ apps: { readNamespacedDeployment: async () => stuckDeployment } });
  const env = new MockActivityEnvironment({
    attempt: 2,
    heartbeatDetails: { startedAtMs: Date.now() - 300_000, deadlineMs: Date.now() - 1, message: '' },
  });
  const t0 = Date.now();
  const r: WaitForRolloutResult = await env.run(waitForWorkloadRollout, kube, {
    kind: 'Deployment' as const,
    name: 'calico-typha',
    namespace: 'kube-system',
    timeoutSeconds: 240,
  });
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(r.outcome).toBe('timeout');
  expect(r.message).toContain('1 out of 2 new replicas have been updated');
  expect(r.durationMs).toBeGreaterThanOrEqual(300_000);
});

test('waitForWorkloadRollout without heartbeat details gets the full timeout and sees completion', async () => {
  let reads = 0;
  const kube = fakeKube({
    apps: {
      readNamespacedDeployment: async () =>
        ++reads < 2
          ? stuckDeployment
          : {
              ...stuckDeployment,
              status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
            },
    },
  });
  const r: WaitForRolloutResult = await new MockActivityEnvironment().run(waitForWorkloadRollout, kube, {
    kind: 'Deployment' as const,
    name: 'calico-typha',
    namespace: 'kube-system',
    timeoutSeconds: 240,
  });
  expect(r.outcome).toBe('complete');
  expect(reads).toBe(2);
});
