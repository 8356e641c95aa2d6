/**
 * The closed network's sandbox symptom and the tag a restore uses: FailedCreatePodSandBox messages
 * (containerd and dockershim), the sandbox image a node's runtime config names (containerd 1.x and
 * 2.x, kubelet flags), and the batches a large run is cut into.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  sandboxImageFromContainerdConfig,
  sandboxImageFromKubeletFlags,
  restoreTarget,
} from '../../src/activities/node/images';
import {
  BATCH_PAYLOAD_BUDGET,
  GUIDE_DEFAULT_IMAGES,
  isWantedImage,
  MAX_LISTED_IMAGES,
  nodeEntry,
  recoveryBatchPlan,
  sandboxImageOf,
} from '../../src/common/procedures/closed-network-image-recovery';
import { CONTAINER_RUNTIMES, runtimeKind } from '../../sim/config';
import { nodePaths } from '../../sim/nodes/layout';
import { containerdConfig, kubeletSysconfig } from '../../sim/nodes/provision';
import { sandboxFailures } from '../../sim/nodes/sandbox';

const CONTAINERD =
  'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.6": failed to pull image "registry.k8s.io/pause:3.6": failed to pull and unpack image "registry.k8s.io/pause:3.6": dial tcp: lookup registry.k8s.io: no such host';
const DOCKERSHIM =
  'Failed to create pod sandbox: rpc error: code = Unknown desc = failed pulling image "k8s.gcr.io/pause:3.2": Error response from daemon: Get "https://k8s.gcr.io/v2/": dial tcp: lookup k8s.gcr.io: no such host';

describe('sandbox failures', () => {
  test('the sandbox image from containerd and dockershim messages; none from other sandbox failures', () => {
    expect(sandboxImageOf(CONTAINERD)).toBe('registry.k8s.io/pause:3.6');
    expect(sandboxImageOf(DOCKERSHIM)).toBe('k8s.gcr.io/pause:3.2');
    expect(
      sandboxImageOf(
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "abc": plugin type="calico" failed (add)',
      ),
    ).toBeUndefined();
    expect(sandboxImageOf(undefined)).toBeUndefined();
  });

  test('k8s.gcr.io and registry.k8s.io name the same images; a tag asked for must match', () => {
    expect(isWantedImage('k8s.gcr.io/pause', 'registry.k8s.io/pause:3.6')).toBe(true);
    expect(isWantedImage('registry.k8s.io/pause:3.6', 'k8s.gcr.io/pause:3.6')).toBe(true);
    expect(isWantedImage('k8s.gcr.io/pause:3.2', 'registry.k8s.io/pause:3.6')).toBe(false);
    expect(isWantedImage('k8s.gcr.io/pause', 'quay.io/pause:3.6')).toBe(false);
    expect(isWantedImage('k8s.gcr.io/kube-proxy', 'k8s.gcr.io/pause:3.2')).toBe(false);
  });
});

describe("the sandbox image a node's runtime config names", () => {
  test('containerd 1.x (version 2) and 2.x (version 3) layouts', () => {
    expect(
      sandboxImageFromContainerdConfig(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "k8s.gcr.io/pause:3.2"\n',
      ),
    ).toBe('k8s.gcr.io/pause:3.2');
    expect(
      sandboxImageFromContainerdConfig(
        "version = 3\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'registry.k8s.io/pause:3.10'\n",
      ),
    ).toBe('registry.k8s.io/pause:3.10');
    expect(sandboxImageFromContainerdConfig('disabled_plugins = ["cri"]\n')).toBeUndefined();
  });

  test('a config that is not TOML is refused without quoting it (it may hold registry passwords)', () => {
    const secret = 'password = "hunter2" [[[';
    let err: unknown;
    try {
      sandboxImageFromContainerdConfig(secret);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).message).not.toContain('hunter2');
    expect((err as ApplicationFailure).type).toBe('ConfigInvalid');
  });

  test("kubelet's --pod-infra-container-image, with = or a space, quoted or not", () => {
    expect(
      sandboxImageFromKubeletFlags(
        'KUBELET_EXTRA_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.2"\n',
      ),
    ).toBe('k8s.gcr.io/pause:3.2');
    expect(sandboxImageFromKubeletFlags("ARGS='--pod-infra-container-image k8s.gcr.io/pause:3.5'")).toBe(
      'k8s.gcr.io/pause:3.5',
    );
    expect(sandboxImageFromKubeletFlags('KUBELET_EXTRA_ARGS=""')).toBeUndefined();
  });

  test('an untagged image gets the configured tag when it is the sandbox image, else none (never :latest)', () => {
    expect(restoreTarget('k8s.gcr.io/pause', 'k8s.gcr.io/pause:3.2')).toBe('k8s.gcr.io/pause:3.2');
    expect(restoreTarget('k8s.gcr.io/pause', 'registry.k8s.io/pause:3.6')).toBe('registry.k8s.io/pause:3.6');
    expect(restoreTarget('k8s.gcr.io/kube-proxy', 'k8s.gcr.io/pause:3.2')).toBeUndefined();
    expect(restoreTarget('k8s.gcr.io/pause', undefined)).toBeUndefined();
    expect(restoreTarget('k8s.gcr.io/pause:3.1', 'k8s.gcr.io/pause:3.2')).toBe('k8s.gcr.io/pause:3.1');
  });
});

describe('batches and bounded node entries', () => {
  const registry = 'harbor-kr1.cloud.toastoven.net/container_service';

  test('the default image list: batches under the payload budget, at most maxParallel nodes at once', () => {
    const plan = recoveryBatchPlan({
      nodes: 5000,
      images: [...GUIDE_DEFAULT_IMAGES],
      registry,
      maxParallel: 5,
    });
    expect(plan.size).toBeGreaterThan(1);
    expect(plan.batches).toBe(Math.ceil(5000 / plan.size));
    expect(plan.lanes * plan.inFlight).toBeLessThanOrEqual(5);
    const tiny = recoveryBatchPlan({ nodes: 3, images: ['k8s.gcr.io/pause:3.2'], registry, maxParallel: 5 });
    expect(tiny).toMatchObject({ batches: 1, lanes: 1, inFlight: 5 });
    expect(
      recoveryBatchPlan({
        nodes: 10,
        images: ['k8s.gcr.io/pause:3.2'],
        registry,
        maxParallel: 4,
        batchSize: 3,
      }),
    ).toEqual({ size: 3, batches: 4, lanes: 4, inFlight: 1 });
  });

  test('the longest images a run accepts still fit a batch of one node within the budget', () => {
    const long = Array.from({ length: 200 }, (_, i) => `r.io/${'x'.repeat(240)}:${i}`);
    const plan = recoveryBatchPlan({ nodes: 10, images: long, registry, maxParallel: 5 });
    expect(plan.size).toBe(1);
    // The input (the images once, one node's indices) stays under Temporal's 64 KB warning.
    const input = {
      images: long,
      nodes: [{ node: 'n'.repeat(63), runtime: 'containerd', images: long.map((_, i) => i) }],
    };
    expect(JSON.stringify(input).length).toBeLessThan(64 * 1024);
    expect(BATCH_PAYLOAD_BUDGET).toBeLessThan(64 * 1024);
  });

  test('a node entry lists failures first, at most MAX_LISTED_IMAGES, and counts every image', () => {
    const entries = [
      ...Array.from({ length: 10 }, (_, i) => ({ image: `a:${i}`, outcome: 'restored' as const })),
      { image: 'b:1', outcome: 'failed' as const, reason: 'pull failed' },
      { image: 'c:1', outcome: 'present' as const },
    ];
    const e = nodeEntry({ node: 'n' }, entries);
    expect(e.outcome).toBe('failed');
    expect(e.images).toHaveLength(MAX_LISTED_IMAGES);
    expect(e.images[0]).toEqual({ image: 'b:1', outcome: 'failed', reason: 'pull failed' });
    expect(e.imageCounts).toEqual({ restored: 10, failed: 1, present: 1 });
    expect(nodeEntry({ node: 'n' }, [{ image: 'c:1', outcome: 'present' }]).outcome).toBe('all-present');
  });
});

describe("the simulator's nodes without their sandbox image", () => {
  const nodes = [
    { name: 'docker-node', runtime: CONTAINER_RUNTIMES.docker },
    { name: 'containerd-node', runtime: CONTAINER_RUNTIMES.containerd },
  ];
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nksr-sandbox-'));
    for (const n of nodes) {
      const kind = runtimeKind(n.runtime);
      const p = nodePaths(dir, n.name);
      mkdirSync(p.etcSysconfig, { recursive: true });
      mkdirSync(p.etcContainerd, { recursive: true });
      writeFileSync(join(p.etcSysconfig, 'kubelet'), kubeletSysconfig(kind, 'k8s.gcr.io/pause:3.2'));
      writeFileSync(join(p.etcContainerd, 'config.toml'), containerdConfig(kind, 'k8s.gcr.io/pause:3.2'));
      const store = kind === 'docker' ? p.dockerImages : p.containerdImages('k8s.io');
      mkdirSync(dirname(store), { recursive: true });
      writeFileSync(store, 'docker.io/library/nginx:1.25 sha256:aa\n');
    }
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("each node's runtime is read from the version its kubelet reports, and its own store is checked", () => {
    expect(sandboxFailures(dir, nodes, ['docker-node', 'containerd-node'])).toEqual([
      { node: 'docker-node', runtime: 'docker', image: 'k8s.gcr.io/pause:3.2' },
      { node: 'containerd-node', runtime: 'containerd', image: 'k8s.gcr.io/pause:3.2' },
    ]);
    writeFileSync(nodePaths(dir, 'docker-node').dockerImages, 'k8s.gcr.io/pause:3.2 sha256:bb\n');
    expect(sandboxFailures(dir, nodes, ['docker-node', 'containerd-node'])).toEqual([
      { node: 'containerd-node', runtime: 'containerd', image: 'k8s.gcr.io/pause:3.2' },
    ]);
    expect(sandboxFailures(dir, nodes, ['docker-node'])).toEqual([]);
  });
});
