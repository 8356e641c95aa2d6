/**
 * calicoImageRepair's workflow logic on the time-skipping test server with FAKE activities (an
 * in-memory cluster): phase order, skips, failure budget, batching, approval, reports. The real
 * activities against the simulator are covered by test/integration/calico-*.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { type Activities, createActivities } from '../../src/activities';
import type { CalicoActivities } from '../../src/activities/kube/calico';
import { prePullPodNameFor, prePullSecretNameFor, runLabelOf } from '../../src/common/calico-prepull';
import { PREPULL_BATCH_PROGRESS_DETAIL } from '../../src/common/calico-types';
import { registryFromEntries } from '../../src/worker/registry';
import { useTimeSkipping } from './time-skipping';
import type {
  NodeReport,
  CalicoImageRepairResult,
  CalicoPrePullOutcome,
} from '../../src/workflows/definitions';
import { approveUpdate, progressQuery } from '../../src/workflows/definitions';
import { fakeClusterGuards } from './fake-cluster-guards';
import { signedBy } from './test-approvers';
import type { SignedApproval } from '../../src/common/approval-statement';

jest.setTimeout(180_000);

const BROKEN = 'registry.broken.example/calico';
const TARGET = 'docker.io/calico';

interface FakeCluster {
  nodes: NodeReport[];
  images: Record<string, Record<string, string>>; // workload name -> container key -> image
  failPull: (node: string, image: string) => boolean;
  failRollout: (name: string) => boolean;
  /** Workloads whose rollout an earlier run left unfinished. */
  incompleteRollouts: Set<string>;
  calls: string[];
  prePullsStarted: number;
  maxConcurrentPrePulls: number;
  /** Registries the fake worker's clusters.yaml allows (checkImagesAllowed). */
  allowedRegistries: string[];
  /** An API outage: the named activity (optionally only for one workload) throws KubeApiUnreachable. */
  apiDown: (activity: string, name?: string) => boolean;
  /** An outage of prePullImagesOnNodes hits before the batch starts its first pull (nothing started). */
  downBeforeFirstPull: boolean;
  /** Pre-pulls run until cancelled (heartbeating), as a slow pull does. */
  blockPulls: boolean;
  prePullsRunning: number;
  /** Pre-pulls still running each time deletePrePullPods started. */
  runningAtCleanup: number[];
  /** Inputs prePullImagesOnNodes / waitForRollout / deleteStalePrePullPods received. */
  inputs: Record<string, unknown>[];
  /** The images were patched and the result lost (a worker killed after the patch): the first call throws. */
  loseSetResult: Set<string>;
  /** The worker holds a Docker Hub credential for the cluster (checkPrePullCredential). */
  hubCredential: boolean;
  /** The run's pull secret exists (ensurePrePullSecret made it, deletePrePullSecret removed it). */
  pullSecretExists: boolean;
}

function fakeCluster(nodeCount = 5): FakeCluster {
  return {
    nodes: Array.from({ length: nodeCount }, (_, i) => ({
      name: `nks-default-w-${i + 1}`,
      ready: true,
      kubeletVersion: 'v1.34.4',
      containerRuntime: 'containerd://1.7',
      unschedulable: false,
      internalIP: `127.0.1.${i + 1}`,
    })),
    images: {
      'calico-node': {
        'calico-node': `${BROKEN}/node:v3.24.1`,
        'init:install-cni': `${BROKEN}/cni:v3.24.1`,
        'init:mount-bpffs': `${BROKEN}/node:v3.24.1`,
      },
      'calico-kube-controllers': { 'calico-kube-controllers': `${BROKEN}/kube-controllers:v3.24.1` },
      'calico-typha': { 'calico-typha': `${BROKEN}/typha:v3.24.1` },
    },
    failPull: () => false,
    failRollout: () => false,
    incompleteRollouts: new Set(),
    calls: [],
    prePullsStarted: 0,
    maxConcurrentPrePulls: 0,
    allowedRegistries: [TARGET],
    apiDown: () => false,
    downBeforeFirstPull: false,
    blockPulls: false,
    prePullsRunning: 0,
    runningAtCleanup: [],
    inputs: [],
    loseSetResult: new Set(),
    hubCredential: false,
    pullSecretExists: false,
  };
}

const unreachable = (what: string) =>
  ApplicationFailure.retryable(`${what}: Kubernetes API unreachable`, 'KubeApiUnreachable');

/**
 * Every activity the worker registers (typed as the full Activities, so a workflow calling one the
 * fake forgot fails the typecheck): the calico and preflight ones faked, the rest real ones bound to
 * an empty cluster registry, so an unexpected call fails loudly (UnknownCluster).
 */
function fakeActivities(c: FakeCluster): Activities {
  const fakes: CalicoActivities & Pick<Activities, 'listClusterNodesPage'> = calicoFakes(c);
  return { ...createActivities({ registry: registryFromEntries({}) }), ...fakeClusterGuards(), ...fakes };
}

