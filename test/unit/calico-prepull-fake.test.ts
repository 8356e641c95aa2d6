/**
 * calicoImageRepair's pre-pull and image activities with FAKE Kubernetes clients (edge cases the
 * simulator cannot stage on demand): a pod of another run is never adopted, the pod asks for no
 * privilege and has a deadline, allowedRegistries is enforced before any API call, and the DaemonSet
 * rollout judged on the Ready nodes only. The batch's retries and cancellations:
 * calico-prepull-batch-fake.test.ts.
 */
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { ClusterKube } from '../../src/activities/kube/client';
import { createCalicoActivities } from '../../src/activities/kube/calico';
import {
  type PrePullImagesInput,
  type PrePullImagesResult,
  prePullImagesOnNodes,
} from '../../src/activities/kube/prepull';
import { daemonSetRolloutStatusOnNodes } from '../../src/activities/kube/rollout-status';
import { imageAllowed, isDefaultRegistry, prePullPodNameFor } from '../../src/common/calico-prepull';
import { registryFromEntries } from '../../src/worker/registry';
import { selectPods } from './fake-pod-list';

const IMAGE = 'docker.io/calico/node:v3.24.1';
const RUN = 'wf-00000002';
const input: PrePullImagesInput = {
  cluster: 'sim',
  namespace: 'kube-system',
  runLabel: RUN,
  batch: 0,
  pairs: [{ node: 'node-1', image: IMAGE }],
  maxInFlight: 1,
  failureBudget: 1,
  timeoutSeconds: 60,
};
const POD = prePullPodNameFor(RUN, 'node-1', IMAGE);

const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code, body: '{}' });

/**
 * Pods by name in a fake API; lists honour the label selector's equalities. A pod this test created
 * runs (its image pulled); `initial` keeps the state it was given.
 */
function fakePodApi(initial?: V1Pod) {
  const pods = new Map<string, V1Pod>(initial ? [[initial.metadata!.name!, initial]] : []);
  const calls: string[] = [];
  const created: V1Pod[] = [];
  const withStatus = (pod: V1Pod): V1Pod =>
    pod === initial
      ? pod
      : { ...pod, status: { containerStatuses: [{ name: 'prepull', state: { running: {} } } as never] } };
  const kube = {
    cluster: 'sim',
    server: 'https://fake',
    config: {},
    core: {
      listNamespacedPod: async (query: { labelSelector?: string; fieldSelector?: string }) => {
        calls.push('list');
        return { items: selectPods(pods, query).map(withStatus) };
      },
      readNamespacedPod: async ({ name }: { name: string }) => {
        calls.push('read');
        const pod = pods.get(name);
        if (!pod) throw apiError(404);
        return withStatus(pod);
      },
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        if (pods.has(body.metadata!.name!)) throw apiError(409);
        calls.push('create');
        created.push(body);
        pods.set(body.metadata!.name!, body);
        return body;
      },
      deleteNamespacedPod: async ({ name }: { name: string }) => {
        if (!pods.delete(name)) throw apiError(404);
        calls.push('delete');
        return {};
      },
    },
  } as unknown as ClusterKube;
  return { kube, calls, created };
}

const prePull = (kube: ClusterKube) =>
  new MockActivityEnvironment().run(prePullImagesOnNodes, kube, input) as Promise<PrePullImagesResult>;

test("a terminated pre-pull pod of another run under the same name is replaced, never adopted as this run's verdict", async () => {
  const stale: V1Pod = {
    metadata: {
      name: POD,
      labels: { 'nksr.io/purpose': 'calico-prepull', 'nksr.io/run': 'wf-00000001' },
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'prepull', image: IMAGE }] },
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
  const r = await prePull(api.kube);
  expect(r.outcomes).toMatchObject([{ outcome: 'pulled', podCreated: true, podName: POD }]);
  // The create met the stale pod (409): it was read, deleted, and this run's pod created after.
  expect(api.calls.indexOf('delete')).toBeGreaterThan(-1);
  expect(api.calls.indexOf('delete')).toBeLessThan(api.calls.indexOf('create'));
  expect(api.created).toHaveLength(1);
  expect(api.created[0]!.metadata!.labels!['nksr.io/run']).toBe(RUN);
});

test('the pre-pull pod pulls with no privilege and ends by itself (activeDeadlineSeconds)', async () => {
  const api = fakePodApi();
  await prePull(api.kube);
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

describe('policy.calicoImageRepair.registries (clusters.yaml) enforced inside the activities', () => {
  const activitiesFor = (allowedRegistries?: string[]) =>
    createCalicoActivities({
      registry: registryFromEntries({
        // No such kubeconfig: a call that got past the check would fail differently.
        sim: {
          kubeconfig: '/nonexistent/kubeconfig',
          nodeAddressType: 'InternalIP',
          ...(allowedRegistries ? { policy: { calicoImageRepair: { registries: allowedRegistries } } } : {}),
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
      env.run(a.prePullImagesOnNodes, {
        ...input,
        pairs: [{ node: 'node-1', image: 'evil.example.com/calico/node:v3.24.1' }],
      }),
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

  test('a mirror listed in the policy is allowed; the default then is not', async () => {
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
