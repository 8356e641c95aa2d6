/**
 * ghcrMigration on the real stack: Temporal dev server + the simulator's Kubernetes API (real
 * controllers, kwok kubelets). Each test applies its own copy of sim/fixtures/ghcr-migration.yaml in a
 * namespace of its own (one of each kind on docker.pkg.github.com, a digest, a bare pod, Jobs, pull
 * secrets), so nothing here touches `sim up`'s default fixtures.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AppsV1Api, BatchV1Api, type CoreV1Api, type V1Container } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SimHandle } from '../../sim';
import type { WriteTarget } from '../../src/activities/deps';
import type { GhcrMigrationResult } from '../../src/common/procedures/ghcr-migration';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  type RunningWorker,
  runProcedure,
  simAvailable,
  simRegistryWith,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
const FIXTURE = readFileSync(join(REPO_ROOT, 'sim', 'fixtures', 'ghcr-migration.yaml'), 'utf8');
const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

let sim: SimHandle;
let core: CoreV1Api;
let apps: AppsV1Api;
let batch: BatchV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
/** A test's concurrent edit between the worker's read and write (testHooks.beforeWrite). */
let beforeWrite: ((target: WriteTarget) => Promise<void>) | undefined;

const images = (containers: V1Container[] | undefined) => (containers ?? []).map((c) => c.image);

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