function calicoFakes(c: FakeCluster): CalicoActivities & Pick<Activities, 'listClusterNodesPage'> {
  let running = 0;
  /** One fake pull, per-pair or in a batch: blocks while c.blockPulls (heartbeating), counts concurrency. */
  const pullOne = async (ctx: Context) => {
    if (c.blockPulls) {
      c.prePullsRunning++;
      try {
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
      } finally {
        c.prePullsRunning--;
      }
    }
    running++;
    c.maxConcurrentPrePulls = Math.max(c.maxConcurrentPrePulls, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
  };
  const down = (activity: string, name?: string) => {
    if (c.apiDown(activity, name)) {
      c.calls.push(`${activity} ${name ?? ''} (API down)`.trimEnd());
      throw unreachable(activity);
    }
  };
  return {
    async checkImagesAllowed({ images }) {
      c.calls.push('checkImagesAllowed');
      const refused = images.filter((i) => !c.allowedRegistries.some((r) => i.startsWith(`${r}/`)));
      if (refused.length)
        throw ApplicationFailure.nonRetryable(`${refused.join(', ')} not allowed`, 'ImageNotAllowed');
      return { allowedRegistries: c.allowedRegistries };
    },
    async checkPrePullCredential() {
      c.calls.push('checkPrePullCredential');
      return c.hubCredential
        ? { mode: 'pull-secret' }
        : { mode: 'anonymous', reason: 'no dockerHub.credentialsFile for cluster "sim"' };
    },
    async deleteStalePrePullSecrets() {
      c.calls.push('deleteStalePrePullSecrets');
      down('deleteStalePrePullSecrets');
      return { deleted: [] };
    },
    async ensurePrePullSecret() {
      c.calls.push('ensurePrePullSecret');
      down('ensurePrePullSecret');
      const { workflowExecution } = Context.current().info;
      const secret = prePullSecretNameFor(
        runLabelOf(`${workflowExecution!.workflowId}/${workflowExecution!.runId}`),
      );
      const action = c.pullSecretExists ? 'unchanged' : 'created';
      c.pullSecretExists = true;
      return { secret, action };
    },
    async deletePrePullSecret() {
      c.calls.push('deletePrePullSecret');
      down('deletePrePullSecret');
      c.pullSecretExists = false;
      return { deleted: [] };
    },
    async deleteStalePrePullPods(input) {
      c.calls.push('deleteStalePrePullPods');
      c.inputs.push({ activity: 'deleteStalePrePullPods', ...input });
      down('deleteStalePrePullPods');
      return { deleted: [] };
    },
    async listClusterNodesPage({ limit, continueToken }) {
      // Pages as the API gives them, so large fake clusters take several calls.
      c.calls.push('listClusterNodesPage');
      const from = Number(continueToken ?? 0);
      const next = from + limit;
      return {
        nodes: c.nodes.slice(from, next),
        ...(next < c.nodes.length ? { continueToken: String(next) } : {}),
      };
    },
    async readWorkloadImages({ workloads }) {
      c.calls.push('readWorkloadImages');
      return workloads.map((w) => {
        const imgs = c.images[w.name];
        return {
          ...w,
          ...(c.incompleteRollouts.has(w.name)
            ? { rolloutComplete: false, rolloutMessage: '0 of 1 updated replicas are available' }
            : { rolloutComplete: true }),
          found: imgs !== undefined,
          containers: Object.entries(imgs ?? {}).map(([k, image]) => ({
            name: k.replace(/^init:/, ''),
            init: k.startsWith('init:'),
            image,
          })),
        };
      });
    },
    async prePullImagesOnNodes(input) {
      const ctx = Context.current();
      if (ctx.info.attempt === 1) c.inputs.push({ activity: 'prePullImagesOnNodes', ...input });
      const { pairs, maxInFlight, failureBudget } = input;
      // As the real one: the first maxInFlight pairs start (heartbeated) before an API call can fail,
      // unless the outage is already there when the batch begins.
      const firstWave = c.downBeforeFirstPull && c.apiDown('prePullImagesOnNodes') ? 0 : maxInFlight;
      if (ctx.info.attempt === 1) {
        for (const { node, image } of pairs.slice(0, firstWave)) {
          c.calls.push(`prePullImagesOnNodes ${node} ${image}`);
          c.prePullsStarted++;
        }
      }
      const progress = {
        started: Object.fromEntries(pairs.slice(0, firstWave).map((_, i) => [String(i), 1])),
        verdicts: {},
      };
      ctx.heartbeat(progress);
      try {
        down('prePullImagesOnNodes');
      } catch (err) {
        // As the real one: the failure carries the batch's progress for the workflow.
        const e = err as ApplicationFailure;
        throw ApplicationFailure.create({
          type: e.type ?? undefined,
          message: e.message,
          details: [{ [PREPULL_BATCH_PROGRESS_DETAIL]: progress }],
        });
      }
      const outcomes: (CalicoPrePullOutcome | undefined)[] = pairs.map(() => undefined);
      let next = 0;
      let failed = 0;
      const lane = async () => {
        while (next < pairs.length && failed < failureBudget) {
          const i = next++;
          const { node, image } = pairs[i]!;
          if (i >= maxInFlight && ctx.info.attempt === 1) {
            c.calls.push(`prePullImagesOnNodes ${node} ${image}`);
            c.prePullsStarted++;
          }
          await pullOne(ctx);
          const podName = prePullPodNameFor(input.runLabel, node, image);
          if (c.failPull(node, image)) {
            failed++;
            outcomes[i] = {
              node,
              image,
              outcome: 'failed',
              reason: 'ErrImagePull',
              podName,
              podCreated: true,
            };
          } else {
            outcomes[i] = { node, image, outcome: 'pulled', podName, podCreated: true, durationMs: 5 };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(maxInFlight, pairs.length) }, lane));
      return {
        outcomes: outcomes.map(
          (o, i) =>
            o ?? {
              ...pairs[i]!,
              outcome: 'not-started' as const,
              reason: 'failure budget spent',
              podRemoved: true,
            },
        ),
        deleted: input.deletePods ?? [],
      };
    },
    async deletePrePullPods() {
      c.calls.push('deletePrePullPods');
      c.runningAtCleanup.push(c.prePullsRunning);
      down('deletePrePullPods');
      return { deleted: [] };
    },
    async setWorkloadImages({ name, images }) {
      c.calls.push(`setWorkloadImages ${name}`);
      down('setWorkloadImages', name);
      const imgs = c.images[name]!;
      const previousImages = images.map((i) => ({
        ...i,
        image: imgs[i.init ? `init:${i.container}` : i.container]!,
      }));
      const changed = images.some((i) => imgs[i.init ? `init:${i.container}` : i.container] !== i.image);
      for (const i of images) imgs[i.init ? `init:${i.container}` : i.container] = i.image;
      if (c.loseSetResult.delete(name)) throw unreachable('result lost after the patch');
      return { changed, previousImages, generation: 2 };
    },
    async listWorkloadPods({ name }) {
      c.calls.push(`listWorkloadPods ${name}`);
      down('listWorkloadPods', name);
      return [
        { name: `${name}-old-a`, uid: 'u1' },
        { name: `${name}-old-b`, uid: 'u2' },
      ];
    },
    async deletePodsByUid({ pods }) {
      c.calls.push(`deletePodsByUid ${pods.map((p) => p.name).join(',')}`);
      down('deletePodsByUid');
      return { deleted: pods.map((p) => p.name), alreadyGone: [] };
    },
    async waitForRollout(input) {
      const { name } = input;
      c.calls.push(`waitForRollout ${name}`);
      c.inputs.push({ activity: 'waitForRollout', ...input });
      return c.failRollout(name)
        ? { outcome: 'timeout' as const, message: 'timed out', durationMs: 1 }
        : { outcome: 'complete' as const, message: `"${name}" successfully rolled out`, durationMs: 1 };
    },
  };
}

const ts = useTimeSkipping(require.resolve('../../src/workflows'), 'calico-fake', { searchAttributes: true });

async function run(
  cluster: FakeCluster,
  input: Record<string, unknown>,
  during?: (handle: Awaited<ReturnType<typeof ts.env.client.workflow.start>>) => Promise<void>,
): Promise<CalicoImageRepairResult> {
  return ts.withWorker(fakeActivities(cluster), async (taskQueue) => {
    const handle = await ts.env.client.workflow.start('calicoImageRepair', {
      taskQueue,
      workflowId: `nks/sim/calicoImageRepair/${randomUUID()}`,
      args: [{ cluster: 'sim', ...input }],
    });
    if (during) await during(handle);
    return (await handle.result()) as CalicoImageRepairResult;
  });
}

async function runExpectingFailure(
  cluster: FakeCluster,
  input: Record<string, unknown>,
): Promise<ApplicationFailure> {
  try {
    await run(cluster, input);
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  }
  throw new Error('workflow did not fail');
}

const mutating = (calls: string[]) =>
  calls.filter((c) => /^(prePullImage|setWorkloadImages|deletePodsByUid)/.test(c));

test('repairs: pre-pulls 4 images on every node (bounded), then rolls in the guide order', async () => {
  const c = fakeCluster(5);
  const r = await run(c, { maxParallel: 3 });
  expect(r.outcome).toBe('repaired');
  expect(r.prePulls).toHaveLength(20);
  expect(r.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
  expect(c.maxConcurrentPrePulls).toBeLessThanOrEqual(3);
  expect(c.calls.filter((x) => x.startsWith('setWorkloadImages'))).toEqual([
    'setWorkloadImages calico-node',
    'setWorkloadImages calico-kube-controllers',
    'setWorkloadImages calico-typha',
  ]);
  // All pre-pulls before the first change; cleanup after them.
  const lastPull = c.calls.map((x) => x.startsWith('prePullImage')).lastIndexOf(true);
  expect(c.calls.indexOf('deletePrePullPods')).toBeGreaterThan(lastPull);
  expect(c.calls.indexOf('setWorkloadImages calico-node')).toBeGreaterThan(
    c.calls.indexOf('deletePrePullPods'),
  );
  expect(c.images['calico-node']).toEqual({
    'calico-node': `${TARGET}/node:v3.24.1`,
    'init:install-cni': `${TARGET}/cni:v3.24.1`,
    'init:mount-bpffs': `${TARGET}/node:v3.24.1`,
  });
  expect(r.workloads.map((w) => [w.name, w.outcome])).toEqual([
    ['calico-node', 'updated'],
    ['calico-kube-controllers', 'updated'],
    ['calico-typha', 'updated'],
  ]);
  expect(r.workloads[0]!.previousImages).toContainEqual({
    container: 'install-cni',
    init: true,
    image: `${BROKEN}/cni:v3.24.1`,
  });
  expect(r.nodes.every((n) => n.outcome === 'pulled')).toBe(true);
});

test('nothing to do when every workload is on target: changes nothing', async () => {
  const c = fakeCluster(3);
  await run(c, {});
  c.calls = [];
  const r = await run(c, {});
  expect(r.outcome).toBe('nothing-to-do');
  expect(r.summary).toContain('nothing to do');
  expect(mutating(c.calls)).toEqual([]);
});

test('a workload already on target (short form) is skipped; only the needed images are pre-pulled', async () => {
  const c = fakeCluster(2);
  c.images['calico-kube-controllers']!['calico-kube-controllers'] = 'calico/kube-controllers:v3.24.1';
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  expect(r.plan.images).toEqual([
    `${TARGET}/node:v3.24.1`,
    `${TARGET}/cni:v3.24.1`,
    `${TARGET}/typha:v3.24.1`,
  ]);
  expect(r.workloads.find((w) => w.name === 'calico-kube-controllers')!.outcome).toBe('skipped');
  expect(c.calls).not.toContain('setWorkloadImages calico-kube-controllers');
});

test('a failed pre-pull on one node: reported per node, nothing rolled, pods cleaned up', async () => {
  const c = fakeCluster(5);
  c.failPull = (node, image) => node === 'nks-default-w-3' && image.endsWith('/typha:v3.24.1');
  const failure = await runExpectingFailure(c, { maxParallel: 2 });
  expect(failure.type).toBe('RemediationFailed');
  expect(failure.message).toContain('nks-default-w-3');
  const report = failure.details?.[0] as CalicoImageRepairResult;
  expect(report.nodes.find((n) => n.node === 'nks-default-w-3')).toEqual({
    node: 'nks-default-w-3',
    outcome: 'failed',
    failedImages: [`${TARGET}/typha:v3.24.1`],
  });
  expect(report.workloads.every((w) => w.outcome === 'not-attempted')).toBe(true);
  expect(c.calls.filter((x) => x.startsWith('setWorkloadImages'))).toEqual([]);
  expect(c.calls).toContain('deletePrePullPods');
});

test('stops starting pre-pulls after maxFailures', async () => {
  const c = fakeCluster(5);
  c.failPull = () => true;
  const failure = await runExpectingFailure(c, { maxParallel: 1, maxFailures: 2 });
  const report = failure.details?.[0] as CalicoImageRepairResult;
  expect(c.prePullsStarted).toBe(2);
  expect(report.prePulls.filter((p) => p.outcome === 'failed')).toHaveLength(2);
  expect(report.prePulls.filter((p) => p.outcome === 'not-started')).toHaveLength(18);
});

test('typha rollout fails: every pre-update typha pod deleted, failure named, others updated', async () => {
  const c = fakeCluster(3);
  c.failRollout = (name) => name === 'calico-typha';
  const failure = await runExpectingFailure(c, {});
  expect(failure.type).toBe('RemediationFailed');
  const report = failure.details?.[0] as CalicoImageRepairResult;
  expect(report.failedResources).toEqual(['deployment/calico-typha']);
  const typha = report.workloads.find((w) => w.name === 'calico-typha')!;
  expect(typha.oldPodsDeleted).toEqual(['calico-typha-old-a', 'calico-typha-old-b']);
  expect(c.calls.indexOf('listWorkloadPods calico-typha')).toBeLessThan(
    c.calls.indexOf('setWorkloadImages calico-typha'),
  );
  expect(report.workloads.filter((w) => w.outcome === 'updated').map((w) => w.name)).toEqual([
    'calico-node',
    'calico-kube-controllers',
  ]);
});

test('typha rolls out once its pre-update pods are deleted: waited for once more, reported updated', async () => {
  const c = fakeCluster(3);
  let typhaWaits = 0;
  c.failRollout = (name) => name === 'calico-typha' && ++typhaWaits === 1;
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  const typha = r.workloads.find((w) => w.name === 'calico-typha')!;
  expect(typha).toMatchObject({
    outcome: 'updated',
    oldPodsDeleted: ['calico-typha-old-a', 'calico-typha-old-b'],
  });
  expect(typha.detail).toMatch(/after pre-update pods: 2 deleted/);
  expect(c.calls.filter((x) => x === 'waitForRollout calico-typha')).toHaveLength(2);
});

test('a rerun finds typha on target with its rollout unfinished: pre-pulls its image, waits, patches nothing', async () => {
  const c = fakeCluster(3);
  for (const imgs of Object.values(c.images))
    for (const k of Object.keys(imgs)) imgs[k] = imgs[k]!.replace(BROKEN, TARGET);
  c.incompleteRollouts.add('calico-typha');
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  expect(r.plan.workloads.map((w) => [w.name, w.action])).toEqual([
    ['calico-node', 'skip-up-to-date'],
    ['calico-kube-controllers', 'skip-up-to-date'],
    ['calico-typha', 'wait-rollout'],
  ]);
  expect(c.calls.filter((x) => x.startsWith('prePullImage')).sort()).toEqual(
    c.nodes.map((n) => `prePullImagesOnNodes ${n.name} ${TARGET}/typha:v3.24.1`),
  );
  expect(c.calls.filter((x) => /^(setWorkloadImages|listWorkloadPods|deletePodsByUid)/.test(x))).toEqual([]);
  expect(c.calls).toContain('waitForRollout calico-typha');
  expect(r.workloads.map((w) => [w.name, w.outcome])).toEqual([
    ['calico-node', 'skipped'],
    ['calico-kube-controllers', 'skipped'],
    ['calico-typha', 'updated'],
  ]);
});

test('dry run returns the plan and calls nothing that changes the cluster', async () => {
  const c = fakeCluster(4);
  const r = await run(c, { dryRun: true });
  expect(r.outcome).toBe('planned');
  expect(r.plan.nodes).toHaveLength(4);
  expect(r.plan.workloads[0]!.changes[1]).toEqual({
    container: 'install-cni',
    init: true,
    current: `${BROKEN}/cni:v3.24.1`,
    target: `${TARGET}/cni:v3.24.1`,
    upToDate: false,
  });
  expect(r.plan.rolloutTimeouts).toEqual({
    'daemonset/calico-node': 4 * 240,
    'deployment/calico-kube-controllers': 240,
    'deployment/calico-typha': 240,
  });
  expect(mutating(c.calls)).toEqual([]);
  expect(c.calls).not.toContain('deletePrePullPods');
});

test('pre-pulls run as batch activities of at most prePullBatchSize pairs; each deletes the pods its predecessors kept', async () => {
  const c = fakeCluster(5);
  const r = await run(c, { prePullBatchSize: 3, maxParallel: 8 });
  expect(r.outcome).toBe('repaired');
  expect(r.prePulls).toHaveLength(20);
  expect(c.prePullsStarted).toBe(20);
  const batches = c.inputs.filter((i) => i.activity === 'prePullImagesOnNodes');
  // 8 in flight allowed, batches of at most 3: one lane (8 < 25 per lane), 7 batches in turn.
  expect(batches.map((b) => (b.pairs as unknown[]).length)).toEqual([3, 3, 3, 3, 3, 3, 2]);
  expect(batches.every((b) => b.maxInFlight === 3)).toBe(true);
  expect(batches.map((b) => b.batch)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(batches[0]!.deletePods).toBeUndefined();
  // Each later batch deletes the pods of the one before (their verdicts are in history by then).
  const runLabel = batches[0]!.runLabel as string;
  for (let b = 1; b < batches.length; b++) {
    expect(batches[b]!.deletePods).toEqual(
      (batches[b - 1]!.pairs as { node: string; image: string }[]).map((p) =>
        prePullPodNameFor(runLabel, p.node, p.image),
      ),
    );
  }
  expect(r.prePulls.filter((p) => p.podRemoved).length).toBe(18);
  expect(c.calls).toContain('deletePrePullPods');
});

test('NotReady node stops in preflight naming it, unless skipNotReadyNodes', async () => {
  const c = fakeCluster(3);
  c.nodes[1]!.ready = false;
  c.nodes[1]!.readyReason = 'KubeletNotReady';
  const failure = await runExpectingFailure(c, {});
  expect(failure.type).toBe('NodesNotReady');
  expect(failure.message).toContain('nks-default-w-2');
  expect(mutating(c.calls)).toEqual([]);

  const r = await run(c, { skipNotReadyNodes: true });
  expect(r.outcome).toBe('repaired');
  expect(r.plan.skippedNodes).toEqual(['nks-default-w-2']);
  expect(r.prePulls.some((p) => p.node === 'nks-default-w-2')).toBe(false);
});

test('invalid input fails with InvalidInput before any activity', async () => {
  const c = fakeCluster(1);
  const failure = await runExpectingFailure(c, { tag: 'v3.24.1; rm -rf /', registry: 'Docker.io/calico' });
  expect(failure.type).toBe('InvalidInput');
  expect(failure.message).toMatch(/tag/);
  expect(failure.message).toMatch(/registry/);
  expect(c.calls).toEqual([]);
});

test('requireApproval waits for the approve Update, records the approver', async () => {
  const c = fakeCluster(2);
  const r = await run(c, { requireApproval: true }, async (handle) => {
    // Wait until the gate is reached.
    for (let i = 0; i < 100; i++) {
      const p = await handle.query(progressQuery);
      if (p.awaitingApproval) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(mutating(c.calls)).toEqual([]);
    await expect(
      handle.executeUpdate(approveUpdate, { args: [{ approver: '' } as unknown as SignedApproval] }),
    ).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/signed statement/) },
    });
    const answer = await handle.executeUpdate(approveUpdate, {
      args: [await signedBy(handle, 'alice', 'approve', { comment: 'go' })],
    });
    expect(answer).toMatchObject({ accepted: true, approver: 'alice' });
  });
  expect(r.approvedBy).toBe('alice');
  expect(r.outcome).toBe('repaired');
});

