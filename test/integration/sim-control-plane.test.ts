/**
 * The simulator's control plane on the real stack: built binaries, `sim up` through the real CLI,
 * the Kubernetes API through @kubernetes/client-node, kwok playing kubelets, `sim down`.
 * Uses its own instance (not the suite's shared one): it must start from a clean state and stop it.
 * It lives at the run's `sim-control-plane` place (sim/testing.ts testSimPlace).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  type V1Node,
  type V1Pod,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { REPO_ROOT } from '../../sim/config';
import { findStragglers, isRunning } from '../../sim/process';
import { readState } from '../../sim/state';
import { testSimPlace } from '../../sim/testing';
import { useSharedSim } from './helpers';

useSharedSim();

jest.setTimeout(420_000);

const { dir: DIR, ipPrefix: PREFIX } = testSimPlace('sim-control-plane');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const NS = 'default';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

function cli(args: string[], timeoutMs = 170_000): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      TSX,
      [path.join(REPO_ROOT, 'sim', 'cli.ts'), ...args, '--dir', DIR],
      { cwd: REPO_ROOT, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), seconds: (Date.now() - t0) / 1000 });
      },
    );
  });
}

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');
const waitingReasons = (p: V1Pod) =>
  [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
    .map((s) => s.state?.waiting?.reason)
    .filter((r): r is string => r !== undefined);

let core: CoreV1Api;
let apps: AppsV1Api;
const timings: Record<string, number> = {};

beforeAll(async () => {
  if (readState(DIR)) expect((await cli(['down'])).code).toBe(0);
  fs.rmSync(DIR, { recursive: true, force: true });

  const t0 = Date.now();
  const binDir = await new Promise<string>((resolve, reject) =>
    execFile(
      'bash',
      [path.join(REPO_ROOT, 'sim', 'build', 'build-binaries.sh')],
      { timeout: 3_600_000 },
      (err, out) => (err ? reject(err) : resolve(String(out).trim().split('\n').pop() ?? '')),
    ),
  );
  timings.buildWarmSeconds = (Date.now() - t0) / 1000;
  const stamp = path.join(binDir, '..', 'build-seconds');
  if (fs.existsSync(stamp)) timings.buildColdSeconds = Number(fs.readFileSync(stamp, 'utf8'));

  const up = await cli(['up', '--nodes', '5', '--ssh-nodes', '0', '--ip-prefix', PREFIX]);
  if (up.code !== 0) throw new Error(`sim up failed: ${up.stderr}`);
  expect(up.stderr).toMatch(/5 nodes Ready in [\d.]+s/);
  timings.upSeconds = readState(DIR)!.upSeconds!;
  timings.upCliSeconds = up.seconds;

  const kc = new KubeConfig();
  kc.loadFromFile(path.join(DIR, 'kubeconfig'));
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  process.stderr.write(`[sim-control-plane] timings: ${JSON.stringify(timings)}\n`);
  if (readState(DIR)) await cli(['down']);
});

test('up from a clean state: 5 NKS-like worker nodes, Ready, at their loopback addresses', async () => {
  const nodes = (await core.listNode()).items.sort((a, b) =>
    a.metadata!.name!.localeCompare(b.metadata!.name!),
  );
  expect(nodes.map((n) => n.metadata?.name)).toEqual(
    [0, 1, 2, 3, 4].map((i) => `sim-default-worker-node-${i}`),
  );
  nodes.forEach((n, i) => {
    expect(ready(n)?.status).toBe('True');
    expect(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(`${PREFIX}.${i + 1}`);
    expect(n.status?.nodeInfo?.kubeletVersion).toBe('v1.34.4');
    expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
    expect(n.status?.nodeInfo?.bootID).toMatch(/^[0-9a-f-]{36}$/);
  });
  await core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' });

  const clusters = fs.readFileSync(path.join(DIR, 'clusters.yaml'), 'utf8');
  expect(clusters).toContain(`kubeconfig: ${path.join(DIR, 'kubeconfig')}`);
  expect(clusters).toMatch(/^ {2}sim:$/m);
});

test('status says what runs; a second up is a no-op', async () => {
  const st = await cli(['status', '--json']);
  expect(st.code).toBe(0);
  const status = JSON.parse(st.stdout) as {
    state: string;
    nodes: { total: number; ready: number };
    processes: { name: string; alive: boolean }[];
  };
  expect(status.state).toBe('running');
  expect(status.nodes).toMatchObject({ total: 5, ready: 5 });
  expect(status.processes.map((p) => [p.name, p.alive])).toEqual([
    ['etcd', true],
    ['kube-apiserver', true],
    ['kube-controller-manager', true],
    ['kube-scheduler', true],
    ['kwok', true],
  ]);
  const again = await cli(['up', '--nodes', '5', '--ssh-nodes', '0', '--ip-prefix', PREFIX]);
  expect(again.code).toBe(0);
  expect(again.stderr).toContain('already running');
});

test('a new Deployment rolls out: scheduler places, kwok runs, controller-manager counts it available', async () => {
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] },
        },
      },
    },
  });
  const d = await eventually('deployment web available', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    return d.status?.availableReplicas === 3 ? d : undefined;
  });
  expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
  const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' });
  for (const p of pods.items) {
    expect(p.status?.phase).toBe('Running');
    expect(p.status?.podIP).toMatch(/^10\.100\./);
  }
});

test('NKS calico fixtures: typha and kube-controllers cannot pull, calico-node runs 0/1', async () => {
  for (const app of ['calico-typha', 'calico-kube-controllers']) {
    const pod = await eventually(`${app} pod in image pull failure`, async () => {
      const pods = await core.listNamespacedPod({
        namespace: 'kube-system',
        labelSelector: `k8s-app=${app}`,
      });
      const p = pods.items[0];
      return p && waitingReasons(p).some((r) => r === 'ErrImagePull' || r === 'ImagePullBackOff')
        ? p
        : undefined;
    });
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.spec?.containers[0]?.image).toMatch(/^docker\.io\/nhn-broken\/calico\//);
  }
  const nodePods = await eventually('5 calico-node pods running', async () => {
    const pods = await core.listNamespacedPod({
      namespace: 'kube-system',
      labelSelector: 'k8s-app=calico-node',
    });
    return pods.items.length === 5 && pods.items.every((p) => p.status?.phase === 'Running')
      ? pods.items
      : undefined;
  });
  for (const p of nodePods) {
    expect(p.status?.containerStatuses?.map((c) => [c.name, c.ready])).toEqual([['calico-node', false]]);
    expect(p.status?.initContainerStatuses?.map((c) => [c.name, c.state?.terminated?.reason])).toEqual([
      ['install-cni', 'Completed'],
      ['mount-bpffs', 'Completed'],
    ]);
  }
  const secret = await core.readNamespacedSecret({
    name: 'cinder-csi-cloud-config',
    namespace: 'kube-system',
  });
  expect(Buffer.from(secret.data?.['cloud-config'] ?? '', 'base64').toString()).toMatch(/^\[Global\]$/m);
  await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: 'kube-system' });
  await apps.readNamespacedStatefulSet({ name: 'cinder-csi-controllerplugin', namespace: 'kube-system' });
});

test('an image fault: ErrImagePull then ImagePullBackOff, never Running; clearing it lets the pod start', async () => {
  const fault = await cli(['fault', 'image-fail', '--pattern', '^registry\\.example/broken/']);
  expect(fault.code).toBe(0);
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'broken' },
      spec: { containers: [{ name: 'app', image: 'registry.example/broken/app:1' }] },
    },
  });
  const seen = new Set<string>();
  await eventually('ImagePullBackOff', async () => {
    const p = await core.readNamespacedPod({ name: 'broken', namespace: NS });
    seen.add(p.status?.phase ?? '');
    waitingReasons(p).forEach((r) => seen.add(r));
    return waitingReasons(p).includes('ImagePullBackOff') ? p : undefined;
  });
  expect(seen).toContain('ErrImagePull');
  expect(seen).not.toContain('Running');

  expect((await cli(['fault', 'clear-images'])).code).toBe(0);
  await eventually('the pod to start once the image pulls', async () => {
    const p = await core.readNamespacedPod({ name: 'broken', namespace: NS });
    return p.status?.phase === 'Running' ? p : undefined;
  });
});

test('a node-scoped image fault fails only on that node; a debug pod that pulls completes', async () => {
  expect(
    (
      await cli([
        'fault',
        'image-fail',
        '--pattern',
        '^registry\\.example/flaky/',
        '--node',
        'sim-default-worker-node-1',
      ])
    ).code,
  ).toBe(0);
  const pin = (name: string, node: string, extra: Partial<V1Pod['spec']> = {}) =>
    core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.example/flaky/x:1' }], ...extra },
      },
    });
  await pin('flaky-on-1', 'sim-default-worker-node-1');
  await pin('flaky-on-2', 'sim-default-worker-node-2');
  // Like `kubectl debug node/X --image=I -- sleep 1`: restartPolicy Never, host network.
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'debugger' },
      spec: {
        nodeName: 'sim-default-worker-node-3',
        restartPolicy: 'Never',
        hostNetwork: true,
        containers: [{ name: 'debugger', image: 'docker.io/calico/node:v3.24.1', command: ['sleep', '1'] }],
      },
    },
  });
  await eventually('node-scoped fault outcome', async () => {
    const on1 = await core.readNamespacedPod({ name: 'flaky-on-1', namespace: NS });
    const on2 = await core.readNamespacedPod({ name: 'flaky-on-2', namespace: NS });
    return waitingReasons(on1).includes('ImagePullBackOff') && on2.status?.phase === 'Running'
      ? true
      : undefined;
  });
  const dbg = await eventually('debug pod Succeeded', async () => {
    const p = await core.readNamespacedPod({ name: 'debugger', namespace: NS });
    return p.status?.phase === 'Succeeded' ? p : undefined;
  });
  expect(dbg.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
  expect(dbg.status?.podIP).toBe(`${PREFIX}.4`);
  expect((await cli(['fault', 'clear-images'])).code).toBe(0);
});

test('a node made NotReady reads NotReady, then Ready again; its boot ID follows the annotation', async () => {
  const node = 'sim-default-worker-node-2';
  expect((await cli(['fault', 'node-ready', '--node', node, '--ready', 'false'])).code).toBe(0);
  const down = await eventually('NotReady', async () => {
    const n = await core.readNode({ name: node });
    return ready(n)?.status === 'False' ? n : undefined;
  });
  expect(ready(down)?.reason).toBe('KubeletNotReady');

  expect((await cli(['fault', 'node-ready', '--node', node, '--ready', 'true'])).code).toBe(0);
  await eventually('Ready again', async () => {
    const n = await core.readNode({ name: node });
    return ready(n)?.status === 'True' ? n : undefined;
  });

  const bootId = '11111111-2222-3333-4444-555555555555';
  await core.patchNode({
    name: node,
    body: [{ op: 'add', path: '/metadata/annotations/sim.nksr.io~1boot-id', value: bootId }],
  });
  await eventually('boot ID', async () => {
    const n = await core.readNode({ name: node });
    return n.status?.nodeInfo?.bootID === bootId ? n : undefined;
  });
});

const podReady = (p: V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;

test('component restarts: every component comes back, the CLI still finds the instance, pods that existed across the outage are played', async () => {
  const node = 'sim-default-worker-node-0';
  const pin = (name: string) =>
    core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx:1.25' }] },
      },
    });
  const before = readState(DIR)!.processes;
  // kwok down while the pod is created and the API server crashes: nobody plays it until kwok is back.
  expect((await cli(['fault', 'stop', 'kwok'])).code).toBe(0);
  await pin('across-outage');
  const crash = await cli(['fault', 'restart', 'kube-apiserver', '--kill', '--down-ms', '2000']);
  expect(crash.code).toBe(0);
  expect(crash.stderr).toMatch(/kube-apiserver: restart done/);
  expect((await core.readNamespacedPod({ name: 'across-outage', namespace: NS })).status?.phase).toBe(
    'Pending',
  );
  expect((await cli(['fault', 'start', 'kwok'])).code).toBe(0);
  // Generous: a restarted kwok waits for the old node leases to go, and a loaded machine is slow.
  await eventually(
    'the pod created during the outage to run',
    async () => {
      const p = await core.readNamespacedPod({ name: 'across-outage', namespace: NS });
      return p.status?.phase === 'Running' && podReady(p) === 'True' ? p : undefined;
    },
    180_000,
  );

  for (const c of ['etcd', 'controller-manager', 'scheduler', 'kwok']) {
    const r = await cli(['fault', 'restart', c]);
    expect([c, r.code, r.stderr]).toEqual([c, 0, expect.stringContaining(`${c}: restart done`)]);
  }
  const after = readState(DIR)!.processes;
  expect(after.map((p) => p.name)).toEqual(before.map((p) => p.name));
  expect(after.filter((p, i) => p.pid !== before[i]!.pid).map((p) => p.name)).toEqual([
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kwok',
  ]);
  expect(after.every(isRunning)).toBe(true);

  // The commands that said "not running" after a restart by hand.
  expect((await cli(['fixtures'])).code).toBe(0);
  expect((await cli(['fault', 'image-fail', '--pattern', '^registry\\.example/after-restart/'])).code).toBe(
    0,
  );
  expect((await cli(['fault', 'clear-images'])).code).toBe(0);
  expect(JSON.parse((await cli(['status', '--json'])).stdout)).toMatchObject({ state: 'running' });

  // Scheduler, controller-manager and kwok all work again: a scale-up is scheduled, played, counted.
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 5 } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await eventually(
    'web scaled to 5 available after the restarts',
    async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: NS });
      return d.status?.availableReplicas === 5 ? d : undefined;
    },
    120_000,
  );
  const across = await core.readNamespacedPod({ name: 'across-outage', namespace: NS });
  expect([across.status?.phase, podReady(across)]).toEqual(['Running', 'True']);

  expect((await cli(['fault', 'restart', 'nope'])).stderr).toContain('unknown component "nope"');
});

test('a node whose kubelet stops: the node lifecycle controller marks it Unknown and its pods not Ready; back again: the node Ready', async () => {
  const node = 'sim-default-worker-node-3';
  const pods = async () =>
    (await core.listNamespacedPod({ namespace: NS, fieldSelector: `spec.nodeName=${node}` })).items;
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'on-3' },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx:1.25' }] },
    },
  });
  await eventually('on-3 Ready', async () => {
    const p = await core.readNamespacedPod({ name: 'on-3', namespace: NS });
    return podReady(p) === 'True' ? p : undefined;
  });
  const t0 = Date.now();
  expect((await cli(['fault', 'node-down', '--node', node])).code).toBe(0);
  const down = await eventually('node Unknown', async () => {
    const n = await core.readNode({ name: node });
    return ready(n)?.status === 'Unknown' ? n : undefined;
  });
  const unknownAfter = (Date.now() - t0) / 1000;
  expect(ready(down)?.reason).toBe('NodeStatusUnknown');
  await eventually('the unreachable NoExecute taint', async () => {
    const n = await core.readNode({ name: node });
    return n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute')
      ? n
      : undefined;
  });
  const marked = await eventually('every pod on the node not Ready', async () => {
    const ps = await pods();
    return ps.length > 0 && ps.every((p) => podReady(p) === 'False') ? ps : undefined;
  });
  expect(marked.map((p) => p.metadata?.name)).toContain('on-3');
  // Its containers still "run" (nobody saw them stop): only the Ready condition changed.
  expect(marked.find((p) => p.metadata?.name === 'on-3')?.status?.phase).toBe('Running');

  // Known limit: kwok still plays a pod created on the node while it is down (it went Running in
  // a run of this test), so no assertion on new pods here.
  expect((await cli(['fault', 'node-down', '--node', node, '--up'])).code).toBe(0);
  await eventually('node Ready again', async () => {
    const n = await core.readNode({ name: node });
    return ready(n)?.status === 'True' ? n : undefined;
  });
  // Known limit: the pods that lost Ready are not reliably marked Ready again by kwok after --up
  // (seen in CI runs), so only the node is asserted here; sim/README says so.
  timings.nodeUnknownSeconds = unknownAfter;
});

test('unknown node and bad pattern: one clear line, exit 1', async () => {
  const bad = await cli(['fault', 'node-ready', '--node', 'no-such-node', '--ready', 'false']);
  expect(bad.code).toBe(1);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  expect(bad.stderr).toContain('no node no-such-node');
  const re = await cli(['fault', 'image-fail', '--pattern', '(?=x)']);
  expect(re.code).toBe(1);
  expect(re.stderr.trim().split('\n')).toHaveLength(1);
});

test('down stops every process it started and leaves none behind', async () => {
  const state = readState(DIR)!;
  expect(state.processes).toHaveLength(5);
  expect(state.processes.every(isRunning)).toBe(true);
  const down = await cli(['down']);
  expect(down.code).toBe(0);
  for (const p of state.processes) expect(isRunning(p)).toBe(false);
  expect(findStragglers(state.binDir, DIR)).toEqual([]);
  const st = await cli(['status', '--json']);
  expect(JSON.parse(st.stdout)).toMatchObject({ state: 'stopped' });
});
