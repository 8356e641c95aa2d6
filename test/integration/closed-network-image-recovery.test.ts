/**
 * closedNetworkImageRecovery on the real stack: its own 2-SSH-node simulator (the shared one is all
 * containerd): node 1 runs docker, node 2 containerd; both lack k8s.gcr.io/pause:3.2 and nothing can
 * be pulled from k8s.gcr.io (a closed network). Checked from the simulator's disk: each node's image
 * store (docker's, or containerd's namespace k8s.io, the one kubelet sees) and the stand-ins' calls.log.
 *
 * Runs its own simulator at the run's `closed-network` place (sim/testing.ts testSimPlace).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import type { ClosedNetworkImageRecoveryResult } from '../../src/common/procedures/closed-network-image-recovery';
import type { Progress } from '../../src/common/types';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import { approverKeyPath, type SimHandle, simDown, simUp } from '../../sim';
import { nodePaths } from '../../sim/nodes';
import { teardownTestSim, testSimPlace } from '../../sim/testing';
import {
  approveRun,
  connectTemporal,
  recordHistory,
  type RunningWorker,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

const { dir: DIR, ipPrefix: IP_PREFIX } = testSimPlace('closed-network');
const PAUSE = 'k8s.gcr.io/pause:3.2';
const KUBE_PROXY = 'k8s.gcr.io/kube-proxy:v1.24.3';
const REGISTRY = 'harbor-kr1.cloud.toastoven.net/container_service';

maybe('closedNetworkImageRecovery on a docker node and a containerd node', () => {
  let sim: SimHandle;
  let worker: RunningWorker;
  /** The simulator's clusters.yaml as it is: the default policy. */
  let defaultPolicyWorker: RunningWorker;
  let connection: Connection;
  let client: Client;
  let dockerNode: string;
  let containerdNode: string;

  const store = (node: string) =>
    node === dockerNode ? nodePaths(DIR, node).dockerImages : nodePaths(DIR, node).containerdImages('k8s.io');
  const refs = (file: string) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ')[0]!)
      : [];
  /** Image commands that change something (pull/tag/rmi), from the stand-ins' log. */
  const writes = (node: string) => {
    const log = nodePaths(DIR, node).callsLog;
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => / (docker|nerdctl) .*\b(pull|tag|rmi)\b/.test(l))
      : [];
  };
  const imageCalls = (node: string) => {
    const log = nodePaths(DIR, node).callsLog;
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => / (docker|nerdctl) /.test(l)).length
      : 0;
  };
  const run = async (input: Record<string, unknown>, id = randomUUID().slice(0, 8)) => {
    const workflowId = `nks/sim/closedNetworkImageRecovery/${id}`;
    const result = (await client.workflow.execute('closedNetworkImageRecovery', {
      taskQueue: worker.taskQueue,
      workflowId,
      args: [{ cluster: 'sim', ...input }],
    })) as ClosedNetworkImageRecoveryResult;
    return { workflowId, result };
  };

  beforeAll(async () => {
    const t0 = Date.now();
    await simDown({ dir: DIR });
    sim = await simUp({
      dir: DIR,
      nodes: 2,
      ipPrefix: IP_PREFIX,
      nodeRuntimes: { 0: 'docker', 1: 'containerd' },
      drift: {
        missingImages: ['1=' + PAUSE, '2=' + PAUSE],
        unpullableImages: ['k8s.gcr.io/*'],
      },
    });
    console.log(`[image-recovery] 2-node simulator up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    [dockerNode, containerdNode] = sim.nodes.map((n) => n.name) as [string, string];
    // These tests are about the restores: the worker lets runs go on without an approval; the
    // default policy's gate has a test of its own, on a worker of its own.
    const entry = loadClusterRegistry(sim.clustersPath).get('sim');
    worker = await startWorker({
      registry: registryFromEntries({
        sim: { ...entry, policy: { approvals: { closedNetworkImageRecovery: 'on-request' } } },
      }),
    });
    defaultPolicyWorker = await startWorker({ registry: loadClusterRegistry(sim.clustersPath) });
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    await worker?.stop();
    await defaultPolicyWorker?.stop();
    await connection?.close();
    await teardownTestSim({ dir: DIR });
  });

  it('the simulator shows the failure: pause missing from the store kubelet sees, k8s.gcr.io unpullable', () => {
    expect(readFileSync(nodePaths(DIR, dockerNode).runtime, 'utf8').trim()).toBe('docker');
    expect(readFileSync(nodePaths(DIR, containerdNode).runtime, 'utf8').trim()).toBe('containerd');
    for (const node of [dockerNode, containerdNode]) {
      expect(refs(store(node))).not.toContain(PAUSE);
      expect(refs(store(node))).toContain(KUBE_PROXY);
    }
  });

  it('bad images, registries and node names are refused before any SSH command', async () => {
    const before = [imageCalls(dockerNode), imageCalls(containerdNode)];
    for (const [input, message] of [
      [{ nodes: [dockerNode], images: ['k8s.gcr.io/pause:3.2;reboot'] }, /images\.0/],
      [{ nodes: [dockerNode], images: ['$(reboot)'] }, /images\.0/],
      [{ nodes: [dockerNode], images: ['--help'] }, /images\.0/],
      [{ nodes: [dockerNode], images: ['../../etc/passwd'] }, /images\.0/],
      [{ nodes: [dockerNode], images: [PAUSE], registry: 'evil.io/x y' }, /registry/],
      [{ nodes: [dockerNode], images: [PAUSE], registry: '--insecure-registry' }, /registry/],
      [{ nodes: [dockerNode], images: [PAUSE], registry: 'harbor.io/../x' }, /registry/],
      [{ nodes: [dockerNode], images: [PAUSE], registry: 'h.io/a`id`' }, /registry/],
      [{ nodes: ['w-1; reboot'], images: [PAUSE] }, /nodes\.0: must be a Kubernetes node name/],
      [{ nodes: ['--now'], images: [PAUSE] }, /nodes\.0: must be a Kubernetes node name/],
      [{ nodes: ['../x'], images: [PAUSE] }, /nodes\.0: must be a Kubernetes node name/],
      [{ images: [PAUSE] }, /give either nodes or fromEvents: true/],
    ] as const) {
      const err = await run(input).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as { type?: string; message: string };
      expect(cause.type).toBe('InvalidInput');
      expect(cause.message).toMatch(message);
    }
    expect([imageCalls(dockerNode), imageCalls(containerdNode)]).toEqual(before);
  });

  it('dry run: the plan (pause would be restored, kube-proxy present) and nothing changed', async () => {
    const stores = [dockerNode, containerdNode].map((n) => readFileSync(store(n), 'utf8'));
    const { result } = await run({
      nodes: [dockerNode, containerdNode],
      images: [PAUSE, KUBE_PROXY],
      dryRun: true,
    });
    expect(result.dryRun).toBe(true);
    expect(result.nodes.map((n) => [n.node, n.runtime, n.outcome])).toEqual([
      [dockerNode, 'docker', 'would-restore'],
      [containerdNode, 'containerd', 'would-restore'],
    ]);
    for (const n of result.nodes) {
      expect(n.images).toEqual([
        { image: PAUSE, outcome: 'would-restore', pulledFrom: `${REGISTRY}/pause:3.2` },
        { image: KUBE_PROXY, outcome: 'present', found: KUBE_PROXY },
      ]);
      expect(n.disk?.usePercent).toEqual(expect.any(Number));
      expect(n.cause).toMatch(/image filesystem \d+%/);
    }
    expect([dockerNode, containerdNode].map((n) => readFileSync(store(n), 'utf8'))).toEqual(stores);
    expect([...writes(dockerNode), ...writes(containerdNode)]).toEqual([]);
  });

  it("the worker's default policy: a restore waits for approval before any image is listed or pulled; rejected, nothing changed", async () => {
    const before = [imageCalls(dockerNode), imageCalls(containerdNode)];
    const h = await client.workflow.start('closedNetworkImageRecovery', {
      taskQueue: defaultPolicyWorker.taskQueue,
      workflowId: `nks/sim/closedNetworkImageRecovery/${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim', nodes: [dockerNode], images: [PAUSE], requireApproval: false }],
    });
    const deadline = Date.now() + 60_000;
    let progress = await h.query<Progress>('progress');
    while (!progress.awaitingApproval) {
      if (Date.now() > deadline) throw new Error('the run never reached the approval gate');
      await new Promise((r) => setTimeout(r, 250));
      progress = await h.query<Progress>('progress');
    }
    expect(progress.events.join('\n')).toMatch(
      /the worker's policy requires approval for closedNetworkImageRecovery: pull 1 image\(s\) from harbor-kr1/,
    );
    expect([imageCalls(dockerNode), imageCalls(containerdNode)]).toEqual(before);
    await approveRun(h, { reject: true, keyFile: approverKeyPath(DIR) });
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'ApprovalRejected' });
    expect([imageCalls(dockerNode), imageCalls(containerdNode)]).toEqual(before);
    expect(refs(store(dockerNode))).not.toContain(PAUSE);
  });

  it('restores pause with docker on the docker node and nerdctl -n k8s.io on the containerd node; kube-proxy left alone', async () => {
    const { workflowId, result } = await run({
      nodes: [dockerNode, containerdNode],
      images: [PAUSE, KUBE_PROXY],
    });
    expect(result.outcome).toBe('complete');
    expect(result.nodes.map((n) => [n.node, n.runtime, n.outcome])).toEqual([
      [dockerNode, 'docker', 'restored'],
      [containerdNode, 'containerd', 'restored'],
    ]);
    for (const n of result.nodes) {
      expect(n.images.map((i) => [i.image, i.outcome])).toEqual([
        [PAUSE, 'restored'],
        [KUBE_PROXY, 'present'],
      ]);
    }
    // The store kubelet sees has the original name and not the internal one.
    for (const node of [dockerNode, containerdNode]) {
      expect(refs(store(node))).toContain(PAUSE);
      expect(refs(store(node)).filter((r) => r.startsWith('harbor-kr1'))).toEqual([]);
    }
    // containerd: nothing landed in nerdctl's default namespace.
    expect(refs(nodePaths(DIR, containerdNode).containerdImages('default'))).toEqual([]);
    // The commands, from the stand-ins' logs: docker on one, nerdctl --namespace k8s.io on the other;
    // no pull of the present image.
    const d = writes(dockerNode);
    const c = writes(containerdNode);
    expect(d.map((l) => l.replace(/^\S+ uid=\d+ /, ''))).toEqual([
      `docker pull ${REGISTRY}/pause:3.2`,
      `docker tag ${REGISTRY}/pause:3.2 ${PAUSE}`,
      `docker rmi ${REGISTRY}/pause:3.2`,
    ]);
    expect(c.map((l) => l.replace(/^\S+ uid=\d+ /, ''))).toEqual([
      `nerdctl --namespace k8s.io pull ${REGISTRY}/pause:3.2`,
      `nerdctl --namespace k8s.io tag ${REGISTRY}/pause:3.2 ${PAUSE}`,
      `nerdctl --namespace k8s.io rmi ${REGISTRY}/pause:3.2`,
    ]);
    expect([...d, ...c].filter((l) => l.includes('kube-proxy'))).toEqual([]);
    await recordHistory(client, workflowId, 'closedNetworkImageRecovery-sim-restored');
  });

  it('a rerun finds both images present and changes nothing', async () => {
    const before = [writes(dockerNode).length, writes(containerdNode).length];
    const { result } = await run({ nodes: [dockerNode, containerdNode], images: [PAUSE, KUBE_PROXY] });
    expect(result.nodes.map((n) => n.outcome)).toEqual(['all-present', 'all-present']);
    expect([writes(dockerNode).length, writes(containerdNode).length]).toEqual(before);
  });

  it('a retry does only what is missing: no second pull after a pull, only the rmi after a tag', async () => {
    const file = store(dockerNode);
    const internal = `${REGISTRY}/pause:3.2`;
    const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const id = lines()
      .find((l) => l.startsWith(`${PAUSE} `))!
      .split(' ')[1]!;
    const since = (n: number) =>
      writes(dockerNode)
        .slice(n)
        .map((l) => l.replace(/^\S+ uid=\d+ /, ''));

    // Interrupted after the pull: the internal reference is there, the original is not.
    writeFileSync(
      file,
      [...lines().filter((l) => !l.startsWith(`${PAUSE} `)), `${internal} ${id}`, ''].join('\n'),
    );
    let n = writes(dockerNode).length;
    let { result } = await run({ nodes: [dockerNode], images: [PAUSE] });
    expect(result.nodes[0]!.outcome).toBe('restored');
    expect(since(n)).toEqual([`docker tag ${internal} ${PAUSE}`, `docker rmi ${internal}`]);

    // Interrupted after the tag: both there; only the internal tag is removed.
    writeFileSync(file, [...lines(), `${internal} ${id}`, ''].join('\n'));
    n = writes(dockerNode).length;
    ({ result } = await run({ nodes: [dockerNode], images: [PAUSE] }));
    expect(result.nodes[0]!.outcome).toBe('all-present');
    expect(since(n)).toEqual([`docker rmi ${internal}`]);
    expect(refs(file)).toContain(PAUSE);
    expect(refs(file)).not.toContain(internal);
  });

  it('fromEvents: the node of a pod failing to pull pause (default image list) gets it back, the other node is not touched', async () => {
    // kubelet's image GC removed pause again on the containerd node; a pod there cannot pull it.
    const file = store(containerdNode);
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${PAUSE} `))
        .join('\n'),
    );
    const kc = new KubeConfig();
    kc.loadFromFile(sim.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await sim.failImage({
      pattern: 'k8s\\.gcr\\.io/pause',
      node: containerdNode,
      message: 'failed to pull and unpack image "{image}": dial tcp: lookup k8s.gcr.io: no such host',
    });
    const name = `pause-user-${randomUUID().slice(0, 6)}`;
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name },
        spec: {
          nodeName: containerdNode,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: PAUSE }],
        },
      },
    });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const pod = await core.readNamespacedPod({ name, namespace: 'default' });
        const reason = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        if (reason === 'ErrImagePull' || reason === 'ImagePullBackOff') break;
        if (Date.now() > deadline) throw new Error(`pod ${name} never failed to pull (${reason})`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const dockerWrites = writes(dockerNode).length;
      const { result } = await run({ fromEvents: true });
      expect(result.pods.map((p) => [p.name, p.node, p.image])).toEqual([[name, containerdNode, PAUSE]]);
      expect(result.nodes.map((n) => [n.node, n.outcome, n.images.map((i) => i.outcome)])).toEqual([
        [containerdNode, 'restored', ['restored']],
      ]);
      expect(refs(store(containerdNode))).toContain(PAUSE);
      expect(writes(dockerNode).length).toBe(dockerWrites);
    } finally {
      await sim.clearImageFaults();
      await core.deleteNamespacedPod({ name, namespace: 'default', gracePeriodSeconds: 0 });
    }
  });
});
