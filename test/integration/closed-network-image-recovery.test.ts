/**
 * closedNetworkImageRecovery on the real stack: its own 6-SSH-node simulator (the shared one is all
 * containerd): node 1 runs docker, the others containerd; nodes 1 and 2 lack k8s.gcr.io/pause:3.2, the
 * sandbox image their runtime config names, and nothing can be pulled from k8s.gcr.io (a closed
 * network), so no pod starts there. Checked from the simulator's disk: each node's image store
 * (docker's, or containerd's namespace k8s.io, the one kubelet sees) and the stand-ins' calls.log;
 * and from the Kubernetes API: pods stuck in ContainerCreating with FailedCreatePodSandBox events.
 *
 * Runs its own simulator at the run's `closed-network` place (sim/testing.ts testSimPlace).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { ClusterDiagnosisResult } from '../../src/common/procedures/cluster-diagnosis';
import {
  type ClosedNetworkImageRecoveryResult,
  GUIDE_DEFAULT_IMAGES,
  recoveryBatchPlan,
} from '../../src/common/procedures/closed-network-image-recovery';
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
/** What Temporal warns at, and refuses a payload over. */
const HISTORY_EVENT_WARNING = 10_240;
const PAYLOAD_LIMIT = 64 * 1024;

/** Each event's payloads (a `payloads` list is one blob on the wire), in bytes, by what carries them. */
function payloadSizes(history: temporal.api.history.v1.IHistory): { what: string; bytes: number }[] {
  const activityOf = new Map<string, string>();
  const out: { what: string; bytes: number }[] = [];
  const walk = (v: unknown, what: string): void => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    const payloads = (v as { payloads?: unknown }).payloads;
    if (Array.isArray(payloads)) {
      let bytes = 0;
      for (const p of payloads as temporal.api.common.v1.IPayload[]) {
        bytes += p.data?.length ?? 0;
        for (const [k, m] of Object.entries(p.metadata ?? {})) bytes += k.length + (m?.length ?? 0);
      }
      out.push({ what, bytes });
      return;
    }
    for (const x of Object.values(v)) walk(x, what);
  };
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) activityOf.set(String(e.eventId), scheduled.activityType?.name ?? '?');
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    const name = scheduled
      ? `${scheduled.activityType?.name} input`
      : done
        ? `${activityOf.get(String(done.scheduledEventId)) ?? '?'} result`
        : e.workflowExecutionCompletedEventAttributes
          ? 'workflow result'
          : e.workflowExecutionStartedEventAttributes
            ? 'workflow input'
            : 'other';
    walk(e, name);
  }
  return out;
}

const largest = (sizes: { what: string; bytes: number }[], what: string) =>
  Math.max(0, ...sizes.filter((s) => s.what === what).map((s) => s.bytes));

