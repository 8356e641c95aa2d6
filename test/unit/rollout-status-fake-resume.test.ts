/**
 * The heartbeating waits resume after a retry: with FAKE Kubernetes clients in a MockActivityEnvironment,
 * an attempt that receives an earlier attempt's heartbeat details keeps that deadline (no fresh
 * timeout) and adopts the earlier attempt's pod instead of creating another.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ClusterKube } from '../../src/activities/kube/client';
import { prePullImageOnNode, prePullPodName } from '../../src/activities/kube/prepull';
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

test('prePullImage retry adopts the pod of the earlier attempt and keeps its deadline', async () => {
  const input = {
    cluster: 'sim',
    namespace: 'kube-system',
    node: 'node-1',
    image: 'docker.io/calico/node:v3.24.1',
    runLabel: 'wf-1',
    timeoutSeconds: 360,
  };
  const name = prePullPodName(input.node, input.image);
  const existing: V1Pod = {
    metadata: { name, labels: { 'nksr.io/purpose': 'calico-prepull', 'nksr.io/run': 'wf-1' } },
    spec: { nodeName: input.node, containers: [{ name: 'prepull', image: input.image }] },
    status: {
      containerStatuses: [
        {
          name: 'prepull',
          image: input.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
  const calls: string[] = [];
  const kube = fakeKube({
    core: {
      readNamespacedPod: async () => (calls.push('read'), existing),
      createNamespacedPod: async () => (calls.push('create'), existing),
      deleteNamespacedPod: async () => (calls.push('delete'), existing),
    },
  });
  const env = new MockActivityEnvironment({
    attempt: 2,
    heartbeatDetails: { podName: name, startedAtMs: Date.now() - 400_000, deadlineMs: Date.now() - 1 },
  });
  const r = await env.run(prePullImageOnNode, kube, input);
  expect(r).toMatchObject({
    outcome: 'failed',
    reason: 'Timeout',
    podCreated: false,
    attempt: 2,
    podName: name,
  });
  expect(calls).not.toContain('create');
  expect(calls).toContain('delete');
});

test('prePullImage first attempt creates its pod, sees it run, deletes it', async () => {
  const input = {
    cluster: 'sim',
    namespace: 'kube-system',
    node: 'node-2',
    image: 'docker.io/calico/cni:v3.24.1',
    runLabel: 'wf-1',
    timeoutSeconds: 360,
  };
  let pod: V1Pod | undefined;
  const calls: string[] = [];
  const kube = fakeKube({
    core: {
      readNamespacedPod: async () => {
        calls.push('read');
        if (!pod) throw Object.assign(new Error('not found'), { code: 404, body: '{}' });
        return { ...pod, status: { containerStatuses: [{ name: 'prepull', state: { running: {} } }] } };
      },
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        calls.push('create');
        pod = body;
        return body;
      },
      deleteNamespacedPod: async () => {
        calls.push('delete');
        pod = undefined;
        return {};
      },
    },
  });
  const r = await new MockActivityEnvironment().run(prePullImageOnNode, kube, input);
  expect(r).toMatchObject({ outcome: 'pulled', podCreated: true });
  expect(calls).toEqual(['read', 'create', 'read', 'delete']);
  expect(pod).toBeUndefined();
});
