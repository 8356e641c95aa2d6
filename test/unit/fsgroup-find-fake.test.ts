/**
 * findFsGroupWorkloads on a fake Kubernetes API (named fake: canned list/read answers): which pods
 * count as showing the mount timeout — events of the current pods (not of an earlier pod of the same
 * name), pod conditions, waiting container messages — and what a listed workload without fsGroup is.
 */
import type { CoreV1Event, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ClusterKube } from '../../src/activities/kube/client';
import { findFsGroupWorkloads } from '../../src/activities/kube/fsgroup';

const TIMEOUT =
  'Unable to attach or mount volumes: unmounted volumes=[data]: timed out waiting for the condition';

function deployment(name: string, fsGroup?: number): V1Deployment {
  return {
    metadata: { name, namespace: 'app', resourceVersion: '7' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        spec: { containers: [], ...(fsGroup !== undefined ? { securityContext: { fsGroup } } : {}) },
      },
    },
  };
}

const pod = (name: string, app: string, uid: string, status: V1Pod['status'] = {}): V1Pod => ({
  metadata: { name, namespace: 'app', uid, labels: { app } },
  status,
});

function fakeKube(opts: { deployments: V1Deployment[]; pods: V1Pod[]; events: CoreV1Event[] }): ClusterKube {
  const none = { items: [] };
  return {
    cluster: 'fake',
    server: 'https://fake',
    apps: {
      listDeploymentForAllNamespaces: async () => ({ items: opts.deployments }),
      listStatefulSetForAllNamespaces: async () => none,
      listDaemonSetForAllNamespaces: async () => none,
      readNamespacedDeployment: async ({ name }: { name: string }) => {
        const d = opts.deployments.find((x) => x.metadata?.name === name);
        if (!d) throw Object.assign(new Error('not found'), { code: 404, body: '{}' });
        return d;
      },
    },
    core: {
      listNamespacedPod: async ({ labelSelector }: { labelSelector: string }) => ({
        items: opts.pods.filter((p) => `app=${p.metadata?.labels?.app}` === labelSelector),
      }),
      listNamespacedEvent: async () => ({ items: opts.events }),
    },
  } as unknown as ClusterKube;
}

const event = (podName: string, uid: string | undefined, message: string): CoreV1Event => ({
  metadata: { name: `${podName}.1` },
  involvedObject: { kind: 'Pod', name: podName, ...(uid ? { uid } : {}) },
  reason: 'FailedMount',
  message,
});

test('scan: events of current pods, conditions and waiting messages count; stale and unrelated ones do not', async () => {
  const kube = fakeKube({
    deployments: [
      deployment('by-event', 1000),
      deployment('by-condition', 1000),
      deployment('by-waiting', 1000),
      deployment('stale-event', 1000),
      deployment('healthy', 1000),
      deployment('no-fsgroup'),
    ],
    pods: [
      pod('by-event-1', 'by-event', 'u1'),
      pod('by-condition-1', 'by-condition', 'u2', {
        conditions: [
          { type: 'ContainersReady', status: 'False', message: 'timed out waiting for condition' },
        ],
      }),
      pod('by-waiting-1', 'by-waiting', 'u3', {
        containerStatuses: [
          {
            name: 'c',
            image: 'x',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ContainerCreating', message: TIMEOUT } },
          },
        ],
      }),
      pod('stale-event-0', 'stale-event', 'new-uid'),
      pod('healthy-1', 'healthy', 'u5'),
      pod('no-fsgroup-1', 'no-fsgroup', 'u6'),
    ],
    events: [
      event('by-event-1', 'u1', TIMEOUT),
      event('stale-event-0', 'old-uid', TIMEOUT),
      event('healthy-1', 'u5', 'MountVolume.SetUp succeeded for volume "data"'),
      event('gone-pod', 'u9', TIMEOUT),
      event('no-fsgroup-1', 'u6', TIMEOUT),
    ],
  });
  const found = await findFsGroupWorkloads(kube, {});
  expect(found.map((c) => [c.name, c.symptomPods])).toEqual([
    ['by-event', ['by-event-1']],
    ['by-condition', ['by-condition-1']],
    ['by-waiting', ['by-waiting-1']],
    ['stale-event', []],
    ['healthy', []],
  ]);
  expect(found[0]!.evidence).toBe(`FailedMount: ${TIMEOUT}`);
  expect(found[1]!.evidence).toBe('timed out waiting for condition');
  expect(found.every((c) => c.fsGroup === 1000 && c.found && c.resourceVersion === '7')).toBe(true);
});

test('list: a missing workload is found: false; one without fsGroup is reported as such', async () => {
  const kube = fakeKube({ deployments: [deployment('no-fsgroup')], pods: [], events: [] });
  const found = await findFsGroupWorkloads(kube, {
    workloads: [
      { kind: 'Deployment', namespace: 'app', name: 'no-fsgroup' },
      { kind: 'Deployment', namespace: 'app', name: 'absent' },
    ],
  });
  expect(found).toEqual([
    {
      kind: 'Deployment',
      namespace: 'app',
      name: 'no-fsgroup',
      found: true,
      symptomPods: [],
      resourceVersion: '7',
      desiredPods: 1, // no spec.replicas: a Deployment's default
    },
    { kind: 'Deployment', namespace: 'app', name: 'absent', found: false, symptomPods: [] },
  ]);
});