maybe('closedNetworkImageRecovery on a docker node and a containerd node', () => {
  let sim: SimHandle;
  let worker: RunningWorker;
  /** The simulator's clusters.yaml as it is: the default policy. */
  let defaultPolicyWorker: RunningWorker;
  let connection: Connection;
  let client: Client;
  let dockerNode: string;
  let containerdNode: string;
  let allNodes: string[];
  let core: CoreV1Api;

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

  /** kubelet's image GC removed `ref` from the store kubelet sees on `node`. */
  const dropFromStore = (node: string, ref: string) => {
    const file = store(node);
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${ref} `))
        .join('\n'),
    );
  };
  const containerdConfig = (node: string) => `${nodePaths(DIR, node).etcContainerd}/config.toml`;
  const createPod = async (node: string, image: string, prefix: string) => {
    const name = `${prefix}-${randomUUID().slice(0, 6)}`;
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name },
        spec: { nodeName: node, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'app', image }] },
      },
    });
    return name;
  };
  const waitPod = async (name: string, what: string, ok: (p: V1Pod) => boolean, ms = 60_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const pod = await core.readNamespacedPod({ name, namespace: 'default' });
      if (ok(pod)) return pod;
      if (Date.now() > deadline)
        throw new Error(`pod ${name} never ${what}: ${JSON.stringify(pod.status?.containerStatuses)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const waiting = (p: V1Pod) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
  const sandboxEvents = async (pod: V1Pod) =>
    (
      await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.uid=${pod.metadata!.uid},reason=FailedCreatePodSandBox`,
      })
    ).items;
  const deletePods = (names: string[]) =>
    Promise.all(
      names.map((name) =>
        core
          .deleteNamespacedPod({ name, namespace: 'default', gracePeriodSeconds: 0 })
          .catch(() => undefined),
      ),
    );

  beforeAll(async () => {
    const t0 = Date.now();
    await simDown({ dir: DIR });
    sim = await simUp({
      dir: DIR,
      nodes: 6,
      ipPrefix: IP_PREFIX,
      nodeRuntimes: { 0: 'docker', 1: 'containerd' },
      drift: {
        missingImages: ['1=' + PAUSE, '2=' + PAUSE],
        unpullableImages: ['k8s.gcr.io/*'],
      },
    });
    console.log(`[image-recovery] 6-node simulator up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    allNodes = sim.nodes.map((n) => n.name);
    [dockerNode, containerdNode] = allNodes as [string, string];
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
    const kc = new KubeConfig();
    kc.loadFromFile(sim.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
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

  it('the simulator shows the symptom: on a node without its pause image a pod stays ContainerCreating with a FailedCreatePodSandBox event naming it', async () => {
    expect(readFileSync(containerdConfig(containerdNode), 'utf8')).toMatch(
      /\[plugins\."io\.containerd\.grpc\.v1\.cri"\]\n\s+sandbox_image = "k8s\.gcr\.io\/pause:3\.2"/,
    );
    expect(readFileSync(`${nodePaths(DIR, dockerNode).etcSysconfig}/kubelet`, 'utf8')).toMatch(
      /--pod-infra-container-image=k8s\.gcr\.io\/pause:3\.2/,
    );
    const healthyNode = allNodes[2]!;
    const stuck = await createPod(containerdNode, 'docker.io/library/busybox:1.36', 'no-sandbox');
    const runs = await createPod(healthyNode, 'docker.io/library/busybox:1.36', 'has-sandbox');
    try {
      await waitPod(runs, 'ran', (p) => p.status?.phase === 'Running');
      const pod = await waitPod(
        stuck,
        'waited in ContainerCreating',
        (p) => waiting(p) === 'ContainerCreating',
      );
      expect(pod.status?.phase).toBe('Pending');
      const events = await sandboxEvents(pod);
      expect(events.map((e) => [e.type, e.reason, e.source?.component ?? e.reportingComponent])).toEqual([
        ['Warning', 'FailedCreatePodSandBox', expect.any(String)],
      ]);
      expect(events[0]!.message).toMatch(
        /^Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image "k8s\.gcr\.io\/pause:3\.2": failed to pull image "k8s\.gcr\.io\/pause:3\.2"/,
      );
    } finally {
      await deletePods([stuck, runs]);
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
      ]);
      expect(n.imageCounts).toEqual({ 'would-restore': 1, present: 1 });
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
      expect(n.images.map((i) => [i.image, i.outcome])).toEqual([[PAUSE, 'restored']]);
      expect(n.imageCounts).toEqual({ restored: 1, present: 1 });
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

  it("the default image list: pause comes back with the tag the node's runtime config names (containerd's sandbox_image, kubelet's --pod-infra-container-image on docker), never :latest", async () => {
    // kubelet's image GC removed pause again; the containerd node's config names registry.k8s.io's.
    const WANTED_ON_CONTAINERD = 'registry.k8s.io/pause:3.6';
    writeFileSync(
      containerdConfig(containerdNode),
      readFileSync(containerdConfig(containerdNode), 'utf8').replace(PAUSE, WANTED_ON_CONTAINERD),
    );
    for (const node of [dockerNode, containerdNode]) dropFromStore(node, PAUSE);
    const before = [writes(dockerNode).length, writes(containerdNode).length];
    const { result } = await run({ nodes: [dockerNode, containerdNode] });
    expect(result.outcome).toBe('complete');
    const [d, c] = [dockerNode, containerdNode].map((n, i) =>
      writes(n)
        .slice(before[i])
        .map((l) => l.replace(/^\S+ uid=\d+ /, '')),
    );
    expect(d).toEqual([
      `docker pull ${REGISTRY}/pause:3.2`,
      `docker tag ${REGISTRY}/pause:3.2 ${PAUSE}`,
      `docker rmi ${REGISTRY}/pause:3.2`,
    ]);
    expect(c).toEqual([
      `nerdctl --namespace k8s.io pull ${REGISTRY}/pause:3.6`,
      `nerdctl --namespace k8s.io tag ${REGISTRY}/pause:3.6 ${WANTED_ON_CONTAINERD}`,
      `nerdctl --namespace k8s.io rmi ${REGISTRY}/pause:3.6`,
    ]);
    expect(refs(store(dockerNode))).toContain(PAUSE);
    expect(refs(store(containerdNode))).toContain(WANTED_ON_CONTAINERD);
    expect(refs(store(containerdNode)).filter((r) => r.endsWith(':latest'))).toEqual([]);
    for (const n of result.nodes) {
      expect(n.outcome).toBe('restored');
      expect(n.images.filter((i) => i.outcome === 'restored').map((i) => i.image)).toEqual([
        n.node === dockerNode ? PAUSE : WANTED_ON_CONTAINERD,
      ]);
      // Default images the node never had and whose tag nothing names: reported, not pulled as :latest.
      expect(n.imageCounts['tag-unknown']).toBeGreaterThan(0);
      expect(n.imageCounts.restored).toBe(1);
    }
    expect(result.summary).toMatch(/no tag known/);
  });

  it('fromEvents: a pod stuck in ContainerCreating on a node without its pause image (FailedCreatePodSandBox) is found by the diagnosis and the run; pause comes back with the event’s tag and the pod starts', async () => {
    const WANTED = 'registry.k8s.io/pause:3.6';
    expect(readFileSync(containerdConfig(containerdNode), 'utf8')).toContain(WANTED);
    dropFromStore(containerdNode, WANTED);
    // The node supervisor notices the store change within a second or two; give it time.
    await new Promise((r) => setTimeout(r, 3000));
    const name = await createPod(containerdNode, 'docker.io/library/busybox:1.36', 'sandbox-user');
    try {
      const pod = await waitPod(
        name,
        'waited in ContainerCreating',
        (p) => waiting(p) === 'ContainerCreating',
      );
      expect(await sandboxEvents(pod)).toHaveLength(1);

      const diagnosis = (await client.workflow.execute('clusterDiagnosis', {
        taskQueue: worker.taskQueue,
        workflowId: `nks/sim/clusterDiagnosis/${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim' }],
      })) as ClusterDiagnosisResult;
      const closed = diagnosis.findings.filter((f) => f.detector === 'closedNetwork');
      expect(closed.map((f) => f.fix)).toEqual([
        { procedure: 'closedNetworkImageRecovery', input: { nodes: [containerdNode], images: [WANTED] } },
      ]);
      expect(closed[0]!.evidence.find((e) => e.object === `pod default/${name}`)).toMatchObject({
        reason: 'FailedCreatePodSandBox',
        image: WANTED,
        message: expect.stringMatching(/failed to get sandbox image "registry\.k8s\.io\/pause:3\.6"/),
      });

      const dockerWrites = writes(dockerNode).length;
      const { result } = await run({ fromEvents: true });
      expect(result.pods.map((p) => [p.name, p.node, p.image, p.reason])).toEqual([
        [name, containerdNode, WANTED, 'FailedCreatePodSandBox'],
      ]);
      expect(result.nodes.map((n) => [n.node, n.outcome, n.images.map((i) => i.outcome)])).toEqual([
        [containerdNode, 'restored', ['restored']],
      ]);
      expect(refs(store(containerdNode))).toContain(WANTED);
      expect(writes(dockerNode).length).toBe(dockerWrites);
      // kubelet's next sandbox attempt finds the image: the pod starts.
      await waitPod(name, 'ran', (p) => p.status?.phase === 'Running');
    } finally {
      await deletePods([name]);
    }
  });

  it('fromEvents: a pod failing to pull kube-proxy (ErrImagePull) on a node that has its pause image gets it back there only', async () => {
    const node = allNodes[2]!;
    dropFromStore(node, KUBE_PROXY);
    await sim.failImage({
      pattern: 'k8s\\.gcr\\.io/kube-proxy',
      node,
      message: 'failed to pull and unpack image "{image}": dial tcp: lookup k8s.gcr.io: no such host',
    });
    const name = await createPod(node, KUBE_PROXY, 'proxy-user');
    try {
      await waitPod(name, 'failed to pull', (p) =>
        ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(p) ?? ''),
      );
      const others = allNodes.filter((n) => n !== node).map((n) => writes(n).length);
      const { result } = await run({ fromEvents: true });
      expect(result.pods.map((p) => [p.name, p.node, p.image])).toEqual([[name, node, KUBE_PROXY]]);
      expect(result.nodes.map((n) => [n.node, n.outcome, n.images.map((i) => i.outcome)])).toEqual([
        [node, 'restored', ['restored']],
      ]);
      expect(refs(store(node))).toContain(KUBE_PROXY);
      expect(allNodes.filter((n) => n !== node).map((n) => writes(n).length)).toEqual(others);
    } finally {
      await sim.clearImageFaults();
      await deletePods([name]);
    }
  });

  it("history stays bounded: events per batch of nodes and the largest payloads, measured on the simulator, keep a 5,000-node run under Temporal's limits", async () => {
    // Dry runs over every node with the default image list, one node at a time, so every batch costs
    // its own workflow tasks (the most events a batch can take).
    const measure = async (nodes: string[], batchSize: number) => {
      const { workflowId, result } = await run({ nodes, dryRun: true, batchSize, maxParallel: 1 });
      expect(result.nodes).toHaveLength(nodes.length);
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      return { events: history.events!.length, sizes: payloadSizes(history) };
    };
    const small = await measure(allNodes.slice(0, 2), 2);
    const big = await measure(allNodes, 2);
    const wide = await measure(allNodes, 6);
    // Every node past the first batch adds events only through its batch.
    const perBatch = (big.events - small.events) / 2;
    const fixed = small.events - perBatch;
    const atScale = recoveryBatchPlan({
      nodes: 5000,
      images: [...GUIDE_DEFAULT_IMAGES],
      registry: REGISTRY,
      maxParallel: 5,
    });
    // Preflight lists nodes 200 to a page: one activity each, as a batch is.
    const pages = Math.ceil(5000 / 200);
    const events5000 = fixed + (atScale.batches + pages - 1) * perBatch;
    console.log(
      `[image-recovery] ${small.events} events for 2 nodes, ${big.events} for 6 (batches of 2): ${perBatch} per batch; ` +
        `5,000 nodes in ${atScale.batches} batches of ${atScale.size}: about ${Math.round(events5000)} events`,
    );
    expect(perBatch).toBeGreaterThan(0);
    expect(events5000).toBeLessThan(HISTORY_EVENT_WARNING);

    // A batch's input and result grow with its nodes; at the planned size they stay under the limit.
    const batchBytes = (m: typeof big) =>
      Math.max(largest(m.sizes, 'recoverNodeImages input'), largest(m.sizes, 'recoverNodeImages result'));
    const perBatchNode = (batchBytes(wide) - batchBytes(big)) / 4;
    expect(perBatchNode).toBeGreaterThan(0);
    const batch5000 = batchBytes(big) + (atScale.size - 2) * perBatchNode;
    // The result lists failures in full and at most 50 other nodes; the rest are counted.
    const perResultNode =
      (largest(big.sizes, 'workflow result') - largest(small.sizes, 'workflow result')) / 4;
    const result5000 = largest(small.sizes, 'workflow result') + 48 * perResultNode;
    // A preflight page: 200 nodes.
    const page5000 = (largest(big.sizes, 'listClusterNodesPage result') / 6) * 200;
    console.log(
      `[image-recovery] at 5,000 nodes: batch payload about ${Math.round(batch5000)} B, result ${Math.round(result5000)} B, node page ${Math.round(page5000)} B; ` +
        `largest now: ${JSON.stringify(wide.sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a)))}`,
    );
    for (const bytes of [batch5000, result5000, page5000]) expect(bytes).toBeLessThan(PAYLOAD_LIMIT);
  });
});
