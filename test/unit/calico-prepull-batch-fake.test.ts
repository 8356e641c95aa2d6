/**
 * prePullImagesOnNodes (the batched pre-pull activity) with a FAKE Kubernetes API: the edge cases the
 * simulator cannot stage on demand. A retry resumes from its heartbeat and from the pods themselves
 * (no pod created twice, no verdict pulled twice), the failure budget stops a batch and removes its
 * running pods, only a requested cancellation deletes pods, and `deletePods` touches only this run's
 * pods. The batch on the real API server: test/integration/calico-*.test.ts.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ActivityCancellationDetails, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ClusterKube } from '../../src/activities/kube/client';
import {
  type PrePullImagesInput,
  type PrePullImagesResult,
  prePullImagesOnNodes,
} from '../../src/activities/kube/prepull';
import { prePullPodNameFor } from '../../src/common/calico-prepull';
import type { CalicoPrePullBatchProgress } from '../../src/common/calico-types';
import { selectPods } from './fake-pod-list';

jest.setTimeout(60_000);

const RUN = 'wf-0000beef';
const IMAGES = ['docker.io/calico/node:v3.24.1', 'docker.io/calico/cni:v3.24.1'];
const pairs = ['n1', 'n2'].flatMap((node) => IMAGES.map((image) => ({ node, image })));
const input: PrePullImagesInput = {
  cluster: 'sim',
  namespace: 'kube-system',
  runLabel: RUN,
  batch: 3,
  pairs,
  maxInFlight: 4,
  failureBudget: 3,
  timeoutSeconds: 60,
};
/** The batch activity in a mock activity context (attempt, heartbeat details as a retry sees them). */
const runBatch = (env: MockActivityEnvironment, kube: ClusterKube, i: PrePullImagesInput) =>
  env.run(prePullImagesOnNodes, kube, i) as Promise<PrePullImagesResult>;
const nameOf = (i: number) => prePullPodNameFor(RUN, pairs[i]!.node, pairs[i]!.image);

const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code, body: '{}' });

/**
 * Pods by name; a created pod gets the state `stateOf` gives it (running: pulled; waiting
 * ErrImagePull: failed; pending: undecided). Lists honour the label selector's equalities.
 */
function fakeApi(stateOf: (pod: V1Pod) => 'running' | 'pull-failed' | 'pending' = () => 'running') {
  const pods = new Map<string, V1Pod>();
  const calls: string[] = [];
  const withStatus = (pod: V1Pod): V1Pod => {
    const s = stateOf(pod);
    const state =
      s === 'running'
        ? { running: {} }
        : s === 'pull-failed'
          ? { waiting: { reason: 'ErrImagePull' } }
          : { waiting: { reason: 'ContainerCreating' } };
    return { ...pod, status: { phase: 'Pending', containerStatuses: [{ name: 'prepull', state } as never] } };
  };
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
        const pod = pods.get(name);
        if (!pod) throw apiError(404);
        return withStatus(pod);
      },
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        const name = body.metadata!.name!;
        if (pods.has(name)) throw apiError(409);
        calls.push(`create ${name}`);
        pods.set(name, body);
        return body;
      },
      deleteNamespacedPod: async ({ name }: { name: string }) => {
        if (!pods.delete(name)) throw apiError(404);
        calls.push(`delete ${name}`);
        return {};
      },
    },
  } as unknown as ClusterKube;
  return { kube, pods, calls };
}

test('pulls every pair with one pod each, labelled by run and batch, and keeps the decided pods', async () => {
  const api = fakeApi();
  const r = await runBatch(new MockActivityEnvironment(), api.kube, input);
  expect(r.outcomes.map((o) => [o.node, o.image, o.outcome, o.podCreated])).toEqual(
    pairs.map((p) => [p.node, p.image, 'pulled', true]),
  );
  expect(api.calls.filter((c) => c.startsWith('create'))).toHaveLength(4);
  // Kept until their verdicts are in the workflow's history (a later batch deletes them).
  expect([...api.pods.keys()].sort()).toEqual([0, 1, 2, 3].map(nameOf).sort());
  const pod = api.pods.get(nameOf(0))!;
  expect(pod.metadata!.labels).toMatchObject({ 'nksr.io/run': RUN, 'nksr.io/prepull-batch': '3' });
  expect(pod.spec!.activeDeadlineSeconds).toBeGreaterThanOrEqual(60);
  expect(pod.spec!.containers[0]!.securityContext).toMatchObject({ privileged: false });
});

