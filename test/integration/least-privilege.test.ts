/**
 * Least privilege, proven on the simulator's real kube-apiserver (`--authorization-mode=Node,RBAC`):
 * deploy/target-cluster-rbac.yaml (generated from the procedure registry) is applied, a token of its
 * ServiceAccount is minted through the TokenRequest API, and a worker whose clusters.yaml points at a
 * kubeconfig holding only that token runs calicoImageRepair and every Kubernetes-side procedure for
 * real (writes included), plus clusterPreflight and nodeInventory. Then the same RBAC with one verb
 * taken away (under other names, bound to another ServiceAccount) makes a run fail with a Forbidden
 * that names the verb and the resource. State is restored after (fixtures re-applied, demo
 * namespaces and RBAC objects deleted).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseAllDocuments, stringify } from 'yaml';
import { loadSim, type SimHandle } from '../../sim';
import type { ClusterPreflightResult } from '../../src/common/preflight-types';
import type { CinderRescanOnResizeResult } from '../../src/common/procedures/cinder-rescan-on-resize';
import type { DockerHubPullSecretResult } from '../../src/common/procedures/docker-hub-pull-secret';
import type { FsGroupChangePolicyResult } from '../../src/common/procedures/fs-group-change-policy';
import type { GhcrMigrationResult } from '../../src/common/procedures/ghcr-migration';
import type { NodeInventoryResult } from '../../src/common/procedures/node-inventory';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import {
  requiredEnv,
  runProcedure,
  simAvailable,
  startWorker,
  tempDir,
  writeFile,
  type RunningWorker,
} from './helpers';

const maybe = simAvailable() ? describe : describe.skip;

const RBAC_FILE = join(REPO_ROOT, 'deploy', 'target-cluster-rbac.yaml');
const SA = { name: 'nksr-remediator', namespace: 'kube-system' };
/** The cluster names the worker knows: the full RBAC, and the RBAC with one verb taken away. */
const LEAST = 'sim-least';
const DENIED = 'sim-denied';
const DENIED_NAME = 'nksr-remediator-denied';
const CINDER_SECRET = 'cinder-csi-cloud-config';
const GHCR_NS = 'rbac-ghcr';
const HUB_NS = 'rbac-hub';
const RATE_LIMIT =
  'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit ({image})';

/** Small fixtures of their own (the procedures' own tests cover every kind). */
const GHCR_FIXTURE = `
apiVersion: v1
kind: Namespace
metadata: { name: ${GHCR_NS} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${GHCR_NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: 'docker.pkg.github.com/acme/shop/web:1.2.3' }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: ${GHCR_NS} }
spec:
  schedule: '0 3 * * *'
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: report, image: 'docker.pkg.github.com/acme/shop/report:1.0.0' }]
`;
const HUB_FIXTURE = `
apiVersion: v1
kind: Namespace
metadata: { name: ${HUB_NS} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: shop, namespace: ${HUB_NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: shop } }
  template:
    metadata: { labels: { app: shop } }
    spec:
      containers: [{ name: shop, image: 'nginx:1.25-rbac-hub' }]
`;

let sim: SimHandle;
let admin: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
let dir: string;
/** The cinder cloud-config as the fixtures made it, written back after the runs that change it. */
let cinderData: Record<string, string> | undefined;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);

/**
 * The generated RBAC documents; with `denied`, renamed (objects and ServiceAccount) and with `verb`
 * taken away from the rule granting it on `resource` (named `resourceName`) in `namespace`.
 */
function rbacDocuments(denied?: {
  namespace: string;
  resource: string;
  resourceName: string;
  verb: string;
}): string {
  const docs = parseAllDocuments(readFileSync(RBAC_FILE, 'utf8')).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string; namespace?: string };
        rules?: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
        roleRef?: { name: string };
        subjects?: { name: string }[];
      },
  );
  if (denied) {
    let removed = 0;
    for (const d of docs) {
      d.metadata.name = DENIED_NAME;
      if (d.roleRef) d.roleRef.name = DENIED_NAME;
      for (const s of d.subjects ?? []) s.name = DENIED_NAME;
      if (d.kind !== 'Role' || d.metadata.namespace !== denied.namespace) continue;
      for (const r of d.rules ?? []) {
        if (r.resources.includes(denied.resource) && r.resourceNames?.includes(denied.resourceName)) {
          removed += r.verbs.includes(denied.verb) ? 1 : 0;
          r.verbs = r.verbs.filter((v) => v !== denied.verb);
        }
      }
    }
    if (removed !== 1) throw new Error(`expected one rule granting ${denied.verb}, found ${removed}`);
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

/** A kubeconfig that authenticates with a TokenRequest token of `serviceAccount` only. */
async function serviceAccountKubeconfig(serviceAccount: string, file: string): Promise<string> {
  const token = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: SA.namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const caData = cluster.caData ?? readFileSync(cluster.caFile!).toString('base64');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sim', cluster: { server: cluster.server, 'certificate-authority-data': caData } }],
    users: [{ name: serviceAccount, user: { token: token.status!.token } }],
    contexts: [{ name: serviceAccount, context: { cluster: 'sim', user: serviceAccount } }],
    'current-context': serviceAccount,
  };
  return writeFile(dir, file, stringify(kubeconfig));
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  // An activity's failure arrives wrapped (ActivityFailure → ApplicationFailure) or as the workflow's own.
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: unknown }).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

