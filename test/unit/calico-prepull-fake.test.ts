/**
 * calicoImageRepair's pre-pull and image activities with FAKE Kubernetes clients (edge cases the
 * simulator cannot stage on demand): a pod of another run is never adopted, the pod asks for no
 * privilege and has a deadline, only a requested cancellation deletes the pod, allowedRegistries is
 * enforced before any API call, and the DaemonSet rollout judged on the Ready nodes only.
 */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { ActivityCancellationDetails, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { ClusterKube } from '../../src/activities/kube/client';
import { createCalicoActivities } from '../../src/activities/kube/calico';
import { prePullImageOnNode } from '../../src/activities/kube/prepull';
import { daemonSetRolloutStatusOnNodes } from '../../src/activities/kube/rollout-status';
import { imageAllowed, isDefaultRegistry, prePullPodNameFor } from '../../src/common/calico-prepull';
import { registryFromEntries } from '../../src/worker/registry';

const IMAGE = 'docker.io/calico/node:v3.24.1';
const input = {
  cluster: 'sim',
  namespace: 'kube-system',
  node: 'node-1',
  image: IMAGE,
  runLabel: 'wf-00000002',
  timeoutSeconds: 60,
  keepPod: true,
  podName: prePullPodNameFor('wf-00000002', 'node-1', IMAGE),
};

const notFound = () => Object.assign(new Error('not found'), { code: 404, body: '{}' });

/** One pod name in a fake API: reads, creates and deletes are recorded; the pod runs once created. */
function fakePodApi(initial?: V1Pod, state: 'running' | 'pending' = 'running') {
  let pod = initial;
  const calls: string[] = [];
  const created: V1Pod[] = [];
  const kube = {
    cluster: 'sim',
    server: 'https://fake',
    config: {},
    core: {
      readNamespacedPod: async () => {
        calls.push('read');
        if (!pod) throw notFound();
        return pod === initial
          ? pod
          : {
              ...pod,
              status: {
                containerStatuses: [
                  {
                    name: 'prepull',
                    state:
                      state === 'running' ? { running: {} } : { waiting: { reason: 'ContainerCreating' } },
                  },
                ],
              },
            };
      },
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        calls.push('create');
        created.push(body);
        pod = body;
        return body;
      },
      deleteNamespacedPod: async () => {
        calls.push('delete');
        if (!pod) throw notFound();
        pod = undefined;
        return {};
      },
    },
  } as unknown as ClusterKube;
  return { kube, calls, created };
}

test("a terminated pre-pull pod of another run is replaced, never adopted as this run's verdict", async () => {
  const stale: V1Pod = {
    metadata: {
      name: input.podName,
      labels: { 'nksr.io/purpose': 'calico-prepull', 'nksr.io/run': 'wf-00000001' },
    },
    spec: { nodeName: input.node, containers: [{ name: 'prepull', image: IMAGE }] },
    status: {
      containerStatuses: [
        {
          name: 'prepull',
          image: IMAGE,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0 } },
        },
      ],
    },
  };
  const api = fakePodApi(stale);
  const r = await new MockActivityEnvironment().run(prePullImageOnNode, api.kube, input);
  expect(r).toMatchObject({ outcome: 'pulled', podCreated: true, podName: input.podName });
  expect(api.calls.slice(0, 3)).toEqual(['read', 'delete', 'read']);
  expect(api.created[0]!.metadata!.labels!['nksr.io/run']).toBe(input.runLabel);
});

