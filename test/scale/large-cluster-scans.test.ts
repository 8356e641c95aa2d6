/**
 * Every whole-cluster scan on a large cluster: one simulator of 1,000 kwok nodes and 10,000 pods
 * (created in bulk through the simulator's API), shared by every test of this file. Each test runs
 * one scan activity through MockActivityEnvironment (the real activity code, with an activity
 * context, against the real API server) and checks what an operator would: every matching pod
 * found across pages, more than one page read, a heartbeat per page, a retry that resumes from the
 * heartbeated continue token, and the scan's timeout derived from the node count preflight reads.
 *
 * Runs its own simulator at the run's `large-cluster-scans` place (sim/testing.ts testSimPlace),
 * by hand (`npx jest --config jest.scale.config.js`), not in CI. Setup time is printed.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { ScanHeartbeat } from '../../src/activities/kube/paged-list';
import { KMEM_OOM_EVENT_REASON, KMEM_OOM_MESSAGE } from '../../src/common/procedures/disable-kmem-accounting';
import { loadClusterRegistry } from '../../src/worker/registry';
import {
  CLUSTER_SCAN_TIMEOUT,
  clusterScan,
  SCAN_HEARTBEAT_TIMEOUT,
  timeoutFromCount,
} from '../../src/workflows/activity-profiles';
import { type SimHandle } from '../../sim';
import { ensureTestSim, teardownTestSim, testSimPlace } from '../../sim/testing';
import { simAvailable, useSharedSim } from '../integration/helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(1_800_000);

const NODES = 1000;
const PODS = 10_000;
const NAMESPACES = 10;
/** Every tenth pod is a bare pod on the old GitHub registry host; the next tenth is on Docker Hub's rate limit. */
const GHCR_IMAGE = 'docker.pkg.github.com/acme/shop/web:1.0';
const HUB_IMAGE = 'docker.io/library/nginx:1.25-scanhub';
const RATE_LIMIT =
  'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit';
const KMEM_EVENTS = 600;
const CLUSTER = 'sim';
const { dir: DIR, ipPrefix: IP_PREFIX } = testSimPlace('large-cluster-scans');

const namespaceOf = (i: number) => `scan-${i % NAMESPACES}`;
const podName = (i: number) => `load-${i}`;
const imageOf = (i: number) =>
  i % 10 === 0 ? GHCR_IMAGE : i % 10 === 1 ? HUB_IMAGE : 'registry.k8s.io/pause:3.9';
const expectedPods = (kind: number) =>
  Array.from({ length: PODS }, (_, i) => i)
    .filter((i) => i % 10 === kind)
    .map((i) => `${namespaceOf(i)}/${podName(i)}`)
    .sort();

let sim: SimHandle;
let activities: ReturnType<typeof createActivities>;

/** One attempt of a scan activity; every heartbeat it sends, as sent. */
async function runScan<I, R>(
  fn: (input: I) => Promise<R>,
  input: I,
  heartbeatDetails?: ScanHeartbeat,
): Promise<{ result: R; beats: ScanHeartbeat[] }> {
  const env = new MockActivityEnvironment(
    { heartbeatTimeoutMs: 60_000, ...(heartbeatDetails ? { heartbeatDetails } : {}) },
    { logger: new DefaultLogger('ERROR') },
  );
  const beats: ScanHeartbeat[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(structuredClone(d as ScanHeartbeat)));
  const result = (await env.run(fn, input)) as R;
  return { result, beats };
}

const listOf = (beats: ScanHeartbeat[], name: string) => beats.at(-1)?.lists[name];