/** Fleet sizes of the history test; NKSR_FAKE_CALICO_SIZES=1000 measures a 1,000-node run (about 2 minutes). */
const SIZES = (process.env.NKSR_FAKE_CALICO_SIZES ?? '20,150').split(',').map(Number);

test(
  `history stays small: ${SIZES.join(', ')} nodes (batched pre-pull activities, no child workflow)`,
  async () => {
    const counts: Record<string, number> = {};
    /** The largest single event of each history, in JSON bytes: bounds every payload in it. */
    const largest: Record<string, number> = {};
    const measure = (name: string, history: { events?: unknown[] | null }) => {
      counts[name] = history.events?.length ?? 0;
      largest[name] = Math.max(...(history.events ?? []).map((e) => JSON.stringify(e).length));
    };
    for (const nodes of SIZES) {
      const c = fakeCluster(nodes);
      const workflowId = `nks/sim/calicoImageRepair/size-${nodes}-${randomUUID().slice(0, 6)}`;
      await ts.withWorker(fakeActivities(c), async (taskQueue) => {
        const handle = await ts.env.client.workflow.start('calicoImageRepair', {
          taskQueue,
          workflowId,
          args: [{ cluster: 'sim', maxParallel: 20 }],
        });
        const r = (await handle.result()) as CalicoImageRepairResult;
        // Bounded result: every pair counted, successes listed only while the list stays short.
        expect(r.prePullCounts).toEqual({ pulled: nodes * 4 });
        expect(r.prePulls.length + (r.omitted?.prePulls ?? 0)).toBe(nodes * 4);
        expect(r.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
        expect(JSON.stringify(r).length).toBeLessThan(64 * 1024);
        const history = await handle.fetchHistory();
        measure(`parent-${nodes}`, history);
        expect(
          (history.events ?? []).filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes),
        ).toEqual([]);
      });
    }
    console.log(
      `[calico fake] history events: ${JSON.stringify(counts)}; largest event bytes: ${JSON.stringify(largest)}`,
    );
    for (const n of Object.values(counts)) expect(n).toBeLessThan(2000);
    for (const n of Object.values(largest)) expect(n).toBeLessThan(64 * 1024);
  },
  Math.max(...SIZES) > 200 ? 900_000 : undefined,
);

