/**
 * cinderRescanOnResize on the real stack: Temporal dev server + the simulator's Kubernetes API (real
 * DaemonSet/StatefulSet controllers, kwok pods). Each test writes the cloud-config it starts from.
 */
import { randomUUID } from 'node:crypto';
import type { AppsV1Api, CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { SimHandle } from '../../sim';
import { ensureRescanOnResize, restartWorkload } from '../../src/activities/kube/cinder';
import { kubeClientsFor } from '../../src/activities/kube/client';
import { CINDER, type CinderRescanOnResizeResult } from '../../src/common/procedures/cinder-rescan-on-resize';
import { loadClusterRegistry } from '../../src/worker/registry';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  type RunningWorker,
  runProcedure,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const NS = 'kube-system';
const SECRET = 'cinder-csi-cloud-config';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const FIXTURE_INI =
  '[Global]\nauth-url=https://api-identity-infrastructure.nhncloudservice.com/v2.0\nusername=sim-user@example.com\npassword=sim-not-a-real-password\ntenant-id=00000000000000000000000000000000\ndomain-name=default\nregion=KR1\n';

const maybe = simAvailable() ? describe : describe.skip;

let sim: SimHandle;
let core: CoreV1Api;
let apps: AppsV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
/** The test hook: runs between an activity's read and its write (set per test). */
let beforeWrite: ((object: string) => Promise<void>) | undefined;

maybe('cinderRescanOnResize against the simulator', () => {
  beforeAll(async () => {
    ({ sim, core, apps } = connectSim());
    ({ connection, client } = await connectTemporal());
    worker = await startWorker({
      testHooks: {
        beforeWrite: (t) => beforeWrite?.(`${t.kind} ${t.namespace}/${t.name}`) ?? Promise.resolve(),
      },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
  });

  afterEach(() => {
    beforeWrite = undefined;
  });

  async function cloudConfig(): Promise<string | undefined> {
    const s = await core.readNamespacedSecret({ name: SECRET, namespace: NS });
    const data = s.data?.['cloud-config'];
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
  }

  /** Writes the secret's data as given (cloud-config text, or other keys). */
  async function writeSecret(data: Record<string, string>): Promise<void> {
    const s = await core.readNamespacedSecret({ name: SECRET, namespace: NS });
    await core.replaceNamespacedSecret({
      name: SECRET,
      namespace: NS,
      body: {
        ...s,
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
      },
    });
  }

  async function resourceVersions(): Promise<Record<string, string | undefined>> {
    return {
      secret: (await core.readNamespacedSecret({ name: SECRET, namespace: NS })).metadata?.resourceVersion,
      node: (await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: NS })).metadata
        ?.resourceVersion,
      controller: (
        await apps.readNamespacedStatefulSet({ name: 'cinder-csi-controllerplugin', namespace: NS })
      ).metadata?.resourceVersion,
    };
  }

  async function pluginPods(): Promise<V1Pod[]> {
    return (
      await core.listNamespacedPod({
        namespace: NS,
        labelSelector: 'app in (cinder-csi-nodeplugin,cinder-csi-controllerplugin)',
      })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
  }

  async function start(input: Record<string, unknown>) {
    return client.workflow.start('cinderRescanOnResize', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/cinderRescanOnResize/${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim', ...input }],
    });
  }

  /** The workflow's whole history as text, every payload decoded. */
  async function historyText(workflowId: string): Promise<string> {
    const json = historyToJSON(await client.workflow.getHandle(workflowId).fetchHistory());
    const decoded: string[] = [json];
    JSON.parse(json, (key, value: unknown) => {
      if (key === 'data' && typeof value === 'string')
        decoded.push(Buffer.from(value, 'base64').toString('utf8'));
      return value;
    });
    return decoded.join('\n');
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

  /** Both plugins rolled out with the stamp, every pod a new one carrying it. */
  async function expectRestarted(stamp: string, podsBefore: V1Pod[]): Promise<void> {
    const ds = await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: NS });
    const sts = await apps.readNamespacedStatefulSet({ name: 'cinder-csi-controllerplugin', namespace: NS });
    expect(ds.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(stamp);
    expect(sts.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(stamp);
    expect(ds.status?.updatedNumberScheduled).toBe(ds.status?.desiredNumberScheduled);
    expect(ds.status?.numberAvailable).toBe(ds.status?.desiredNumberScheduled);
    expect(sts.status?.currentRevision).toBe(sts.status?.updateRevision);
    expect(sts.status?.readyReplicas).toBe(sts.spec?.replicas);
    await waitFor('old plugin pods gone', async () => {
      const pods = await pluginPods();
      const oldUids = new Set(podsBefore.map((p) => p.metadata?.uid));
      return pods.length === podsBefore.length && pods.every((p) => !oldUids.has(p.metadata?.uid));
    });
    for (const p of await pluginPods()) expect(p.metadata?.annotations?.[RESTARTED_AT]).toBe(stamp);
  }

  test('dry run returns the plan and the PVCs, and changes nothing (resourceVersions equal)', async () => {
    await writeSecret({ 'cloud-config': FIXTURE_INI });
    const before = await resourceVersions();
    const result = (await (await start({ dryRun: true })).result()) as CinderRescanOnResizeResult;
    expect(result.outcome).toBe('planned');
    expect(result.config).toMatchObject({
      outcome: 'would-set',
      change: 'section-added',
      previous: 'absent',
    });
    expect(result.plugins.map((p) => [p.name, p.outcome])).toEqual([
      ['cinder-csi-nodeplugin', 'would-restart'],
      ['cinder-csi-controllerplugin', 'would-restart'],
    ]);
    expect(result.volumes.storageClasses.map((s) => s.name)).toEqual(['csi-cinder-sc']);
    await waitFor(
      'photo-data bound',
      async () =>
        (await core.readNamespacedPersistentVolumeClaim({ name: 'photo-data', namespace: 'media' })).status
          ?.phase === 'Bound',
    );
    const again = (await (await start({ dryRun: true })).result()) as CinderRescanOnResizeResult;
    expect(again.volumes.claims.map((c) => [`${c.namespace}/${c.name}`, c.status])).toEqual([
      ['media/photo-data', 'resize-to-benefit'],
      ['media/photo-archive', 'not-bound'],
    ]);
    expect(await resourceVersions()).toEqual(before);
    expect(await cloudConfig()).toBe(FIXTURE_INI);
  });

  test('nksr run: key set once, every other byte kept, both plugins restarted and rolled out; a rerun changes nothing', async () => {
    await writeSecret({ 'cloud-config': FIXTURE_INI });
    const podsBefore = await pluginPods();
    expect(podsBefore.length).toBe(sim.nodes.length + 1);
    const t0 = Date.now();
    const run = await runProcedure('cinder-rescan-on-resize', 'sim', worker.taskQueue, '--wait', '--json');
    const ms = Date.now() - t0;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as CinderRescanOnResizeResult;
    expect(result.outcome).toBe('fixed');
    expect(result.config).toMatchObject({ outcome: 'set', change: 'section-added', previous: 'absent' });
    expect(await cloudConfig()).toBe(`${FIXTURE_INI}\n[BlockStorage]\nrescan-on-resize=true\n`);
    const stamp = result.plugins[0]!.restartedAt!;
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(result.plugins.map((p) => [p.name, p.outcome, p.restartedAt])).toEqual([
      ['cinder-csi-nodeplugin', 'restarted', stamp],
      ['cinder-csi-controllerplugin', 'restarted', stamp],
    ]);
    await expectRestarted(stamp, podsBefore);
    console.log(`[cinder] fix via CLI: ${ms} ms`);
    // The secret's content is nowhere in the result, nor in the workflow's history (payloads decoded).
    expect(run.stdout).not.toContain('sim-not-a-real-password');
    const history = await historyText('nks/sim/cinderRescanOnResize');
    expect(history).toContain('cinder-csi-cloud-config');
    expect(history).not.toContain('sim-not-a-real-password');
    expect(history).not.toContain(Buffer.from(FIXTURE_INI).toString('base64'));

    const before = await resourceVersions();
    await recordHistory(client, 'nks/sim/cinderRescanOnResize', 'cinderRescanOnResize-sim-set-and-restarted');
    const rerun = await runProcedure('cinder-rescan-on-resize', 'sim', worker.taskQueue, '--wait');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout.split('\n')[0]).toMatch(/^nothing-to-do: /);
    expect(await resourceVersions()).toEqual(before);
    expect(await cloudConfig()).toBe(`${FIXTURE_INI}\n[BlockStorage]\nrescan-on-resize=true\n`);
  });

  test('rescan-on-resize = false (comments, spacing, CRLF) becomes true in place; nothing else changes', async () => {
    const ini =
      '; NKS cloud config\r\n[Global]\r\nregion=KR1\r\n\r\n[BlockStorage]\r\n# set by an old script\r\nRescan-On-Resize = false ; off\r\nbs-version=v3\r\n';
    await writeSecret({ 'cloud-config': ini });
    const result = (await (await start({})).result()) as CinderRescanOnResizeResult;
    expect(result.outcome).toBe('fixed');
    expect(result.config).toMatchObject({ outcome: 'set', change: 'value-set', previous: 'false', line: 7 });
    expect(await cloudConfig()).toBe(
      ini.replace('Rescan-On-Resize = false ; off', 'Rescan-On-Resize = true ; off'),
    );
    expect(result.plugins.every((p) => p.outcome === 'restarted')).toBe(true);
  });

  test('a concurrent edit between read and write is detected (409) and re-read, never overwritten', async () => {
    await writeSecret({ 'cloud-config': FIXTURE_INI });
    const seen: string[] = [];
    let dsLabelled = false;
    beforeWrite = async (object) => {
      seen.push(object);
      if (object === `Secret ${NS}/${SECRET}` && seen.filter((o) => o === object).length === 1) {
        // Someone else edits the cloud-config after our read.
        const s = await core.readNamespacedSecret({ name: SECRET, namespace: NS });
        const text = Buffer.from(s.data!['cloud-config']!, 'base64').toString('utf8');
        await writeSecret({ 'cloud-config': `${text}[Metadata]\nsearch-order=configDrive\n` });
      }
      if (object === `DaemonSet ${NS}/cinder-csi-nodeplugin` && !dsLabelled) {
        dsLabelled = true;
        await apps.patchNamespacedDaemonSet({
          name: 'cinder-csi-nodeplugin',
          namespace: NS,
          body: [{ op: 'add', path: '/metadata/labels/edited-concurrently', value: 'yes' }],
        });
      }
    };
    const result = (await (await start({})).result()) as CinderRescanOnResizeResult;
    expect(result.outcome).toBe('fixed');
    expect(result.config.conflictsBefore).toBe(1);
    // Both edits are there: the other writer's section and ours, once.
    expect(await cloudConfig()).toBe(
      `${FIXTURE_INI}[Metadata]\nsearch-order=configDrive\n\n[BlockStorage]\nrescan-on-resize=true\n`,
    );
    expect(seen.filter((o) => o.startsWith('Secret'))).toHaveLength(2);
    expect(seen.filter((o) => o.startsWith('DaemonSet'))).toHaveLength(2);
    const ds = await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: NS });
    expect(ds.metadata?.labels?.['edited-concurrently']).toBe('yes');
    expect(ds.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(result.plugins[0]!.restartedAt);
  });

  test('a retry after the writes landed does nothing more (the activities called twice with the same input)', async () => {
    await writeSecret({ 'cloud-config': FIXTURE_INI });
    const kube = kubeClientsFor(loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE'))).forCluster('sim');
    const secretInput = { namespace: NS, secret: SECRET, key: 'cloud-config', dryRun: false };
    const first = await ensureRescanOnResize(kube, secretInput, undefined, 1);
    expect(first.outcome).toBe('set');
    const retry = await ensureRescanOnResize(kube, secretInput, undefined, 2);
    expect(retry).toMatchObject({ outcome: 'already-set', resourceVersion: first.resourceVersion });
    expect((await resourceVersions()).secret).toBe(first.resourceVersion);
    expect(await cloudConfig()).toBe(`${FIXTURE_INI}\n[BlockStorage]\nrescan-on-resize=true\n`);

    const restart = {
      kind: 'StatefulSet' as const,
      namespace: NS,
      name: 'cinder-csi-controllerplugin',
      restartedAt: '2026-01-02T03:04:05Z',
      reason: { annotation: CINDER.configVersionAnnotation, value: first.resourceVersion },
      dryRun: false,
    };
    const generation = async () =>
      (await apps.readNamespacedStatefulSet({ name: restart.name, namespace: NS })).metadata?.generation;
    const r1 = await restartWorkload(kube, restart, undefined);
    expect(r1.outcome).toBe('restarted');
    const afterFirst = await generation();
    const r2 = await restartWorkload(kube, restart, undefined);
    expect(r2).toMatchObject({ outcome: 'restarted', detail: 'restarted (this run)' });
    // Another run with a new stamp but the same secret version: already restarted, not again.
    const r3 = await restartWorkload(kube, { ...restart, restartedAt: '2026-01-02T03:09:09Z' }, undefined);
    expect(r3.outcome).toBe('already-restarted');
    // One restart only: the template (generation) changed once, with the first stamp.
    expect(await generation()).toBe(afterFirst);
    const sts = await apps.readNamespacedStatefulSet({ name: restart.name, namespace: NS });
    expect(sts.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(restart.restartedAt);
    await waitFor('controller plugin rolled out', async () => {
      const s = await apps.readNamespacedStatefulSet({ name: restart.name, namespace: NS });
      return (
        (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1) &&
        s.status?.currentRevision === s.status?.updateRevision &&
        s.status?.readyReplicas === 1
      );
    });
  });

  test('missing key, an INI that does not parse, hostile input: clear error, nothing changed', async () => {
    await writeSecret({ other: 'x' });
    let before = await resourceVersions();
    let failure = await failureOf((await start({})).result());
    expect(failure.type).toBe('ConfigInvalid');
    expect(failure.message).toBe(
      `cluster "sim": secret ${NS}/${SECRET}: has no key "cloud-config"; nothing changed`,
    );
    expect(await resourceVersions()).toEqual(before);

    await writeSecret({ 'cloud-config': '[Global]\npassword=hunter2\nthis line is not ini\n' });
    before = await resourceVersions();
    failure = await failureOf((await start({})).result());
    expect(failure.type).toBe('ConfigInvalid');
    expect(failure.message).toMatch(/is not an INI file \(line 3: neither/);
    expect(failure.message).not.toContain('hunter2');
    expect(await resourceVersions()).toEqual(before);

    // No secret at all: named, nothing changed; then the fixtures bring it back.
    await core.deleteNamespacedSecret({ name: SECRET, namespace: NS });
    const pluginsBefore = await resourceVersions().catch(() => undefined);
    expect(pluginsBefore).toBeUndefined(); // (the secret is gone)
    const dsRv = (await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: NS }))
      .metadata?.resourceVersion;
    failure = await failureOf((await start({})).result());
    expect(failure.type).toBe('KubeNotFound');
    expect(failure.message).toBe(`cluster "sim": secret ${NS}/${SECRET} not found; nothing changed`);
    expect(
      (await apps.readNamespacedDaemonSet({ name: 'cinder-csi-nodeplugin', namespace: NS })).metadata
        ?.resourceVersion,
    ).toBe(dsRv);
    await sim.applyFixtures({ resetPods: false });
    expect(await cloudConfig()).toBe(FIXTURE_INI);
    before = await resourceVersions();

    for (const [input, message] of [
      [{ rolloutTimeoutSeconds: '600' }, /rolloutTimeoutSeconds: expected number, received string/],
      [{ dryrun: true }, /unknown field\(s\) dryrun/],
      [{ cluster: '../etc' }, /cluster: a cluster name is lowercase/],
      [{ requireApproval: 'yes' }, /requireApproval: expected boolean/],
    ] as const) {
      const run = await runCli([
        'run',
        'cinder-rescan-on-resize',
        '--task-queue',
        worker.taskQueue,
        '--input-json',
        JSON.stringify({ cluster: 'sim', ...input }),
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(message);
    }
    expect(await resourceVersions()).toEqual(before);
    await writeSecret({ 'cloud-config': FIXTURE_INI });
  });
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