test('the pre-pull pod pulls with no privilege and ends by itself (activeDeadlineSeconds)', async () => {
  const api = fakePodApi();
  await new MockActivityEnvironment().run(prePullImageOnNode, api.kube, input);
  const spec = api.created[0]!.spec!;
  expect(spec.activeDeadlineSeconds).toBeGreaterThanOrEqual(input.timeoutSeconds);
  expect(spec.securityContext).toMatchObject({
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(spec.containers[0]!.securityContext).toEqual({
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  expect(spec.hostNetwork ?? false).toBe(false);
  expect(spec.hostPID ?? false).toBe(false);
  expect(spec.volumes ?? []).toEqual([]);
  expect(spec.automountServiceAccountToken).toBe(false);
});

test.each([
  ['worker shutdown', new ActivityCancellationDetails({ workerShutdown: true }), 'WORKER_SHUTDOWN', false],
  ['heartbeat timeout', new ActivityCancellationDetails({ timedOut: true }), 'TIMED_OUT', false],
  [
    'cancellation requested by the workflow',
    new ActivityCancellationDetails({ cancelRequested: true }),
    'CANCELLED',
    true,
  ],
] as const)(
  'pre-pull aborted by %s: pod deleted only when the workflow asked',
  async (_what, details, reason, deletes) => {
    const api = fakePodApi(undefined, 'pending');
    const env = new MockActivityEnvironment();
    const running = env.run(prePullImageOnNode, api.kube, input);
    while (!api.calls.includes('create')) await new Promise((r) => setTimeout(r, 10));
    env.cancel(reason, details);
    await expect(running).rejects.toBeDefined();
    expect(api.calls.includes('delete')).toBe(deletes);
  },
);

describe('allowedRegistries (clusters.yaml) enforced inside the activities', () => {
  const activitiesFor = (allowedRegistries?: string[]) =>
    createCalicoActivities({
      registry: registryFromEntries({
        // No such kubeconfig: a call that got past the check would fail differently.
        sim: {
          kubeconfig: '/nonexistent/kubeconfig',
          nodeAddressType: 'InternalIP',
          ...(allowedRegistries ? { allowedRegistries } : {}),
        },
      }),
    });
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  };

  test('unset: only docker.io/calico; another registry is refused before any API call', async () => {
    const a = activitiesFor();
    const env = new MockActivityEnvironment();
    const err = await refusal(
      env.run(a.prePullImage, { ...input, image: 'evil.example.com/calico/node:v3.24.1' }),
    );
    expect(err).toMatchObject({ type: 'ImageNotAllowed', nonRetryable: true });
    expect(err.message).toContain('evil.example.com/calico/node:v3.24.1');
    const set = await refusal(
      env.run(a.setWorkloadImages, {
        cluster: 'sim',
        namespace: 'kube-system',
        kind: 'DaemonSet' as const,
        name: 'calico-node',
        images: [{ container: 'calico-node', init: false, image: 'evil.example.com/calico/node:v3.24.1' }],
      }),
    );
    expect(set.type).toBe('ImageNotAllowed');
    await expect(
      env.run(a.checkImagesAllowed, { cluster: 'sim', images: ['calico/node:v3.24.1'] }),
    ).resolves.toEqual({
      allowedRegistries: ['docker.io/calico'],
    });
  });

  test('a mirror listed in allowedRegistries is allowed; the default then is not', async () => {
    const a = activitiesFor(['harbor.example.com/mirror/calico']);
    const env = new MockActivityEnvironment();
    await expect(
      env.run(a.checkImagesAllowed, {
        cluster: 'sim',
        images: ['harbor.example.com/mirror/calico/typha:v3.24.1'],
      }),
    ).resolves.toBeDefined();
    const err = await refusal(env.run(a.checkImagesAllowed, { cluster: 'sim', images: [IMAGE] }));
    expect(err.type).toBe('ImageNotAllowed');
  });

  test('prefix rules: canonical Docker Hub forms match, look-alikes do not', () => {
    expect(imageAllowed('calico/node:v1', ['docker.io/calico'])).toBe(true);
    expect(imageAllowed('index.docker.io/calico/node:v1', ['calico'])).toBe(true);
    expect(imageAllowed('docker.io/calicoevil/node:v1', ['docker.io/calico'])).toBe(false);
    expect(imageAllowed('docker.io/calico/x/node:v1', ['docker.io/calico'])).toBe(false);
    expect(isDefaultRegistry('calico')).toBe(true);
    expect(isDefaultRegistry('harbor.example.com/calico')).toBe(false);
  });
});

test('runNodeCommand (any command as root) is not registered with the production activities', () => {
  const activities = createActivities({ registry: registryFromEntries({}) });
  expect(Object.keys(activities)).not.toContain('runNodeCommand');
  expect(Object.keys(activities)).toContain('restartNodeService');
});

describe('DaemonSet rollout judged on the Ready nodes (skipNotReadyNodes)', () => {
  const tmpl = { spec: { containers: [{ name: 'calico-node', image: 'new' }] } };
  const ds: V1DaemonSet = {
    metadata: { name: 'calico-node', uid: 'ds-1', generation: 2 },
    spec: { selector: { matchLabels: { k: 'v' } }, template: tmpl },
    // kubectl's counts: the NotReady node's pod never becomes available.
    status: {
      observedGeneration: 2,
      desiredNumberScheduled: 3,
      updatedNumberScheduled: 3,
      numberAvailable: 2,
      currentNumberScheduled: 3,
      numberMisscheduled: 0,
      numberReady: 2,
    },
  };
  const pod = (node: string, image: string, ready: boolean): V1Pod => ({
    metadata: {
      name: `calico-node-${node}`,
      ownerReferences: [{ uid: 'ds-1', apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'calico-node' }],
    },
    spec: { nodeName: node, containers: [{ name: 'calico-node', image }] },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });

  test('complete on the Ready nodes while the NotReady one never is', () => {
    const pods = [pod('a', 'new', true), pod('b', 'new', true), pod('c', 'new', false)];
    expect(daemonSetRolloutStatusOnNodes(ds, pods, ['a', 'b'])).toMatchObject({ done: true, failed: false });
    expect(daemonSetRolloutStatusOnNodes(ds, pods, ['a', 'b', 'c']).done).toBe(false);
  });

  test('an old-image pod on a Ready node keeps it waiting', () => {
    const pods = [pod('a', 'new', true), pod('b', 'old', true)];
    const s = daemonSetRolloutStatusOnNodes(ds, pods, ['a', 'b']);
    expect(s.done).toBe(false);
    expect(s.message).toContain('1 out of 2 new pods have been updated');
  });
});
