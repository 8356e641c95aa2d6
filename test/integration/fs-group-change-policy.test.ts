/**
 * fsGroupChangePolicy on the real stack: Temporal dev server + the simulator (namespace `media` of the
 * fixtures: photo-store and photo-db set fsGroup, thumbnailer does not; the simulator's
 * `mountTimeout` fault gives photo-store's pods kubelet's "timed out waiting for the condition").
 */
import { randomUUID } from 'node:crypto';
import type { AppsV1Api, CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import type { SimHandle } from '../../sim';
import type { FsGroupChangePolicyResult } from '../../src/common/procedures/fs-group-change-policy';
import { progressQuery } from '../../src/workflows/definitions';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  runCli,
  type RunningWorker,
  runProcedure,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const NS = 'media';
const maybe = simAvailable() ? describe : describe.skip;

let sim: SimHandle;
let core: CoreV1Api;
let apps: AppsV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
let beforeWrite: ((object: string) => Promise<void>) | undefined;

maybe('fsGroupChangePolicy against the simulator', () => {
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

  /** The fixtures' state: no fsGroupChangePolicy anywhere, pods running, no mount-timeout events. */
  async function reset(): Promise<void> {
    const remove = [{ op: 'remove', path: '/spec/template/spec/securityContext/fsGroupChangePolicy' }];
    await apps
      .patchNamespacedDeployment({ name: 'photo-store', namespace: NS, body: remove })
      .catch(() => undefined);
    await apps
      .patchNamespacedStatefulSet({ name: 'photo-db', namespace: NS, body: remove })
      .catch(() => undefined);
    await core.deleteCollectionNamespacedEvent({ namespace: NS });
    await waitFor('media pods running', async () => {
      const pods = await mediaPods();
      return (
        pods.filter((p) => p.metadata?.labels?.app === 'photo-store').length === 2 &&
        pods.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      );
    });
  }

  async function mediaPods(): Promise<V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: NS })).items;
  }

  async function resourceVersions(): Promise<Record<string, string | undefined>> {
    return {
      store: (await apps.readNamespacedDeployment({ name: 'photo-store', namespace: NS })).metadata
        ?.resourceVersion,
      db: (await apps.readNamespacedStatefulSet({ name: 'photo-db', namespace: NS })).metadata
        ?.resourceVersion,
      thumbnailer: (await apps.readNamespacedDeployment({ name: 'thumbnailer', namespace: NS })).metadata
        ?.resourceVersion,
    };
  }

  async function start(input: Record<string, unknown>) {
    return client.workflow.start('fsGroupChangePolicy', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/fsGroupChangePolicy/${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim', ...input }],
    });
  }

  test('dry run: the affected workload and its exact patch; nothing changed (resourceVersions equal)', async () => {
    await reset();
    const pods = await sim.mountTimeout({ namespace: NS, selector: 'app=photo-store' });
    const before = await resourceVersions();
    const result = (await (await start({ dryRun: true })).result()) as FsGroupChangePolicyResult;
    expect(result.outcome).toBe('planned');
    expect(result.mode).toBe('scan');
    const store = result.workloads.find((w) => w.name === 'photo-store')!;
    expect(store).toMatchObject({
      kind: 'Deployment',
      namespace: NS,
      outcome: 'would-patch',
      fsGroup: 2000,
      patch: '{"spec":{"template":{"spec":{"securityContext":{"fsGroupChangePolicy":"OnRootMismatch"}}}}}',
    });
    expect(store.symptomPods).toEqual([...pods].sort());
    expect(store.evidence).toMatch(/^FailedMount: .*timed out waiting for the condition$/);
    expect(result.workloads.find((w) => w.name === 'photo-db')).toMatchObject({ outcome: 'no-symptom' });
    expect(result.workloads.find((w) => w.name === 'thumbnailer')).toBeUndefined();
    expect(await resourceVersions()).toEqual(before);
  });

  test('nksr run: the affected workload patched and rolled, the others untouched; a rerun changes nothing', async () => {
    await reset();
    await sim.mountTimeout({ namespace: NS, selector: 'app=photo-store' });
    const before = await resourceVersions();
    const oldStorePods = (await mediaPods())
      .filter((p) => p.metadata?.labels?.app === 'photo-store')
      .map((p) => p.metadata?.uid);
    const run = await runProcedure('fs-group-change-policy', 'sim', worker.taskQueue, '--wait', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as FsGroupChangePolicyResult;
    expect(result.outcome).toBe('fixed');
    expect(result.workloads.find((w) => w.name === 'photo-store')).toMatchObject({ outcome: 'patched' });
    const store = await apps.readNamespacedDeployment({ name: 'photo-store', namespace: NS });
    expect(store.spec?.template.spec?.securityContext).toEqual({
      runAsUser: 2000,
      fsGroup: 2000,
      fsGroupChangePolicy: 'OnRootMismatch',
    });
    expect(store.status?.updatedReplicas).toBe(2);
    expect(store.status?.availableReplicas).toBe(2);
    await waitFor('photo-store pods replaced', async () => {
      const pods = (await mediaPods()).filter(
        (p) => p.metadata?.labels?.app === 'photo-store' && !p.metadata?.deletionTimestamp,
      );
      return (
        pods.length === 2 &&
        pods.every(
          (p) =>
            !oldStorePods.includes(p.metadata?.uid) &&
            p.spec?.securityContext?.fsGroupChangePolicy === 'OnRootMismatch',
        )
      );
    });
    const after = await resourceVersions();
    expect(after.db).toBe(before.db);
    expect(after.thumbnailer).toBe(before.thumbnailer);
    expect(after.store).not.toBe(before.store);

    // The human report of a rerun: nothing to do, nothing changed.
    await recordHistory(client, 'nks/sim/fsGroupChangePolicy', 'fsGroupChangePolicy-sim-patched');
    const rerun = await runProcedure('fs-group-change-policy', 'sim', worker.taskQueue, '--wait');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout.split('\n')[0]).toMatch(/^nothing-to-do: /);
    expect(await resourceVersions()).toEqual(after);
  });

  test('a list with policy Always: a concurrent edit is re-read, not overwritten; no fsGroup: untouched', async () => {
    await reset();
    const before = await resourceVersions();
    let edited = 0;
    beforeWrite = async (object) => {
      if (object === `StatefulSet ${NS}/photo-db` && edited++ === 0) {
        await apps.patchNamespacedStatefulSet({
          name: 'photo-db',
          namespace: NS,
          body: [{ op: 'add', path: '/metadata/labels/edited-concurrently', value: 'yes' }],
        });
      }
    };
    const result = (await (
      await start({
        policy: 'Always',
        workloads: [
          { kind: 'StatefulSet', namespace: NS, name: 'photo-db' },
          { kind: 'Deployment', namespace: NS, name: 'thumbnailer' },
        ],
      })
    ).result()) as FsGroupChangePolicyResult;
    expect(result.outcome).toBe('fixed');
    expect(result.mode).toBe('list');
    expect(result.workloads.map((w) => [w.name, w.outcome])).toEqual([
      ['photo-db', 'patched'],
      ['thumbnailer', 'no-fsgroup'],
    ]);
    expect(edited).toBe(2); // the first write refused (409), the retry re-read and wrote
    const db = await apps.readNamespacedStatefulSet({ name: 'photo-db', namespace: NS });
    expect(db.metadata?.labels?.['edited-concurrently']).toBe('yes');
    expect(db.spec?.template.spec?.securityContext?.fsGroupChangePolicy).toBe('Always');
    expect(db.status?.currentRevision).toBe(db.status?.updateRevision);
    expect((await resourceVersions()).thumbnailer).toBe(before.thumbnailer);
  });

  test('with requireApproval nothing is patched until `nksr approve`; the approver is in the report', async () => {
    await reset();
    await sim.mountTimeout({ namespace: NS, selector: 'app=photo-store' });
    const before = await resourceVersions();
    const handle = await start({ requireApproval: true, namespaces: [NS] });
    await waitFor('approval gate', async () => (await handle.query(progressQuery)).awaitingApproval);
    expect(await resourceVersions()).toEqual(before);
    const approve = await runCli(['approve', handle.workflowId]);
    expect(approve.code).toBe(0);
    const result = (await handle.result()) as FsGroupChangePolicyResult;
    expect(result).toMatchObject({ outcome: 'fixed', approvedBy: 'sim-operator' });
    expect(result.workloads.map((w) => [w.name, w.outcome])).toEqual([
      ['photo-store', 'patched'],
      ['photo-db', 'no-symptom'],
    ]);
  });

  test('hostile or malformed input and a missing workload: clear error, nothing changed', async () => {
    await reset();
    await sim.mountTimeout({ namespace: NS, selector: 'app=photo-store' });
    const before = await resourceVersions();
    for (const [input, message] of [
      [{ policy: 'Sometimes' }, /policy: Invalid option: expected one of "OnRootMismatch"\|"Always"/],
      [{ workloads: [{ kind: 'Pod', namespace: NS, name: 'x' }] }, /workloads\.0\.kind: Invalid option/],
      [
        { workloads: [{ kind: 'Deployment', namespace: NS, name: 'photo-store; rm -rf /' }] },
        /workloads\.0\.name: must be a Kubernetes object name/,
      ],
      [{ namespaces: ['Media!'] }, /namespaces\.0: must be a Kubernetes namespace name/],
      [{ namespaces: [42] }, /namespaces\.0: expected string, received number/],
      [{ maxParallel: 0 }, /maxParallel: Too small/],
      [
        { workloads: [{ kind: 'Deployment', namespace: NS, name: 'x', extra: 1 }] },
        /unknown field\(s\) extra/,
      ],
    ] as const) {
      const run = await runCli([
        'run',
        'fs-group-change-policy',
        '--task-queue',
        worker.taskQueue,
        '--input-json',
        JSON.stringify({ cluster: 'sim', ...input }),
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(message);
    }
    // Validated at the workflow's edge too (Temporal CLI or another client skipping the CLI's check).
    const bad = await start({ policy: 'Never' })
      .then((h) => h.result())
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(WorkflowFailedError);
    expect(((bad as WorkflowFailedError).cause as ApplicationFailure).type).toBe('InvalidInput');

    const missing = await start({
      workloads: [
        { kind: 'Deployment', namespace: NS, name: 'photo-store' },
        { kind: 'Deployment', namespace: NS, name: 'no-such-app' },
      ],
    })
      .then((h) => h.result())
      .catch((e: unknown) => e);
    const failure = (missing as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe('RemediationFailed');
    expect(failure.message).toBe('not found: deployment/media/no-such-app; nothing changed');
    expect(await resourceVersions()).toEqual(before);
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