maybe(`whole-cluster scans on ${NODES} nodes and ${PODS} pods`, () => {
  beforeAll(async () => {
    const t0 = Date.now();
    // kwok reports 1,000 nodes Ready one by one: minutes beyond simUp's default on a loaded machine.
    sim = await ensureTestSim({
      dir: DIR,
      nodes: NODES,
      sshNodes: 0,
      ipPrefix: IP_PREFIX,
      timeoutMs: 1_200_000,
    });
    const up = (Date.now() - t0) / 1000;
    await sim.failImage({ pattern: '-scanhub$', message: RATE_LIMIT });
    const core = sim.core();
    for (let n = 0; n < NAMESPACES; n++)
      await core.createNamespace({ body: { metadata: { name: `scan-${n}` } } });
    const nodes = sim.nodes.map((n) => n.name);
    const pods = await sim.createInBulk({
      count: PODS,
      create: (i, api) =>
        api.createNamespacedPod({
          namespace: namespaceOf(i),
          body: {
            metadata: { name: podName(i), labels: { app: 'load' } },
            spec: {
              nodeName: nodes[i % nodes.length],
              containers: [{ name: 'main', image: imageOf(i) }],
            },
          },
        }),
    });
    const now = new Date();
    const events = await sim.createInBulk({
      count: KMEM_EVENTS,
      create: (i, api) =>
        api.createNamespacedEvent({
          namespace: 'scan-0',
          body: {
            metadata: { name: `kmem-${i}`, namespace: 'scan-0' },
            involvedObject: { apiVersion: 'v1', kind: 'Pod', name: `kmem-pod-${i}`, namespace: 'scan-0' },
            reason: KMEM_OOM_EVENT_REASON,
            type: 'Warning',
            message: `failed to create container for [kubepods besteffort pod${i}]: mkdir /sys/fs/cgroup/memory/kubepods: ${KMEM_OOM_MESSAGE}`,
            source: { component: 'kubelet', host: nodes[i % nodes.length] },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        }),
    });
    // kwok reports the pull failures on its own; wait until it has for every Docker Hub pod.
    const t1 = Date.now();
    for (;;) {
      let failing = 0;
      let token: string | undefined;
      do {
        const page = await core.listPodForAllNamespaces({
          fieldSelector: 'status.phase=Pending',
          limit: 500,
          ...(token ? { _continue: token } : {}),
        });
        failing += page.items.filter((p) =>
          p.status?.containerStatuses?.some((s) =>
            /ErrImagePull|ImagePullBackOff/.test(s.state?.waiting?.reason ?? ''),
          ),
        ).length;
        token = page.metadata?._continue || undefined;
      } while (token);
      if (failing >= PODS / 10) break;
      if (Date.now() - t1 > 900_000) throw new Error(`only ${failing} pods failing to pull after 15 min`);
      await new Promise((r) => setTimeout(r, 5000));
    }
    console.log(
      `[large-scans] ${NODES} nodes up in ${up.toFixed(1)} s; ${PODS} pods created in ${pods.seconds.toFixed(1)} s; ` +
        `${KMEM_EVENTS} events in ${events.seconds.toFixed(1)} s; pull failures reported after ${((Date.now() - t1) / 1000).toFixed(1)} s; ` +
        `setup ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    activities = createActivities({ registry: loadClusterRegistry(sim.clustersPath) });
  });

  afterAll(async () => {
    if (sim) await teardownTestSim({ dir: DIR });
  });

  test('the scan timeout comes from the node count preflight reads, above the old fixed 5 minutes', async () => {
    let count = 0;
    let continueToken: string | undefined;
    do {
      const page = await activities.listClusterNodesPage({ cluster: CLUSTER, limit: 200, continueToken });
      count += page.nodes.length;
      continueToken = page.continueToken;
    } while (continueToken);
    expect(count).toBe(NODES);
    const options = clusterScan(count);
    expect(options.scheduleToCloseTimeout).toBe(`${timeoutFromCount(count, CLUSTER_SCAN_TIMEOUT)}s`);
    expect(timeoutFromCount(count, CLUSTER_SCAN_TIMEOUT)).toBeGreaterThan(CLUSTER_SCAN_TIMEOUT.floorSeconds);
    expect(options.heartbeatTimeout).toBe(SCAN_HEARTBEAT_TIMEOUT);
    expect(options.startToCloseTimeout).toBeUndefined();
  });

  let ghcrBeats: ScanHeartbeat[] = [];
  let ghcrPods: string[] = [];

  test('ghcr: every bare pod on the old host, found across pages with a heartbeat per page', async () => {
    const { result, beats } = await runScan(activities.scanGhcr, { cluster: CLUSTER, mapping: 'same-path' });
    ghcrPods = result.untouched
      .filter((o) => o.kind === 'Pod')
      .map((o) => `${o.namespace}/${o.name}`)
      .sort();
    expect(ghcrPods).toEqual(expectedPods(0));
    const pods = listOf(beats, 'list pods in all namespaces');
    expect(pods?.done).toBe(true);
    expect(pods!.pages).toBeGreaterThan(1);
    expect(pods!.read).toBeGreaterThanOrEqual(PODS);
    const totalPages = Object.values(beats.at(-1)!.lists).reduce((n, l) => n + l.pages, 0);
    expect(beats).toHaveLength(totalPages);
    ghcrBeats = beats;
  });

  test('ghcr: a retry resumes from the heartbeated continue token and finds the same pods', async () => {
    const midway = ghcrBeats.find((b) => (b.lists['list pods in all namespaces']?.pages ?? 0) === 5);
    expect(midway?.lists['list pods in all namespaces']?.continueToken).toBeTruthy();
    const { result, beats } = await runScan(
      activities.scanGhcr,
      { cluster: CLUSTER, mapping: 'same-path' },
      midway,
    );
    const found = result.untouched
      .filter((o) => o.kind === 'Pod')
      .map((o) => `${o.namespace}/${o.name}`)
      .sort();
    expect(found).toEqual(ghcrPods);
    const first = listOf(ghcrBeats, 'list pods in all namespaces')!;
    // Only the pages after the fifth were read again: one heartbeat each.
    expect(beats).toHaveLength(first.pages - 5);
    expect(listOf(beats, 'list pods in all namespaces')?.pages).toBe(first.pages);
  });

  test('dockerHubPullSecret: every pod on the rate limit, pods and events in pages', async () => {
    const { result, beats } = await runScan(activities.findRateLimitedPods, { cluster: CLUSTER });
    expect(result.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual(expectedPods(1));
    expect(listOf(beats, 'list pods in all namespaces')!.pages).toBeGreaterThan(1);
    expect(beats.length).toBeGreaterThan(1);
  });

  test('closedNetworkImageRecovery: every pod failing to pull the image, pending pods in pages', async () => {
    const { result, beats } = await runScan(activities.findImagePullFailures, {
      cluster: CLUSTER,
      images: ['docker.io/library/nginx'],
    });
    expect(result.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual(expectedPods(1));
    expect(listOf(beats, 'list pending pods')!.pages).toBeGreaterThan(1);
  });

  test('disableKmemAccounting: every pod with the kmem OOM event, events in pages', async () => {
    const { result, beats } = await runScan(activities.findKmemOomPods, { cluster: CLUSTER });
    expect(result).toHaveLength(KMEM_EVENTS);
    expect(new Set(result.map((p) => p.node)).size).toBe(Math.min(KMEM_EVENTS, NODES));
    expect(listOf(beats, `list ${KMEM_OOM_EVENT_REASON} events`)!.pages).toBeGreaterThan(1);
  });

  test('clusterDiagnosis: the whole cluster read in pages, heartbeating each', async () => {
    const { result, beats } = await runScan(activities.diagnoseKubeObjects, { cluster: CLUSTER });
    const hub = result.reports.find((r) => r.detector === 'dockerHubRateLimit');
    expect(hub?.status).toBe('checked');
    expect(hub?.findings.length).toBeGreaterThan(0);
    const last = beats.at(-1)!;
    expect(last.lists['list pods']!.read).toBeGreaterThanOrEqual(PODS);
    expect(last.lists['list pods']!.pages).toBeGreaterThan(1);
    expect(last.lists['list nodes']!.read).toBe(NODES);
    expect(last.lists['list nodes']!.pages).toBeGreaterThan(1);
  });
});