test('a retry resumes: a decided pair is not pulled again, a pod the killed attempt created is adopted', async () => {
  const api = fakeApi();
  // The earlier attempt decided pair 0 (its pod already deleted by now) and created pair 1's pod.
  const t = Date.now() - 1000;
  const earlier: CalicoPrePullBatchProgress = {
    started: { '0': t, '1': t },
    verdicts: { '0': { o: 'pulled', d: 500, c: true } },
  };
  api.pods.set(nameOf(1), {
    metadata: {
      name: nameOf(1),
      labels: { 'nksr.io/purpose': 'calico-prepull', 'nksr.io/run': RUN, 'nksr.io/prepull-batch': '3' },
    },
    spec: { nodeName: pairs[1]!.node, containers: [{ name: 'prepull', image: pairs[1]!.image }] },
  });
  const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: earlier });
  const r = await runBatch(env, api.kube, input);
  expect(r.outcomes.map((o) => [o.outcome, o.podCreated])).toEqual([
    ['pulled', true],
    ['pulled', false],
    ['pulled', true],
    ['pulled', true],
  ]);
  // Neither pair 0's pod (verdict known) nor pair 1's (adopted) was created by the retry.
  expect(api.calls.filter((c) => c.startsWith('create')).sort()).toEqual(
    [`create ${nameOf(2)}`, `create ${nameOf(3)}`].sort(),
  );
});

test('failure budget: once it is spent the batch stops, deletes its undecided pods, reports them not-started', async () => {
  // n1's pulls fail; n2's hang: without the budget the batch would wait for their timeout.
  const api = fakeApi((pod) => (pod.spec?.nodeName === 'n1' ? 'pull-failed' : 'pending'));
  const r = await runBatch(new MockActivityEnvironment(), api.kube, {
    ...input,
    failureBudget: 2,
  });
  expect(r.outcomes.map((o) => [o.node, o.outcome, o.podRemoved ?? false])).toEqual([
    ['n1', 'failed', false],
    ['n1', 'failed', false],
    ['n2', 'not-started', true],
    ['n2', 'not-started', true],
  ]);
  expect(r.outcomes[2]!.reason).toMatch(/failure budget spent/);
  // The failed pods stay (their verdicts are evidence until recorded); the hanging ones are gone.
  expect([...api.pods.keys()].sort()).toEqual([nameOf(0), nameOf(1)].sort());
});

test('at most maxInFlight pods undecided at once; the next starts as one is decided', async () => {
  const api = fakeApi();
  const r = await runBatch(new MockActivityEnvironment(), api.kube, { ...input, maxInFlight: 1 });
  expect(r.outcomes.every((o) => o.outcome === 'pulled')).toBe(true);
  // One pod at a time: a list (which decides the pod before) separates every two creates.
  const creates = api.calls.map((c, i) => (c.startsWith('create') ? i : -1)).filter((i) => i >= 0);
  expect(creates).toHaveLength(4);
  for (let k = 1; k < creates.length; k++)
    expect(api.calls.slice(creates[k - 1]!, creates[k]).includes('list')).toBe(true);
});

test.each([
  ['worker shutdown', new ActivityCancellationDetails({ workerShutdown: true }), 'WORKER_SHUTDOWN', false],
  ['heartbeat timeout', new ActivityCancellationDetails({ timedOut: true }), 'TIMED_OUT', false],
  ['cancellation requested', new ActivityCancellationDetails({ cancelRequested: true }), 'CANCELLED', true],
] as const)(
  'batch aborted by %s: pods deleted only when the workflow asked',
  async (_w, details, reason, deletes) => {
    const api = fakeApi(() => 'pending');
    const env = new MockActivityEnvironment();
    const running = runBatch(env, api.kube, input);
    while (api.pods.size < 4) await new Promise((r) => setTimeout(r, 10));
    env.cancel(reason, details);
    await expect(running).rejects.toBeDefined();
    expect(api.pods.size).toBe(deletes ? 0 : 4);
  },
);

test("deletePods: earlier batches' pods deleted first (gone ones too); another run's pod is refused", async () => {
  const api = fakeApi();
  const other = prePullPodNameFor('wf-00000bad', 'n1', IMAGES[0]!);
  const err = await runBatch(new MockActivityEnvironment(), api.kube, { ...input, deletePods: [other] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  expect(api.calls).toEqual([]);

  const kept = prePullPodNameFor(RUN, 'n9', IMAGES[0]!);
  const gone = prePullPodNameFor(RUN, 'n8', IMAGES[0]!);
  api.pods.set(kept, { metadata: { name: kept, labels: { 'nksr.io/run': RUN } } });
  const r = await runBatch(new MockActivityEnvironment(), api.kube, {
    ...input,
    deletePods: [kept, gone],
  });
  expect(r.deleted).toEqual([kept, gone]);
  expect(api.pods.has(kept)).toBe(false);
  expect(api.calls[0]).toBe(`delete ${kept}`);
});
