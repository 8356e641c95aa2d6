/**
 * calicoImageRepair on the real stack: Temporal dev server + the simulator's Kubernetes API (kwok
 * nodes, real controllers). Each test starts from the broken NKS calico fixtures.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  type AppsV1Api,
  type CoreV1Api,
  type KubeConfig,
  Watch,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { SimHandle } from '../../sim';
import { resolveTemporalBinary } from '../../src/dev/temporal-binaries';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import { progressQuery } from '../../src/workflows/definitions';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  SIM_APPROVER_NAME,
  type RunningWorker,
  runProcedure,
  simAvailable,
  simRegistryWith,
  startWorker,
  tempDir,
  useSharedSim,
  writeFile,
} from './helpers';

useSharedSim();

const TARGET = 'docker.io/calico';
const NS = 'kube-system';
const CALICO_SELECTOR = 'k8s-app in (calico-node,calico-typha,calico-kube-controllers)';
const PREPULL_SELECTOR = 'nksr.io/purpose=calico-prepull';
const RATE_LIMIT =
  'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit ({image})';
/** A fake Docker Hub token, unique per run so a hit can only come from this run. */
const HUB_USER = 'nksr-calico-test';
const HUB_TOKEN = `dckr_pat_FAKE${randomUUID().replaceAll('-', '')}`;

const maybe = simAvailable() ? describe : describe.skip;

let sim: SimHandle;
let core: CoreV1Api;
let apps: AppsV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
let kc: KubeConfig;