// ---- Outages, lost results, registries, labels, NotReady nodes and cancels ----

test('an API outage during set-images: the run fails with a report saying which workloads changed', async () => {
  const c = fakeCluster(3);
  c.apiDown = (activity, name) => activity === 'setWorkloadImages' && name === 'calico-kube-controllers';
  const failure = await runExpectingFailure(c, {});
  expect(failure.type).toBe('RemediationFailed');
  const report = failure.details?.[0] as CalicoImageRepairResult;
  expect(report.workloads.map((w) => [w.name, w.outcome, w.changed, w.failedStep])).toEqual([
    ['calico-node', 'updated', 'yes', undefined],
    ['calico-kube-controllers', 'failed', 'unknown', 'set-images'],
    ['calico-typha', 'not-attempted', 'no', undefined],
  ]);
  expect(failure.message).toContain('images changed by this run: daemonset/calico-node');
  expect(failure.message).toContain('maybe: deployment/calico-kube-controllers');
  expect(failure.message).toContain('not attempted: deployment/calico-typha');
  // Nothing after the failed step: typha untouched.
  expect(c.calls.filter((x) => x.includes('calico-typha'))).toEqual([]);
});

test('outages in list-pods and delete-old-pods are steps with an outcome too', async () => {
  const c = fakeCluster(2);
  c.apiDown = (activity, name) => activity === 'listWorkloadPods' && name === 'calico-typha';
  let report = (await runExpectingFailure(c, {})).details?.[0] as CalicoImageRepairResult;
  expect(report.workloads.find((w) => w.name === 'calico-typha')).toMatchObject({
    outcome: 'failed',
    failedStep: 'list-pods',
    changed: 'no',
  });

  const d = fakeCluster(2);
  d.failRollout = (name) => name === 'calico-typha';
  d.apiDown = (activity) => activity === 'deletePodsByUid';
  report = (await runExpectingFailure(d, {})).details?.[0] as CalicoImageRepairResult;
  expect(report.workloads.find((w) => w.name === 'calico-typha')).toMatchObject({
    outcome: 'failed',
    failedStep: 'delete-old-pods',
    changed: 'yes',
  });
});