maybe('least privilege: the generated RBAC in the simulator, a ServiceAccount token only', () => {
  beforeAll(async () => {
    sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
    admin = new KubeConfig();
    admin.loadFromFile(sim.kubeconfigPath);
    core = admin.makeApiClient(CoreV1Api);
    apps = admin.makeApiClient(AppsV1Api);
    dir = tempDir('rbac');
    cinderData = (await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' })).data;

    await sim.kubectl(['apply', '-f', RBAC_FILE]);
    await sim.kubectl(['apply', '-f', '-'], {
      input: rbacDocuments({
        namespace: 'kube-system',
        resource: 'secrets',
        resourceName: CINDER_SECRET,
        verb: 'update',
      }),
    });
    const simEntry = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')).get('sim');
    const credentialsFile = writeFile(
      dir,
      'dockerhub.json',
      JSON.stringify({ username: 'nksr-rbac-test', token: `dckr_pat_FAKE${randomUUID().slice(0, 8)}` }),
    );
    const entry = (kubeconfig: string) => ({
      ...simEntry,
      kubeconfig,
      context: undefined,
      dockerHub: { credentialsFile },
    });
    worker = await startWorker({
      registry: registryFromEntries({
        [LEAST]: entry(await serviceAccountKubeconfig(SA.name, 'least.kubeconfig')),
        [DENIED]: entry(await serviceAccountKubeconfig(DENIED_NAME, 'denied.kubeconfig')),
      }),
    });
    connection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
    client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    if (!sim) return;
    await sim.clearImageFaults().catch(() => undefined);
    for (const ns of [GHCR_NS, HUB_NS])
      await sim.kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => '');
    await sim
      .kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: rbacDocuments() })
      .catch(() => '');
    await sim
      .kubectl(['delete', 'clusterrole,clusterrolebinding', DENIED_NAME, '--ignore-not-found'])
      .catch(() => '');
    await sim
      .kubectl([
        'delete',
        '-n',
        'kube-system',
        'role,rolebinding,serviceaccount',
        DENIED_NAME,
        '--ignore-not-found',
      ])
      .catch(() => '');
    // calico back to broken, the cinder cloud-config back to the fixture's.
    await sim.applyFixtures().catch(() => undefined);
    await restoreCinderSecret().catch(() => undefined);
    const remove = [{ op: 'remove', path: '/spec/template/spec/securityContext/fsGroupChangePolicy' }];
    await apps
      .patchNamespacedDeployment({ name: 'photo-store', namespace: 'media', body: remove })
      .catch(() => undefined);
  });

  async function restoreCinderSecret(): Promise<void> {
    const secret = await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' });
    await core.replaceNamespacedSecret({
      name: CINDER_SECRET,
      namespace: 'kube-system',
      body: { ...secret, data: cinderData },
    });
  }

  async function run<R>(workflowType: string, input: Record<string, unknown>, cluster = LEAST): Promise<R> {
    const handle = await client.workflow.start(workflowType, {
      taskQueue: worker.taskQueue,
      workflowId: `nks/${cluster}/${workflowType}/${randomUUID().slice(0, 8)}`,
      args: [{ cluster, ...input }],
    });
    return (await handle.result()) as R;
  }

  test('the token is the ServiceAccount, not an admin: it may list nodes but not namespaces', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'least.kubeconfig'));
    const saCore = kc.makeApiClient(CoreV1Api);
    expect((await saCore.listNode()).items.length).toBe(sim.nodes.length);
    await expect(saCore.listNamespace()).rejects.toMatchObject({ code: 403 });
  });

  test('clusterPreflight and nodeInventory (SSH; node addresses read with the token)', async () => {
    const preflight = await run<ClusterPreflightResult>('clusterPreflight', {});
    expect(preflight.nodes).toHaveLength(sim.nodes.length);
    expect(preflight.readyCount).toBe(sim.nodes.length);
    const inventory = await run<NodeInventoryResult>('nodeInventory', {});
    expect(inventory.outcome).toBe('complete');
  });

  test('calicoImageRepair repairs the broken calico (pre-pull pods, patches, rollouts)', async () => {
    const result = await run<CalicoImageRepairResult>('calicoImageRepair', { maxParallel: 10 });
    expect(result.outcome).toBe('repaired');
    expect(result.prePulls.every((p) => p.outcome === 'pulled')).toBe(true);
    expect(result.workloads.map((w) => w.outcome)).toEqual(['updated', 'updated', 'updated']);
    const ds = await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: 'kube-system' });
    expect(ds.spec?.template.spec?.containers[0]?.image).toBe('docker.io/calico/node:v3.24.1');
  });

  test('cinderRescanOnResize sets rescan-on-resize and restarts the plugins', async () => {
    const result = await run<CinderRescanOnResizeResult>('cinderRescanOnResize', {});
    expect(result.outcome).toBe('fixed');
    const secret = await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' });
    expect(Buffer.from(secret.data!['cloud-config']!, 'base64').toString()).toMatch(
      /\[BlockStorage\]\s*\nrescan-on-resize\s*=\s*true/,
    );
  });

  test('fsGroupChangePolicy patches the workload with the mount-timeout symptom', async () => {
    await sim.mountTimeout({ namespace: 'media', selector: 'app=photo-store' });
    const result = await run<FsGroupChangePolicyResult>('fsGroupChangePolicy', { namespaces: ['media'] });
    expect(result.outcome).toBe('fixed');
    expect(result.workloads.find((w) => w.name === 'photo-store')?.outcome).toBe('patched');
  });

  test('ghcrMigration migrates a Deployment and a CronJob', async () => {
    await sim.kubectl(['apply', '-f', '-'], { input: GHCR_FIXTURE });
    await waitFor('the ghcr fixture rolled out', async () => {
      const web = await apps.readNamespacedDeployment({ name: 'web', namespace: GHCR_NS });
      return web.status?.availableReplicas === 1;
    });
    const result = await run<GhcrMigrationResult>('ghcrMigration', { namespaces: [GHCR_NS] });
    expect(result.outcome).toBe('migrated');
    const web = await apps.readNamespacedDeployment({ name: 'web', namespace: GHCR_NS });
    expect(web.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/shop/web:1.2.3');
  });

  test('dockerHubPullSecret creates the secret, updates the service account, recreates the stuck pod', async () => {
    await sim.failImage({ pattern: '-rbac-hub$', message: RATE_LIMIT });
    await sim.kubectl(['apply', '-f', '-'], { input: HUB_FIXTURE });
    await waitFor('the stuck pod', async () => {
      const pods = live((await core.listNamespacedPod({ namespace: HUB_NS })).items);
      return (
        pods.length === 1 &&
        ['ErrImagePull', 'ImagePullBackOff'].includes(
          pods[0]!.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '',
        )
      );
    });
    const result = run<DockerHubPullSecretResult>('dockerHubPullSecret', { namespaces: [HUB_NS] });
    // The simulator checks no credentials: once the secret exists, Docker Hub "lets the pulls through".
    await waitFor('the pull secret', async () =>
      (await core.listNamespacedSecret({ namespace: HUB_NS })).items.some(
        (s) => s.metadata?.name === 'dockerhub-pull-secret',
      ),
    );
    await sim.clearImageFaults();
    const r = await result;
    expect(r.outcome).toBe('fixed');
    expect(r.secrets).toEqual([{ namespace: HUB_NS, secret: 'dockerhub-pull-secret', action: 'created' }]);
    expect(r.serviceAccounts.map((s) => [s.serviceAccount, s.action])).toEqual([['default', 'added']]);
    expect(r.pods.map((p) => p.outcome)).toEqual(['recreated']);
  });

  test('one verb taken away: a Forbidden naming the verb and the resource, and nothing changed', async () => {
    // The run above set it; the cloud-config without the key needs the write again.
    await restoreCinderSecret();
    const before = await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' });
    const failure = await failureOf(run('cinderRescanOnResize', {}, DENIED));
    expect(failure.type).toBe('KubeForbidden');
    expect(failure.message).toContain(
      `forbidden (403): system:serviceaccount:kube-system:${DENIED_NAME} may not update secrets in namespace kube-system;`,
    );
    const after = await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);

    // What an operator sees.
    const cli = await runProcedure('cinder-rescan-on-resize', DENIED, worker.taskQueue, '--wait');
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(
      /KubeForbidden: cluster "sim-denied": update secret kube-system\/cinder-csi-cloud-config: forbidden \(403\): \S+ may not update secrets in namespace kube-system; grant it/,
    );
  });
});