maybe('calicoImageRepair against the simulator', () => {
  beforeAll(async () => {
    ({ sim, kc, core, apps } = connectSim());
    ({ connection, client } = await connectTemporal());
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await sim?.clearImageFaults().catch(() => undefined);
  });

  /** Broken calico as `sim up` made it, calico pods recreated on the broken images. */
  async function resetCalico(): Promise<void> {
    await sim.clearImageFaults();
    await sim.applyFixtures();
    await waitFor('broken calico fixtures', async () => {
      const pods = await calicoPods();
      return (
        pods.length > 0 &&
        pods.every(
          (p) => !p.metadata?.deletionTimestamp && allImages(p).every((i) => i.includes('nhn-broken')),
        )
      );
    });
  }

  async function calicoPods(): Promise<V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: NS, labelSelector: CALICO_SELECTOR })).items;
  }

  async function prePullPods(): Promise<V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: NS, labelSelector: PREPULL_SELECTOR })).items;
  }

  async function prePullSecrets(): Promise<V1Secret[]> {
    return (await core.listNamespacedSecret({ namespace: NS, labelSelector: PREPULL_SELECTOR })).items;
  }

  async function resourceVersions(): Promise<Record<string, string | undefined>> {
    return {
      ds: (await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: NS })).metadata
        ?.resourceVersion,
      kc: (await apps.readNamespacedDeployment({ name: 'calico-kube-controllers', namespace: NS })).metadata
        ?.resourceVersion,
      typha: (await apps.readNamespacedDeployment({ name: 'calico-typha', namespace: NS })).metadata
        ?.resourceVersion,
    };
  }

  async function start(input: Record<string, unknown>, idSuffix = randomUUID().slice(0, 8)) {
    return client.workflow.start('calicoImageRepair', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/calicoImageRepair/${idSuffix}`,
      args: [{ cluster: 'sim', ...input }],
    });
  }

  async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  }

  const record = (workflowId: string, name: string) => recordHistory(client, workflowId, name);

  test("a registry outside the worker's policy for the cluster is refused before any change", async () => {
    await resetCalico();
    const before = await resourceVersions();
    // The simulator's clusters.yaml has no policy: only docker.io/calico is allowed.
    const run = await runProcedure(
      'calico-image-repair',
      'sim',
      worker.taskQueue,
      '--wait',
      '--registry',
      'registry.example.com/calico',
    );
    expect(run.code).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(/ImageNotAllowed|policy\.calicoImageRepair\.registries/);
    expect(`${run.stdout}${run.stderr}`).toContain('registry.example.com/calico/node:v3.24.1');
    expect(await resourceVersions()).toEqual(before);
    expect(await prePullPods()).toEqual([]);
  });

  test('nksr cancel during the pre-pull: Cancelled, no pre-pull pod created twice, none left, nothing rolled', async () => {
    await resetCalico();
    const before = await resourceVersions();
    const created = new Map<string, number>();
    const deleted = new Set<string>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: PREPULL_SELECTOR },
      (type: string, pod: V1Pod) => {
        if (type === 'ADDED') created.set(pod.metadata!.name!, (created.get(pod.metadata!.name!) ?? 0) + 1);
        if (type === 'DELETED') deleted.add(pod.metadata!.name!);
      },
      () => undefined,
    );
    try {
      const handle = await start({ maxParallel: 3 });
      await waitFor('three pre-pulls done', async () => {
        const p = await handle.query(progressQuery);
        return p.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length >= 3;
      });
      // Pods of pre-pulls still running when the cancel comes: the ones a cleanup used to race.
      await waitFor('a pre-pull pod in flight', async () => [...created.keys()].some((n) => !deleted.has(n)));
      const inFlight = [...created.keys()].filter((n) => !deleted.has(n));
      const cancel = await runCli(['cancel', handle.workflowId]);
      expect(cancel.code).toBe(0);
      await waitFor('run cancelled', async () => (await handle.describe()).status.name === 'CANCELLED');
      expect(inFlight.length).toBeGreaterThan(0);
      expect(await prePullPods()).toEqual([]);
      // Each pod is created once: nothing recreated a pod the cleanup had deleted.
      expect(created.size).toBeGreaterThanOrEqual(3);
      expect([...created.entries()].filter(([, n]) => n > 1)).toEqual([]);
      expect(await resourceVersions()).toEqual(before);
      const progress = await handle.query(progressQuery);
      expect(progress.phase).toBe('cancelled');
      await record(handle.workflowId, 'calicoImageRepair-sim-cancelled-in-pre-pull');
    } finally {
      watch.abort();
    }
  });

  test('dry run returns the plan and changes nothing (resourceVersions equal)', async () => {
    await resetCalico();
    const before = await resourceVersions();
    const handle = await start({ dryRun: true });
    const result = (await handle.result()) as CalicoImageRepairResult;
    expect(result.outcome).toBe('planned');
    expect(result.plan.nodes).toHaveLength(sim.nodes.length);
    expect(result.plan.images).toEqual(
      expect.arrayContaining([`${TARGET}/node:v3.24.1`, `${TARGET}/cni:v3.24.1`, `${TARGET}/typha:v3.24.1`]),
    );
    expect(result.plan.workloads.map((w) => [w.name, w.action])).toEqual([
      ['calico-node', 'update'],
      ['calico-kube-controllers', 'update'],
      ['calico-typha', 'update'],
    ]);
    expect(await resourceVersions()).toEqual(before);
    expect(await prePullPods()).toEqual([]);
  });

  test('nksr run calico-image-repair --wait repairs calico; a rerun has nothing to do', async () => {
    await resetCalico();
    // A pre-pull pod an earlier, terminated run left behind (another run's label): swept, not adopted.
    const stale = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: {
          name: 'nksr-prepull-wf-deadbeef-0123456789abcdef',
          labels: {
            'app.kubernetes.io/managed-by': 'nks-remediation',
            'nksr.io/purpose': 'calico-prepull',
            'nksr.io/run': 'wf-deadbeef',
          },
        },
        spec: {
          nodeName: sim.nodes[0]!.name,
          restartPolicy: 'Never',
          containers: [{ name: 'prepull', image: `${TARGET}/node:v3.24.1`, command: ['sleep', '1'] }],
        },
      },
    });
    const t0 = Date.now();
    const run = await runProcedure(
      'calico-image-repair',
      'sim',
      worker.taskQueue,
      '--wait',
      '--json',
      '--max-parallel',
      '10',
    );
    const ms = Date.now() - t0;
    expect(run.stderr).not.toMatch(/failed/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as CalicoImageRepairResult;
    expect(result.outcome).toBe('repaired');
    expect(result.prePulls).toHaveLength(sim.nodes.length * 4);
    expect(result.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
    expect(result.workloads.map((w) => w.outcome)).toEqual(['updated', 'updated', 'updated']);
    expect(result.prePullCleanup?.staleDeleted).toEqual([stale.metadata!.name]);
    expect(result.prePulls.every((p) => p.podCreated === true)).toBe(true);
    // The simulator's clusters.yaml holds no Docker Hub credential: the pulls are anonymous, and say so.
    expect(result.summary).toMatch(/docker\.io pulls anonymous/);
    expect(result.workloads[0]!.previousImages).toContainEqual({
      container: 'install-cni',
      init: true,
      image: 'docker.io/nhn-broken/calico/cni:v3.24.1',
    });

    // Every calico pod Running and Ready on the new images; no pre-pull pod left behind.
    await waitFor('calico pods Running+Ready on the target images', async () => {
      const pods = await calicoPods();
      return (
        pods.length >= sim.nodes.length + 2 &&
        pods.every(
          (p) =>
            !p.metadata?.deletionTimestamp &&
            p.status?.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            allImages(p).every((i) => i.startsWith(`${TARGET}/`)),
        )
      );
    });
    expect(await prePullPods()).toEqual([]);
    const events = await record('nks/sim/calicoImageRepair', 'calicoImageRepair-sim-5-nodes-repaired');
    console.log(
      `[calico] repair via CLI: ${ms} ms, ${events} history events, phases ${JSON.stringify(result.phaseDurationsMs)}`,
    );
    expect(events).toBeLessThan(2000);

    const before = await resourceVersions();
    const rerun = await runProcedure('calico-image-repair', 'sim', worker.taskQueue, '--wait');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(/nothing to do/);
    expect(await resourceVersions()).toEqual(before);
    expect(await prePullPods()).toEqual([]);
  });

  test("with the worker's Docker Hub credential the pre-pull pods pull through a pull secret of the run's own, gone after the run", async () => {
    await resetCalico();
    // Docker Hub's anonymous rate limit, reached: docker.io pulls without a pull secret fail.
    await sim.failImage({ pattern: '^docker\\.io/calico/', message: RATE_LIMIT, anonymousOnly: true });
    // A pull secret a terminated run left behind (another run's label): swept by this run.
    const stale = await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: {
          name: 'nksr-prepull-wf-deadbeef-dockerhub',
          labels: {
            'app.kubernetes.io/managed-by': 'nks-remediation',
            'nksr.io/purpose': 'calico-prepull',
            'nksr.io/run': 'wf-deadbeef',
          },
        },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': '{"auths":{}}' },
      },
    });
    const credentialsFile = writeFile(
      tempDir('calico-hub'),
      'dockerhub.json',
      JSON.stringify({ username: HUB_USER, token: HUB_TOKEN }),
    );
    const hubWorker = await startWorker({
      registry: simRegistryWith({}, { dockerHub: { credentialsFile } }),
    });
    // Every pre-pull pod's pull secrets as created, and every pre-pull secret seen while the run went.
    const podSecrets = new Map<string, string[]>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: PREPULL_SELECTOR },
      (type: string, pod: V1Pod) => {
        if (type === 'ADDED')
          podSecrets.set(
            pod.metadata!.name!,
            (pod.spec?.imagePullSecrets ?? []).map((s) => s.name ?? ''),
          );
      },
      () => undefined,
    );
    const secretsSeen = new Map<string, V1Secret>();
    try {
      const handle = await client.workflow.start('calicoImageRepair', {
        taskQueue: hubWorker.taskQueue,
        workflowId: `nks/sim/calicoImageRepair/hub-${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim', maxParallel: 10 }],
      });
      const ended = handle.result().then(
        (r) => ({ result: r as CalicoImageRepairResult, error: undefined }),
        (e: unknown) => ({ result: undefined, error: e }),
      );
      let over = false;
      void ended.then(() => (over = true));
      await waitFor('the pre-pulls over', async () => {
        for (const s of await prePullSecrets())
          if (s.metadata?.name !== stale.metadata!.name) secretsSeen.set(s.metadata!.name!, s);
        if (over) return true;
        return (await handle.query(progressQuery)).phase.startsWith('rollout-');
      });
      // kwok keeps no image cache: the rollouts' pods (no pull secret: the nodes have the images now)
      // would meet the rate limit the pre-pulls went around.
      await sim.clearImageFaults();
      const { result, error } = await ended;

      // On the rate limit the anonymous pre-pulls failed: the run must not.
      expect(
        error === undefined ? undefined : String((error as { cause?: Error }).cause ?? error),
      ).toBeUndefined();
      // One secret of this run, of the worker's credential, referenced by every pre-pull pod.
      expect([...secretsSeen.keys()]).toHaveLength(1);
      const [secret] = [...secretsSeen.values()];
      const name = secret!.metadata!.name!;
      expect(secret!.type).toBe('kubernetes.io/dockerconfigjson');
      expect(secret!.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('nks-remediation');
      const config = JSON.parse(Buffer.from(secret!.data!['.dockerconfigjson']!, 'base64').toString()) as {
        auths: Record<string, { auth?: string }>;
      };
      expect(config.auths['https://index.docker.io/v1/']?.auth).toBe(
        Buffer.from(`${HUB_USER}:${HUB_TOKEN}`).toString('base64'),
      );
      expect(podSecrets.size).toBe(sim.nodes.length * 4);
      expect([...new Set([...podSecrets.values()].map((s) => s.join(',')))]).toEqual([name]);

      expect(result!.outcome).toBe('repaired');
      expect(result!.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
      expect(secret!.metadata?.labels?.['nksr.io/run']).toBe(result!.prePullCleanup?.runLabel);
      expect(result!.summary).toContain(`docker.io pulls with the worker's Docker Hub credential`);
      expect(result!.prePullCleanup?.staleSecretsDeleted).toEqual([stale.metadata!.name]);
      // Gone after the run, and so is the stale one.
      expect(await prePullSecrets()).toEqual([]);
      expect(await prePullPods()).toEqual([]);
      // The credential is nowhere in the run's history.
      const history = historyToJSON(await handle.fetchHistory());
      expect(history).not.toContain(HUB_TOKEN);
      expect(history).not.toContain(Buffer.from(`${HUB_USER}:${HUB_TOKEN}`).toString('base64'));
    } finally {
      watch.abort();
      await sim.clearImageFaults();
      await core
        .deleteNamespacedSecret({ name: stale.metadata!.name!, namespace: NS })
        .catch(() => undefined);
      await hubWorker.stop();
    }
  });

  test("two runs started with the Temporal CLI under different IDs: the second waits for the cluster lock, sweeps none of the first's pre-pull pods, both end cleanly", async () => {
    await resetCalico();
    const temporal = resolveTemporalBinary('temporal');
    if (!temporal.path) throw new Error('no temporal CLI binary installed');
    const suffix = randomUUID().slice(0, 8);
    const ids = [`ui-a-${suffix}`, `ui-b-${suffix}`];
    // Every pre-pull pod seen, by run label: whose pods the second run's sweep could have taken.
    const podsOfRun = new Map<string, Set<string>>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: PREPULL_SELECTOR },
      (_type: string, pod: V1Pod) => {
        const label = pod.metadata?.labels?.['nksr.io/run'] ?? '';
        const set = podsOfRun.get(label) ?? new Set<string>();
        set.add(pod.metadata?.name ?? '');
        podsOfRun.set(label, set);
      },
      () => undefined,
    );
    try {
      for (const id of ids) {
        execFileSync(
          temporal.path,
          [
            'workflow',
            'start',
            '--type',
            'calicoImageRepair',
            '--task-queue',
            worker.taskQueue,
            '--workflow-id',
            id,
            '--input',
            JSON.stringify({ cluster: 'sim', maxParallel: 10, lockPollSeconds: 1 }),
            '--address',
            requiredEnv('TEMPORAL_ADDRESS'),
          ],
          { encoding: 'utf8' },
        );
      }
      const handles = ids.map((id) => client.workflow.getHandle(id));
      let waiting: string | undefined;
      await waitFor('one run waiting for the cluster lock', async () => {
        for (const h of handles) {
          const p = await h.query(progressQuery).catch(() => undefined);
          if (p?.phase.startsWith('waiting-for-lock (held by ')) waiting = h.workflowId;
        }
        return waiting !== undefined;
      });
      const [ra, rb] = (await Promise.all(handles.map((h) => h.result()))) as CalicoImageRepairResult[];
      const [first, second] = waiting === ids[0] ? [rb!, ra!] : [ra!, rb!];
      // The first as a lone run: repaired, every pre-pull pulled, none lost to the other run.
      expect(first.outcome).toBe('repaired');
      expect(first.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
      expect(first.workloads.map((w) => w.outcome)).toEqual(['updated', 'updated', 'updated']);
      // The second ran after it, and its sweep deleted none of the first's pods.
      const firstPods = podsOfRun.get(first.prePullCleanup!.runLabel) ?? new Set<string>();
      expect(firstPods.size).toBe(sim.nodes.length * 4);
      expect(second.prePullCleanup!.staleDeleted.filter((p) => firstPods.has(p))).toEqual([]);
      expect(['repaired', 'nothing-to-do']).toContain(second.outcome);
      expect(second.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
      expect(await prePullPods()).toEqual([]);
    } finally {
      watch.abort();
    }
  });

  test('a node whose pre-pull fails: failure reported for that node, nothing rolled', async () => {
    await resetCalico();
    const badNode = sim.nodes[2]!.name;
    await sim.failImage({ pattern: '^docker\\.io/calico/cni:', node: badNode });
    const before = await resourceVersions();
    // With the approval gate: nothing happens until `nksr approve`, and the approver is recorded.
    const handle = await start({ maxParallel: 6, prePullTimeoutSeconds: 60, requireApproval: true });
    await waitFor('approval gate', async () => (await handle.query(progressQuery)).awaitingApproval);
    expect(await prePullPods()).toEqual([]);
    const approve = await runCli(['approve', handle.workflowId, '--comment', 'calico fix']);
    expect(approve.code).toBe(0);
    // The name comes from the key that signed (the simulator's approver), not from the command line.
    expect(approve.stdout).toMatch(new RegExp(`approved .* as ${SIM_APPROVER_NAME}`));
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('RemediationFailed');
    expect(failure.message).toContain(badNode);
    const report = failure.details?.[0] as CalicoImageRepairResult;
    expect(report.nodes.find((n) => n.node === badNode)).toEqual({
      node: badNode,
      outcome: 'failed',
      failedImages: [`${TARGET}/cni:v3.24.1`],
    });
    expect(report.prePulls.find((p) => p.node === badNode && p.image.includes('/cni:'))?.reason).toMatch(
      /ErrImagePull|ImagePullBackOff/,
    );
    expect(report.nodes.filter((n) => n.outcome === 'failed').map((n) => n.node)).toEqual([badNode]);
    expect(report.workloads.every((w) => w.outcome === 'not-attempted')).toBe(true);
    expect(report.approvedBy).toBe(SIM_APPROVER_NAME);
    expect(await resourceVersions()).toEqual(before);
    expect(await prePullPods()).toEqual([]);
    await record(handle.workflowId, 'calicoImageRepair-sim-prepull-failed');
  });

  test('typha rollout fails: every pre-update typha pod deleted, failure named', async () => {
    await resetCalico();
    // Two typha replicas, so "every old pod" differs from the guide's "only the first".
    await apps.patchNamespacedDeployment({
      name: 'calico-typha',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
    });
    await waitFor('2 typha pods', async () => (await typhaPods()).length === 2);
    const oldTypha = (await typhaPods()).map((p) => ({ name: p.metadata!.name!, uid: p.metadata!.uid! }));

    const handle = await start({ deploymentRolloutTimeoutSeconds: 20 });
    // The new typha image becomes unpullable after the pre-pulls (gone from the registry mid-run).
    await waitFor('rollout phase', async () =>
      (await handle.query(progressQuery)).phase.startsWith('rollout-'),
    );
    await sim.failImage({ pattern: '^docker\\.io/calico/typha:' });
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('RemediationFailed');
    expect(failure.message).toContain('deployment/calico-typha');
    const report = failure.details?.[0] as CalicoImageRepairResult;
    expect(report.failedResources).toEqual(['deployment/calico-typha']);
    const typha = report.workloads.find((w) => w.name === 'calico-typha')!;
    expect(typha.outcome).toBe('failed');
    // Every pod of before the update is handled: deleted now, or already removed by the rollout itself.
    expect([...(typha.oldPodsDeleted ?? []), ...(typha.oldPodsAlreadyGone ?? [])].sort()).toEqual(
      oldTypha.map((p) => p.name).sort(),
    );
    expect(typha.oldPodsDeleted?.length).toBeGreaterThan(0);
    const uidsNow = (await typhaPods()).map((p) => p.metadata?.uid);
    for (const old of oldTypha) expect(uidsNow).not.toContain(old.uid);
    expect(report.workloads.filter((w) => w.outcome === 'updated').map((w) => w.name)).toEqual([
      'calico-node',
      'calico-kube-controllers',
    ]);
    expect(await prePullPods()).toEqual([]);
    await record(handle.workflowId, 'calicoImageRepair-sim-typha-rollout-failed');
  });

  test('a rerun after that failure does not say "nothing to do" while typha is stuck; once pullable, typha ends Ready', async () => {
    // State left by the previous test: every calico spec on target, typha stuck on an unpullable image.
    const stuck = await runProcedure('calico-image-repair', 'sim', worker.taskQueue, '--wait', '--json');
    expect(stuck.code).not.toBe(0);
    const failed = JSON.parse(stuck.stdout) as {
      failure: { type: string; message: string; report: CalicoImageRepairResult };
    };
    expect(failed.failure.message).not.toMatch(/nothing to do/);
    expect(failed.failure.report.plan.workloads.find((w) => w.name === 'calico-typha')?.action).toBe(
      'wait-rollout',
    );
    // Its image cannot be pulled: the pre-pull says so, and nothing is rolled.
    expect(failed.failure.message).toMatch(
      /pre-pull failed on \d+ node\(s\).*calico\/typha:v3\.24\.1.*nothing rolled/,
    );

    // Once the image can be pulled again, a rerun ends with typha Running and Ready on the target
    // (kubelet's back-off may already have recovered it: then there is nothing left to do).
    await sim.clearImageFaults();
    const rerun = await runProcedure('calico-image-repair', 'sim', worker.taskQueue, '--wait', '--json');
    expect(rerun.code).toBe(0);
    const result = JSON.parse(rerun.stdout) as CalicoImageRepairResult;
    expect(['repaired', 'nothing-to-do']).toContain(result.outcome);
    await waitFor('typha Ready on the target image', async () => {
      const typha = await typhaPods();
      return (
        typha.length > 0 &&
        typha.every(
          (p) =>
            allImages(p).join() === `${TARGET}/typha:v3.24.1` &&
            (p.status?.containerStatuses ?? []).every((cs) => cs.ready),
        )
      );
    });
  });

  async function typhaPods(): Promise<V1Pod[]> {
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'k8s-app=calico-typha' }))
      .items;
    return pods.filter((p) => !p.metadata?.deletionTimestamp);
  }
});

function allImages(p: V1Pod): string[] {
  return [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.image ?? '');
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