test("a patch whose result was lost: previousImages are the plan's (the broken ones), patched once", async () => {
  const c = fakeCluster(2);
  c.loseSetResult.add('calico-node');
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  const node = r.workloads.find((w) => w.name === 'calico-node')!;
  expect(node.previousImages).toContainEqual({
    container: 'calico-node',
    init: false,
    image: `${BROKEN}/node:v3.24.1`,
  });
  expect(node.previousImages!.every((p) => p.image.startsWith(BROKEN))).toBe(true);
});

test('an image outside allowedRegistries is refused before any change; a non-default registry needs approval', async () => {
  const c = fakeCluster(2);
  const refused = await runExpectingFailure(c, { registry: 'evil.example.com/calico' });
  expect(refused.type).toBe('ImageNotAllowed');
  expect(mutating(c.calls)).toEqual([]);
  expect(c.calls).not.toContain('deleteStalePrePullPods');

  const d = fakeCluster(2);
  d.allowedRegistries = [TARGET, 'harbor.example.com/calico'];
  const r = await run(d, { registry: 'harbor.example.com/calico' }, async (handle) => {
    for (let i = 0; i < 100; i++) {
      const p = await handle.query(progressQuery);
      if (p.awaitingApproval) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect((await handle.query(progressQuery)).awaitingApproval).toBeTruthy();
    expect(mutating(d.calls)).toEqual([]);
    await handle.executeUpdate(approveUpdate, { args: [await signedBy(handle, 'alice')] });
  });
  expect(r).toMatchObject({ outcome: 'repaired', approvedBy: 'alice' });
});

test('pre-pull pods labelled per run (same workflow ID twice: two labels), stale ones swept first', async () => {
  const c = fakeCluster(1);
  const workflowId = `nks/sim/calicoImageRepair/${randomUUID()}`;
  await ts.withWorker(fakeActivities(c), async (taskQueue) => {
    for (let i = 0; i < 2; i++) {
      // The second run finds the workloads on target: reset them so it pre-pulls too.
      c.images = fakeCluster(1).images;
      await ts.env.client.workflow.execute('calicoImageRepair', {
        taskQueue,
        workflowId,
        args: [{ cluster: 'sim' }],
      });
    }
  });
  const sweeps = c.inputs.filter((i) => i.activity === 'deleteStalePrePullPods');
  expect(sweeps).toHaveLength(2);
  const labels = sweeps.map((s) => s.runLabel as string);
  expect(new Set(labels).size).toBe(2);
  // Swept before the run's first pre-pull, whose pods carry the run's label (their names too).
  expect(c.calls.indexOf('deleteStalePrePullPods')).toBeLessThan(
    c.calls.findIndex((x) => x.startsWith('prePullImage')),
  );
  const pulls = c.inputs.filter((i) => i.activity === 'prePullImagesOnNodes');
  expect(pulls).toHaveLength(2);
  expect(pulls.map((p) => p.runLabel)).toEqual(labels);
});

test('with a NotReady node skipped, calico-node is judged on the Ready nodes, its timeout counts every node', async () => {
  const c = fakeCluster(3);
  c.nodes[1]!.ready = false;
  const r = await run(c, { skipNotReadyNodes: true });
  expect(r.outcome).toBe('repaired');
  expect(r.plan.rolloutTimeouts['daemonset/calico-node']).toBe(3 * 240);
  const waits = c.inputs.filter((i) => i.activity === 'waitForRollout');
  expect(waits.find((w) => w.name === 'calico-node')).toMatchObject({
    timeoutSeconds: 3 * 240,
    nodes: ['nks-default-w-1', 'nks-default-w-3'],
  });
  expect(waits.find((w) => w.name === 'calico-typha')!.nodes).toBeUndefined();
});

test('cancel during pre-pull: pre-pulls stop first, then one cleanup; the run ends Cancelled', async () => {
  const c = fakeCluster(3);
  c.blockPulls = true;
  const err = await run(c, { maxParallel: 4 }, async (handle) => {
    for (let i = 0; i < 200 && c.prePullsRunning < 4; i++) await new Promise((res) => setTimeout(res, 50));
    expect(c.prePullsRunning).toBe(4);
    await handle.cancel();
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  // The cleanup ran once, after every pre-pull had stopped (none could recreate a pod under it).
  expect(c.runningAtCleanup).toEqual([0]);
  expect(c.prePullsStarted).toBe(4);
  expect(mutating(c.calls).filter((x) => x.startsWith('setWorkloadImages'))).toEqual([]);
});

test('the API server dead for good: no start after the budget, the report survives the failed cleanup, leftovers named', async () => {
  const c = fakeCluster(5);
  let dead = false;
  c.apiDown = (activity) => {
    if (activity === 'prePullImagesOnNodes') dead = true;
    return dead;
  };
  const failure = await runExpectingFailure(c, { maxParallel: 2, maxFailures: 3 });
  expect(failure.type).toBe('RemediationFailed');
  const report = failure.details?.[0] as CalicoImageRepairResult;
  // Batches of 4 pairs, 2 in flight (maxParallel 2): the first fails the 2 it started (budget 3 not
  // spent; the 2 it never started are not-started), the second 2 more; then no batch starts.
  expect(c.prePullsStarted).toBe(4);
  expect(report.prePullCounts).toEqual({ failed: 4, 'not-started': 16 });
  const cleanup = report.prePullCleanup!;
  expect(cleanup.error).toMatch(/unreachable/i);
  // Each batch of 4 had started its first 2 (its share of maxParallel) when the API failed it.
  const started = c.inputs
    .filter((i) => i.activity === 'prePullImagesOnNodes')
    .flatMap((i) => (i.pairs as { node: string; image: string }[]).slice(0, i.maxInFlight as number));
  expect(started).toHaveLength(4);
  expect(cleanup.leftovers).toEqual(
    started.map((p) => prePullPodNameFor(cleanup.runLabel, p.node, p.image)).sort(),
  );
  expect(failure.message).toContain('pre-pull pods possibly left');
  expect(report.workloads.every((w) => w.outcome === 'not-attempted')).toBe(true);
});

test('a batch that fails before its first pull (the API server already gone) spends the failure budget like a failed pull', async () => {
  const c = fakeCluster(5);
  c.downBeforeFirstPull = true;
  c.apiDown = (activity) => activity === 'prePullImagesOnNodes' || activity === 'deletePrePullPods';
  const failure = await runExpectingFailure(c, { maxParallel: 2, maxFailures: 2 });
  const report = failure.details?.[0] as CalicoImageRepairResult;
  // Batches of 4 (maxParallel 2): each one the outage fails counts as a failure, so the second
  // spends the budget and the other three never start; without that, every batch would wait out
  // its own schedule-to-close.
  const batches = c.inputs.filter((i) => i.activity === 'prePullImagesOnNodes');
  expect(batches).toHaveLength(2);
  expect(c.prePullsStarted).toBe(0);
  expect(report.prePullCounts).toEqual({ failed: 2, 'not-started': 18 });
  const failed = report.prePulls!.filter((p) => p.outcome === 'failed');
  expect(failed.map((p) => p.reason)).toEqual([
    expect.stringMatching(/batch failed before this pull started.*KubeApiUnreachable/),
    expect.stringMatching(/batch failed before this pull started.*KubeApiUnreachable/),
  ]);
  expect(failed.every((p) => p.podName === undefined)).toBe(true);
});

test('without maxParallel, the first wave of pre-pulls follows the node count (4 per node, 10 to 100); a given maxParallel wins', async () => {
  // How many pods the batches scheduled before any had completed may have in flight: the bound.
  const firstWave = async (nodes: number, input: Record<string, unknown>) => {
    const c = fakeCluster(nodes);
    const history = await ts.withWorker(fakeActivities(c), async (taskQueue) => {
      const handle = await ts.env.client.workflow.start('calicoImageRepair', {
        taskQueue,
        workflowId: `nks/sim/calicoImageRepair/wave-${randomUUID()}`,
        args: [{ cluster: 'sim', prePullBatchSize: 1000, ...input }],
      });
      expect(((await handle.result()) as CalicoImageRepairResult).outcome).toBe('repaired');
      return handle.fetchHistory();
    });
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    let wave = 0;
    for (const e of events) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
      if (s?.activityType?.name === 'prePullImagesOnNodes') {
        const batch = JSON.parse(Buffer.from(s.input!.payloads![0]!.data!).toString()) as {
          pairs: unknown[];
          maxInFlight: number;
        };
        wave += Math.min(batch.pairs.length, batch.maxInFlight);
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done && scheduled.get(String(done.scheduledEventId)) === 'prePullImagesOnNodes') break;
    }
    return wave;
  };
  expect(await firstWave(5, {})).toBe(20);
  expect(await firstWave(30, {})).toBe(100);
  expect(await firstWave(30, { maxParallel: 7 })).toBe(7);
});

test("with the worker's Docker Hub credential: the run's pull secret made before the first pre-pull, on every batch, deleted after the last", async () => {
  const c = fakeCluster(5);
  c.hubCredential = true;
  const r = await run(c, { maxParallel: 4, prePullBatchSize: 6 });
  expect(r.outcome).toBe('repaired');
  expect(r.plan.dockerHubPulls).toEqual({ mode: 'pull-secret' });
  const firstPull = c.calls.findIndex((x) => x.startsWith('prePullImagesOnNodes'));
  const lastPull = c.calls.map((x) => x.startsWith('prePullImagesOnNodes')).lastIndexOf(true);
  expect(c.calls.indexOf('deleteStalePrePullSecrets')).toBeLessThan(c.calls.indexOf('ensurePrePullSecret'));
  expect(c.calls.indexOf('ensurePrePullSecret')).toBeLessThan(firstPull);
  expect(c.calls.indexOf('deletePrePullSecret')).toBeGreaterThan(lastPull);
  expect(c.calls.indexOf('setWorkloadImages calico-node')).toBeGreaterThan(
    c.calls.indexOf('deletePrePullSecret'),
  );
  const secret = prePullSecretNameFor(r.prePullCleanup!.runLabel);
  const batches = c.inputs.filter((i) => i.activity === 'prePullImagesOnNodes');
  expect(batches.length).toBeGreaterThan(1);
  expect(batches.map((b) => b.pullSecret)).toEqual(batches.map(() => secret));
  expect(r.prePullCleanup?.pullSecret).toEqual({ name: secret, deleted: true });
  expect(c.pullSecretExists).toBe(false);
  expect(r.summary).toContain(
    `docker.io pulls with the worker's Docker Hub credential (pull secret kube-system/${secret}, deleted after the pre-pulls)`,
  );
});

test('without a credential the pulls are anonymous and the report says so; no pull secret made', async () => {
  const c = fakeCluster(2);
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  expect(r.summary).toContain('docker.io pulls anonymous (no dockerHub.credentialsFile for cluster "sim")');
  expect(c.calls).not.toContain('ensurePrePullSecret');
  expect(c.calls).not.toContain('deletePrePullSecret');
  expect(
    c.inputs.filter((i) => i.activity === 'prePullImagesOnNodes').every((b) => !('pullSecret' in b)),
  ).toBe(true);
  // The sweep runs all the same: a secret a crashed run left is removed whatever this run's credential.
  expect(c.calls).toContain('deleteStalePrePullSecrets');
});

test('a failed pre-pull or a cancel with the pull secret made: it is deleted all the same', async () => {
  const failing = fakeCluster(3);
  failing.hubCredential = true;
  failing.failPull = (node) => node === 'nks-default-w-2';
  const failure = await runExpectingFailure(failing, { maxParallel: 2 });
  expect(failure.message).toContain('nothing rolled');
  expect(failing.calls).toContain('deletePrePullSecret');
  expect(failing.pullSecretExists).toBe(false);

  const cancelled = fakeCluster(3);
  cancelled.hubCredential = true;
  cancelled.blockPulls = true;
  const err = await run(cancelled, { maxParallel: 4 }, async (handle) => {
    for (let i = 0; i < 200 && cancelled.prePullsRunning < 4; i++)
      await new Promise((res) => setTimeout(res, 50));
    await handle.cancel();
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect(cancelled.calls.indexOf('deletePrePullSecret')).toBeGreaterThan(
    cancelled.calls.indexOf('deletePrePullPods'),
  );
  expect(cancelled.pullSecretExists).toBe(false);
});

test('a pull secret that cannot be deleted is named in the report, the run keeps its own outcome', async () => {
  const c = fakeCluster(2);
  c.hubCredential = true;
  c.apiDown = (activity) => activity === 'deletePrePullSecret';
  const r = await run(c, {});
  expect(r.outcome).toBe('repaired');
  const secret = prePullSecretNameFor(r.prePullCleanup!.runLabel);
  expect(r.prePullCleanup?.pullSecret).toMatchObject({ name: secret, deleted: false });
  expect(r.summary).toContain(`pull secret ${secret} possibly left`);
});