maybe('ghcrMigration against the simulator', () => {
  beforeAll(async () => {
    const api = connectSim();
    ({ sim, core, apps } = api);
    batch = api.kc.makeApiClient(BatchV1Api);
    ({ connection, client } = await connectTemporal());
    worker = await startWorker({
      // The old-host pull secret report is off by default (it reads secrets cluster-wide).
      registry: simRegistryWith({ ghcrMigration: { secretReport: true } }),
      testHooks: { beforeWrite: (t) => beforeWrite?.(t) ?? Promise.resolve() },
    });
  });

  afterAll(async () => {
    beforeWrite = undefined;
    await worker?.stop();
    await connection?.close();
  });

  /** The fixture in namespace `ns`, every workload rolled out and the finished Job finished. */
  async function applyFixture(ns: string, extra = ''): Promise<void> {
    await sim.kubectl(['apply', '-f', '-'], { input: FIXTURE.replaceAll('ghcr-demo', ns) + extra });
    await waitFor(`fixtures in ${ns}`, async () => {
      const [web, api, ds, sts, job, pod] = await Promise.all([
        apps.readNamespacedDeployment({ name: 'web', namespace: ns }),
        apps.readNamespacedDeployment({ name: 'api', namespace: ns }),
        apps.readNamespacedDaemonSet({ name: 'agent', namespace: ns }),
        apps.readNamespacedStatefulSet({ name: 'db', namespace: ns }),
        batch.readNamespacedJob({ name: 'backfill-done', namespace: ns }),
        core.readNamespacedPod({ name: 'debug', namespace: ns }),
      ]);
      return (
        web.status?.availableReplicas === 2 &&
        api.status?.availableReplicas === 1 &&
        (ds.status?.numberAvailable ?? 0) === sim.nodes.length &&
        sts.status?.readyReplicas === 2 &&
        (job.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True') &&
        pod.status?.phase === 'Running'
      );
    });
  }

  /** resourceVersion of every object of the namespace, by kind/name. */
  async function versions(ns: string): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    const add = (kind: string, items: { metadata?: { name?: string; resourceVersion?: string } }[]) => {
      for (const i of items) out[`${kind}/${i.metadata?.name}`] = i.metadata?.resourceVersion;
    };
    add('Deployment', (await apps.listNamespacedDeployment({ namespace: ns })).items);
    add('DaemonSet', (await apps.listNamespacedDaemonSet({ namespace: ns })).items);
    add('StatefulSet', (await apps.listNamespacedStatefulSet({ namespace: ns })).items);
    add('CronJob', (await batch.listNamespacedCronJob({ namespace: ns })).items);
    add('Job', (await batch.listNamespacedJob({ namespace: ns })).items);
    add('Secret', (await core.listNamespacedSecret({ namespace: ns })).items);
    add('Pod/debug', [await core.readNamespacedPod({ name: 'debug', namespace: ns })]);
    return out;
  }

  let lastWorkflowId = '';
  async function start(input: Record<string, unknown>) {
    lastWorkflowId = `nks/sim/ghcrMigration/${randomUUID().slice(0, 8)}`;
    return client.workflow.start('ghcrMigration', {
      taskQueue: worker.taskQueue,
      workflowId: lastWorkflowId,
      args: [{ cluster: 'sim', ...input }],
    });
  }

  async function templateImages(ns: string) {
    const web = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    return {
      web: images(web.spec?.template.spec?.containers),
      webInit: images(web.spec?.template.spec?.initContainers),
      api: images(
        (await apps.readNamespacedDeployment({ name: 'api', namespace: ns })).spec?.template.spec?.containers,
      ),
      agent: images(
        (await apps.readNamespacedDaemonSet({ name: 'agent', namespace: ns })).spec?.template.spec
          ?.containers,
      ),
      db: images(
        (await apps.readNamespacedStatefulSet({ name: 'db', namespace: ns })).spec?.template.spec?.containers,
      ),
      report: images(
        (await batch.readNamespacedCronJob({ name: 'report', namespace: ns })).spec?.jobTemplate.spec
          ?.template.spec?.containers,
      ),
    };
  }

  async function podsRunningOn(ns: string, label: string, prefix: string): Promise<boolean> {
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: label })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
    return (
      pods.length > 0 &&
      pods.every((p) => p.status?.phase === 'Running' && images(p.spec?.containers)[0]!.startsWith(prefix))
    );
  }

  test('dry run returns the exact plan and changes nothing (resourceVersions equal)', async () => {
    const ns = 'ghcr-dry';
    await applyFixture(ns);
    const before = await versions(ns);
    const result = (await (await start({ dryRun: true, namespaces: [ns] })).result()) as GhcrMigrationResult;
    expect(result.outcome).toBe('planned');
    const plan = Object.fromEntries(
      result.workloads.map((w) => [`${w.kind}/${w.name}`, w.changes.map((c) => `${c.container}:${c.to}`)]),
    );
    expect(plan).toEqual({
      'Deployment/web': ['web:ghcr.io/acme/shop/web:1.2.3', 'migrate:ghcr.io/acme/shop/migrate:1.2.3'],
      'Deployment/api': [`api:ghcr.io/acme/shop/api:v2@${DIGEST}`],
      'DaemonSet/agent': ['agent:ghcr.io/acme/tools/agent:v1'],
      'StatefulSet/db': ['db:ghcr.io/acme/shop/db:14'],
      'CronJob/report': ['report:ghcr.io/acme/shop/report:1.0'],
    });
    expect(await versions(ns)).toEqual(before);

    // No namespaces: every namespace is scanned (still a dry run: nothing changes).
    const all = (await (await start({ dryRun: true })).result()) as GhcrMigrationResult;
    expect(all.namespaces).toBe('all');
    expect(all.workloads.filter((w) => w.namespace === ns).map((w) => `${w.kind}/${w.name}`)).toEqual(
      Object.keys(plan),
    );
    expect(all.workloads.some((w) => w.namespace === 'kube-system')).toBe(false);
    expect(await versions(ns)).toEqual(before);
  });

  test('same-path: every kind migrated and rolled out, digest kept, Jobs and bare pod untouched; a concurrent edit is re-read, not overwritten; a rerun has nothing to do', async () => {
    const ns = 'ghcr-a';
    await applyFixture(ns);
    const before = await versions(ns);
    const edits: string[] = [];
    beforeWrite = async (t) => {
      if (t.kind === 'Deployment' && t.name === 'web' && t.namespace === ns && t.attempt === 1) {
        // Someone else writes between our read and our write.
        await apps.patchNamespacedDeployment({
          name: 'web',
          namespace: ns,
          body: [{ op: 'add', path: '/metadata/annotations/example.com~1concurrent-edit', value: 'kept' }],
        });
        edits.push('web');
      }
    };
    let result: GhcrMigrationResult;
    try {
      result = (await (await start({ namespaces: [ns] })).result()) as GhcrMigrationResult;
    } finally {
      beforeWrite = undefined;
    }
    expect(edits).toEqual(['web']);
    expect(result.outcome).toBe('migrated');
    expect(await templateImages(ns)).toEqual({
      web: ['ghcr.io/acme/shop/web:1.2.3', 'docker.io/library/nginx:1.25'],
      webInit: ['ghcr.io/acme/shop/migrate:1.2.3'],
      api: [`ghcr.io/acme/shop/api:v2@${DIGEST}`],
      agent: ['ghcr.io/acme/tools/agent:v1'],
      db: ['ghcr.io/acme/shop/db:14'],
      report: ['ghcr.io/acme/shop/report:1.0'],
    });
    // The concurrent edit survived: our write was refused (409), re-read and redone on top of it.
    const web = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(web.metadata?.annotations?.['example.com/concurrent-edit']).toBe('kept');
    const byName = Object.fromEntries(result.workloads.map((w) => [`${w.kind}/${w.name}`, w]));
    // At least our edit; the deployment controller's own status write (after that edit) can be a second one.
    expect(byName['Deployment/web']!.conflicts).toBeGreaterThanOrEqual(1);
    expect(byName['Deployment/web']!.detail).toMatch(/concurrent edit\(s\) re-read/);
    expect(byName['Deployment/web']!.outcome).toBe('migrated');
    expect(byName['CronJob/report']!.outcome).toBe('patched');
    for (const k of ['Deployment/api', 'DaemonSet/agent', 'StatefulSet/db'])
      expect(byName[k]!.outcome).toBe('migrated');
    // Rollouts were waited for: the pods run the new images.
    expect(await podsRunningOn(ns, 'app=web', 'ghcr.io/')).toBe(true);
    expect(await podsRunningOn(ns, 'app=api', 'ghcr.io/')).toBe(true);
    expect(await podsRunningOn(ns, 'app=agent', 'ghcr.io/')).toBe(true);
    expect(await podsRunningOn(ns, 'app=db', 'ghcr.io/')).toBe(true);
    // Jobs and the bare pod: reported, untouched.
    const after = await versions(ns);
    for (const k of ['Job/backfill-done', 'Job/backfill-waiting', 'Pod/debug/debug', 'Secret/github-old'])
      expect([k, after[k]]).toEqual([k, before[k]]);
    const debug = await core.readNamespacedPod({ name: 'debug', namespace: ns });
    expect(images(debug.spec?.containers)).toEqual(['docker.pkg.github.com/acme/tools/debug:latest']);
    expect(result.untouched.map((o) => [o.kind, o.name, o.state]).sort()).toEqual([
      ['Job', 'backfill-done', 'finished'],
      ['Job', 'backfill-waiting', 'suspended'],
      ['Pod', 'debug', 'Running'],
    ]);
    expect(result.secretReport).toBe('reported');
    expect(result.oldHostOnlyPullSecrets).toEqual([
      { namespace: ns, name: 'github-old', hosts: ['docker.pkg.github.com'] },
    ]);

    await recordHistory(client, lastWorkflowId, 'ghcrMigration-sim-migrated');
    const rerunBefore = await versions(ns);
    const rerun = (await (await start({ namespaces: [ns] })).result()) as GhcrMigrationResult;
    expect(rerun.outcome).toBe('nothing-to-do');
    expect(await versions(ns)).toEqual(rerunBefore);
  });

  test('drop-repository through nksr: OWNER/REPO/IMAGE → OWNER/IMAGE, digest kept; an unmappable reference is reported and not changed', async () => {
    const ns = 'ghcr-b';
    const deep = `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: deep
  namespace: ${ns}
spec:
  replicas: 1
  selector:
    matchLabels: { app: deep }
  template:
    metadata:
      labels: { app: deep }
    spec:
      containers:
        - name: deep
          image: docker.pkg.github.com/acme/shop/sub/deep:1
`;
    await applyFixture(ns, deep);
    const deepVersion = (await apps.readNamespacedDeployment({ name: 'deep', namespace: ns })).metadata
      ?.resourceVersion;
    const run = await runProcedure(
      'ghcr-migration',
      'sim',
      worker.taskQueue,
      '--input-json',
      JSON.stringify({ namespaces: [ns] }),
      '--mapping',
      'drop-repository',
      '--wait',
      '--json',
    );
    // One workload cannot be mapped: the run fails (RemediationFailed) with its full report; the rest is migrated.
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/ghcrMigration failed .*RemediationFailed: /);
    const printed = JSON.parse(run.stdout) as { failure: { type: string; report: GhcrMigrationResult } };
    expect(printed.failure.type).toBe('RemediationFailed');
    const result = printed.failure.report;
    expect(result.outcome).toBe('failed');
    expect(await templateImages(ns)).toEqual({
      web: ['ghcr.io/acme/web:1.2.3', 'docker.io/library/nginx:1.25'],
      webInit: ['ghcr.io/acme/migrate:1.2.3'],
      api: [`ghcr.io/acme/api:v2@${DIGEST}`],
      agent: ['ghcr.io/acme/agent:v1'],
      db: ['ghcr.io/acme/db:14'],
      report: ['ghcr.io/acme/report:1.0'],
    });
    const deepWorkload = result.workloads.find((w) => w.name === 'deep')!;
    expect(deepWorkload.outcome).toBe('unmappable');
    expect(deepWorkload.detail).toMatch(/exactly OWNER\/REPOSITORY\/IMAGE/);
    expect(
      (await apps.readNamespacedDeployment({ name: 'deep', namespace: ns })).metadata?.resourceVersion,
    ).toBe(deepVersion);
    expect(await podsRunningOn(ns, 'app=web', 'ghcr.io/acme/web')).toBe(true);
  });

  test('hostile or malformed input: a clear InvalidInput, nothing changed', async () => {
    const ns = 'ghcr-dry';
    const before = await versions(ns);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ namespaces: ['Bad_NS'] }, /namespaces\.0: must be a Kubernetes namespace name/],
      [{ namespaces: ['ghcr-dry; rm -rf /'] }, /namespaces\.0: must be a Kubernetes namespace name/],
      [{ namespaces: ns }, /namespaces: expected array/],
      [{ mapping: 'gchr.io' }, /mapping: .*same-path.*drop-repository/],
      [{ maxParallel: '4' }, /maxParallel: expected number/],
      [{ dryrun: true }, /unknown field\(s\) dryrun/],
      [{ cluster: '../../etc/passwd' }, /cluster: /],
    ];
    for (const [input, message] of cases) {
      const err = await (
        await start({ ...input, ...(input.namespaces === undefined ? { namespaces: [ns] } : {}) })
      )
        .result()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect([cause.type, cause.message]).toEqual(['InvalidInput', expect.stringMatching(message)]);
    }
    expect(await versions(ns)).toEqual(before);
  });
});
