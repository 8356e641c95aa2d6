/**
 * Least privilege, proven on the simulator's real kube-apiserver (`--authorization-mode=Node,RBAC`):
 * every procedure runs with only its own generated role bound (deploy/rbac/nksr-<procedure>.yaml,
 * applied under a ServiceAccount of its own), through a worker whose clusters.yaml entry for it
 * holds a kubeconfig with only that ServiceAccount's TokenRequest token and enables only that
 * procedure. Writes are real. The API server's audit log then shows that no request of any of them
 * was refused and, for the procedures whose fixtures exercise every path, that each permission they
 * declare was used. Then cinder's role with one verb taken away makes a run fail with a Forbidden
 * that names the verb and the resource, and a procedure the cluster does not enable is refused by
 * the worker before anything changes. State is restored after (fixtures re-applied, demo namespaces
 * and RBAC objects deleted).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseAllDocuments, stringify } from 'yaml';
import { auditLogPath, type SimHandle } from '../../sim';
import { ALL_PROCEDURES, procedureOf, type WorkflowType } from '../../src/common/procedures';
import type { ClusterDiagnosisResult } from '../../src/common/procedures/cluster-diagnosis';
import type { ClosedNetworkImageRecoveryResult } from '../../src/common/procedures/closed-network-image-recovery';
import type { DisableKmemAccountingResult } from '../../src/common/procedures/disable-kmem-accounting';
import type { LogrotateSyncResult } from '../../src/common/procedures/logrotate-sync';
import type { NfsLockServicesRestartResult } from '../../src/common/procedures/nfs-lock-services-restart';
import type { ClusterEntry } from '../../src/common/registry-schema';
import type { ClusterPreflightResult } from '../../src/common/preflight-types';
import type { CinderRescanOnResizeResult } from '../../src/common/procedures/cinder-rescan-on-resize';
import type { DockerHubPullSecretResult } from '../../src/common/procedures/docker-hub-pull-secret';
import type { FsGroupChangePolicyResult } from '../../src/common/procedures/fs-group-change-policy';
import type { GhcrMigrationResult } from '../../src/common/procedures/ghcr-migration';
import type { NodeInventoryResult } from '../../src/common/procedures/node-inventory';
import { RBAC_DIR, roleName } from '../../src/client/rbac-manifests';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import {
  connectSim,
  connectTemporal,
  requiredEnv,
  type RunningWorker,
  runProcedure,
  simAvailable,
  startWorker,
  tempDir,
  useSharedSim,
  writeFile,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;

const SA_NAMESPACE = 'kube-system';
/** Each procedure's ServiceAccount, role names and cluster name (clusters.yaml) in this test. */
const lp = (workflowType: WorkflowType) => {
  const cli = procedureOf(workflowType).cliName;
  return { serviceAccount: `nksr-lp-${cli}`, cluster: `lp-${cli}` };
};
/** cinder's role with one verb taken away, under names of its own. */
const DENIED = 'lp-denied';
const DENIED_NAME = 'nksr-lp-denied';
/** Procedures whose runs here take every path their permissions are for (the audit log shows each one used). */
const FULLY_EXERCISED: readonly WorkflowType[] = [
  'calicoImageRepair',
  'cinderRescanOnResize',
  'clusterPreflight',
  'dockerHubPullSecret',
  'ghcrMigration',
  'logrotateSync',
  'nodeInventory',
];
/** The lock's renewal: only a run holding it longer than the renewal interval updates it (calico's here). */
const RENEWAL_ONLY: readonly WorkflowType[] = [
  'cinderRescanOnResize',
  'dockerHubPullSecret',
  'ghcrMigration',
  'logrotateSync',
];
/**
 * Permissions a fully exercised run uses only on a path this fixture does not take: dockerHub reads
 * events only for stuck pods whose status does not already say toomanyrequests (the simulator's
 * image fault puts the message in both).
 */
const CONDITIONAL: readonly string[] = ['dockerHubPullSecret list events'];
const CINDER_SECRET = 'cinder-csi-cloud-config';
const GHCR_NS = 'rbac-ghcr';
/** Namespaces of dockerHubPullSecret: one without the pull secret (created), one with a stale one (updated). */
const HUB_NEW = 'rbac-hub-new';
const HUB_STALE = 'rbac-hub-stale';
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
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent, namespace: ${GHCR_NS} }
spec:
  selector: { matchLabels: { app: agent } }
  template:
    metadata: { labels: { app: agent } }
    spec:
      containers: [{ name: agent, image: 'docker.pkg.github.com/acme/shop/agent:1.0.0' }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: ${GHCR_NS} }
spec:
  serviceName: db
  replicas: 1
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec:
      containers: [{ name: db, image: 'docker.pkg.github.com/acme/shop/db:1.0.0' }]
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
/** A stuck Deployment in `ns`; with `staleSecret`, our pull secret of an older credential is there already. */
const hubFixture = (ns: string, staleSecret: boolean) => `
apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
${
  staleSecret
    ? `apiVersion: v1
kind: Secret
metadata:
  name: dockerhub-pull-secret
  namespace: ${ns}
  labels: { app.kubernetes.io/managed-by: nks-remediation }
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"https://index.docker.io/v1/":{"auth":"b2xkOmNyZWRlbnRpYWw="}}}'
---`
    : ''
}
apiVersion: apps/v1
kind: Deployment
metadata: { name: shop, namespace: ${ns} }
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
/** The procedures this file ran with the full RBAC (their permissions are checked against the audit log). */
const ran = new Set<WorkflowType>();

/** One request of the ServiceAccount, from the API server's audit log. */
interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
  roleRef?: { name: string };
  subjects?: { name: string }[];
}

/**
 * The committed role file of `workflowType` (or of one of its features), its objects renamed to
 * `name` and bound to the ServiceAccount `name`; with `denied`, `verb` taken away from the rule
 * granting it on `resource` (named `resourceName`) in `namespace`.
 */
function roleDocuments(
  workflowType: WorkflowType,
  name: string,
  opts: {
    feature?: string;
    denied?: { namespace: string; resource: string; resourceName: string; verb: string };
  } = {},
): string {
  const file = join(REPO_ROOT, RBAC_DIR, `${roleName(procedureOf(workflowType), opts.feature)}.yaml`);
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as RbacObject);
  let removed = 0;
  for (const d of docs) {
    d.metadata.name = opts.feature ? `${name}-${opts.feature}` : name;
    if (d.roleRef) d.roleRef.name = d.metadata.name;
    for (const s of d.subjects ?? []) s.name = name;
    const denied = opts.denied;
    if (!denied || d.kind !== 'Role' || d.metadata.namespace !== denied.namespace) continue;
    for (const r of d.rules ?? []) {
      if (r.resources.includes(denied.resource) && r.resourceNames?.includes(denied.resourceName)) {
        removed += r.verbs.includes(denied.verb) ? 1 : 0;
        r.verbs = r.verbs.filter((v) => v !== denied.verb);
      }
    }
  }
  if (opts.denied && removed !== 1)
    throw new Error(`expected one rule granting ${opts.denied.verb}, found ${removed}`);
  return docs.map((d) => stringify(d)).join('---\n');
}

const serviceAccountDocument = (name: string) =>
  stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: SA_NAMESPACE } });

/** A kubeconfig that authenticates with a TokenRequest token of `serviceAccount` only. */
async function serviceAccountKubeconfig(serviceAccount: string, file: string): Promise<string> {
  const token = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: SA_NAMESPACE,
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

maybe('least privilege: each procedure with only its own role, a ServiceAccount token only', () => {
  /** Every RBAC object this file applied, for the cleanup. */
  const applied: string[] = [];
  const apply = async (yaml: string) => {
    applied.push(yaml);
    await sim.kubectl(['apply', '-f', '-'], { input: yaml });
  };

  beforeAll(async () => {
    ({ sim, kc: admin, core, apps } = connectSim());
    dir = tempDir('rbac');
    cinderData = (await core.readNamespacedSecret({ name: CINDER_SECRET, namespace: 'kube-system' })).data;
    // The calico test below repairs calico broken as `sim up` made it, whatever ran before.
    await sim.clearImageFaults();
    await sim.applyFixtures();

    const simEntry = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')).get('sim');
    const credentialsFile = writeFile(
      dir,
      'dockerhub.json',
      JSON.stringify({ username: 'nksr-rbac-test', token: `dckr_pat_FAKE${randomUUID().slice(0, 8)}` }),
    );
    const entry = (kubeconfig: string, procedures: WorkflowType[]): ClusterEntry => ({
      ...simEntry,
      kubeconfig,
      context: undefined,
      dockerHub: { credentialsFile },
      procedures,
      policy: {
        dockerHubPullSecret: { namespaces: ['rbac-hub-*'] },
        ghcrMigration: { secretReport: true },
        // Runs that do not wait for a person: approvals have tests of their own.
        approvals: { disableKmemAccounting: 'on-request', closedNetworkImageRecovery: 'on-request' },
      },
    });
    const entries: Record<string, ClusterEntry> = {};
    for (const p of ALL_PROCEDURES) {
      const workflowType = p.workflowType as WorkflowType;
      const { serviceAccount, cluster } = lp(workflowType);
      await apply(serviceAccountDocument(serviceAccount));
      await apply(roleDocuments(workflowType, serviceAccount));
      for (const feature of new Set(p.permissions.flatMap((k) => (k.feature ? [k.feature] : []))))
        await apply(roleDocuments(workflowType, serviceAccount, { feature }));
      entries[cluster] = entry(await serviceAccountKubeconfig(serviceAccount, `${cluster}.kubeconfig`), [
        workflowType,
      ]);
    }
    await apply(serviceAccountDocument(DENIED_NAME));
    await apply(
      roleDocuments('cinderRescanOnResize', DENIED_NAME, {
        denied: {
          namespace: 'kube-system',
          resource: 'secrets',
          resourceName: CINDER_SECRET,
          verb: 'update',
        },
      }),
    );
    entries[DENIED] = entry(await serviceAccountKubeconfig(DENIED_NAME, 'denied.kubeconfig'), [
      'cinderRescanOnResize',
    ]);
    worker = await startWorker({ registry: registryFromEntries(entries) });
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    if (!sim) return;
    await sim.clearImageFaults().catch(() => undefined);
    for (const ns of [GHCR_NS, HUB_NEW, HUB_STALE])
      await sim.kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => '');
    for (const yaml of applied.reverse())
      await sim.kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: yaml }).catch(() => '');
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

  /** A run of `workflowType` on its own cluster entry (only its role bound, only it enabled). */
  async function run<R>(
    workflowType: WorkflowType,
    input: Record<string, unknown>,
    cluster?: string,
  ): Promise<R> {
    if (!cluster) ran.add(workflowType);
    const on = cluster ?? lp(workflowType).cluster;
    const handle = await client.workflow.start(workflowType, {
      taskQueue: worker.taskQueue,
      workflowId: `nks/${on}/${workflowType}/${randomUUID().slice(0, 8)}`,
      args: [{ cluster: on, ...input }],
    });
    return (await handle.result()) as R;
  }

  test('the token is the ServiceAccount, not an admin: it may list nodes but not namespaces', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, `${lp('calicoImageRepair').cluster}.kubeconfig`));
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

  test('a procedure its cluster does not enable is refused by the worker before any request', async () => {
    const ds = () => apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: 'kube-system' });
    const before = (await ds()).metadata?.resourceVersion;
    const { cluster } = lp('cinderRescanOnResize');
    const failure = await failureOf(run('calicoImageRepair', {}, cluster));
    expect(failure.type).toBe('PolicyRefused');
    expect(failure.message).toBe(
      `cluster "${cluster}": calicoImageRepair refused by the worker's policy; it is not among clusters.${cluster}.procedures (cinderRescanOnResize); add it there (and bind its role: nksr rbac --cluster ${cluster}) to allow it`,
    );
    expect((await ds()).metadata?.resourceVersion).toBe(before);
    // Its very first activity was refused: no pre-pull pod, no lock.
    const pods = await core.listNamespacedPod({ namespace: 'kube-system' });
    expect(pods.items.filter((p) => p.metadata?.name?.startsWith('nksr-prepull-'))).toEqual([]);
    await expect(
      admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: 'nksr-cluster-lock', namespace: 'kube-system' }),
    ).rejects.toMatchObject({ code: 404 });
  });

  test('calicoImageRepair repairs the broken calico (pre-pull pods, patches, rollouts)', async () => {
    // A short lock TTL: the run renews the cluster lock (every 5 s) while it pre-pulls and rolls, so
    // the lock's `update` is in the audit log too, not only its create and delete.
    const result = await run<CalicoImageRepairResult>('calicoImageRepair', {
      maxParallel: 10,
      lockTtlSeconds: 15,
    });
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

  test('ghcrMigration migrates a Deployment, a DaemonSet, a StatefulSet and a CronJob', async () => {
    await sim.kubectl(['apply', '-f', '-'], { input: GHCR_FIXTURE });
    await waitFor('the ghcr fixture rolled out', async () => {
      const [web, agent, db] = await Promise.all([
        apps.readNamespacedDeployment({ name: 'web', namespace: GHCR_NS }),
        apps.readNamespacedDaemonSet({ name: 'agent', namespace: GHCR_NS }),
        apps.readNamespacedStatefulSet({ name: 'db', namespace: GHCR_NS }),
      ]);
      return (
        web.status?.availableReplicas === 1 &&
        agent.status?.numberAvailable === sim.nodes.length &&
        db.status?.readyReplicas === 1
      );
    });
    const result = await run<GhcrMigrationResult>('ghcrMigration', { namespaces: [GHCR_NS] });
    expect(result.outcome).toBe('migrated');
    const web = await apps.readNamespacedDeployment({ name: 'web', namespace: GHCR_NS });
    expect(web.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/shop/web:1.2.3');
    const db = await apps.readNamespacedStatefulSet({ name: 'db', namespace: GHCR_NS });
    expect(db.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/shop/db:1.0.0');
  });

  test('dockerHubPullSecret creates or updates the secret, updates the service accounts, recreates the stuck pods', async () => {
    await sim.failImage({ pattern: '-rbac-hub$', message: RATE_LIMIT });
    await sim.kubectl(['apply', '-f', '-'], {
      input: `${hubFixture(HUB_NEW, false)}---${hubFixture(HUB_STALE, true)}`,
    });
    for (const ns of [HUB_NEW, HUB_STALE])
      await waitFor(`the stuck pod in ${ns}`, async () => {
        const pods = live((await core.listNamespacedPod({ namespace: ns })).items);
        return (
          pods.length === 1 &&
          ['ErrImagePull', 'ImagePullBackOff'].includes(
            pods[0]!.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '',
          )
        );
      });
    const secretVersion = async (ns: string) =>
      (await core.listNamespacedSecret({ namespace: ns })).items.find(
        (s) => s.metadata?.name === 'dockerhub-pull-secret',
      )?.metadata?.resourceVersion;
    const stale = await secretVersion(HUB_STALE);
    const result = run<DockerHubPullSecretResult>('dockerHubPullSecret', {
      namespaces: [HUB_NEW, HUB_STALE],
    });
    // The simulator checks no credentials: once the secrets are in place, Docker Hub "lets the pulls through".
    await waitFor('both pull secrets written', async () => {
      const [created, updated] = await Promise.all([secretVersion(HUB_NEW), secretVersion(HUB_STALE)]);
      return created !== undefined && updated !== stale;
    });
    await sim.clearImageFaults();
    const r = await result;
    expect(r.outcome).toBe('fixed');
    expect(r.secrets).toEqual([
      { namespace: HUB_NEW, secret: 'dockerhub-pull-secret', action: 'created' },
      { namespace: HUB_STALE, secret: 'dockerhub-pull-secret', action: 'updated' },
    ]);
    expect(r.serviceAccounts.map((s) => [s.namespace, s.serviceAccount, s.action])).toEqual([
      [HUB_NEW, 'default', 'added'],
      [HUB_STALE, 'default', 'added'],
    ]);
    expect(r.pods.map((p) => p.outcome)).toEqual(['recreated', 'recreated']);
  });

  test('logrotateSync installs the guide’s config on a node over SSH', async () => {
    const node = sim.nodes[0]!.name;
    const r = await run<LogrotateSyncResult>('logrotateSync', { nodes: [node] });
    expect(r.outcome).toBe('complete');
    expect(r.nodes.map((n) => n.node)).toEqual([node]);
  });

  test('nfsLockServicesRestart checks and restarts the lock services of a node', async () => {
    const node = sim.nodes[1]!.name;
    const r = await run<NfsLockServicesRestartResult>('nfsLockServicesRestart', { nodes: [node] });
    expect(r.outcome).not.toBe('partial');
    expect(r.nodes.map((n) => [n.node, n.outcome])).toEqual([[node, 'fixed']]);
  });

  test('closedNetworkImageRecovery checks the images of a node', async () => {
    const node = sim.nodes[1]!.name;
    const r = await run<ClosedNetworkImageRecoveryResult>('closedNetworkImageRecovery', { nodes: [node] });
    expect(['complete', 'nothing-to-do']).toContain(r.outcome);
  });

  test('disableKmemAccounting cordons, drains, edits grub and reboots a node, then uncordons it', async () => {
    const node = sim.nodes[2]!.name;
    const r = await run<DisableKmemAccountingResult>('disableKmemAccounting', {
      nodes: [node],
      requireApproval: false,
      healthPollSeconds: 1,
      lockPollSeconds: 1,
      drainTimeoutSeconds: 60,
    });
    expect(r.outcome).toBe('complete');
    expect(r.nodes.map((n) => [n.node, n.outcome])).toEqual([[node, 'rebooted']]);
    expect((await core.readNode({ name: node })).spec?.unschedulable).toBeFalsy();
  });

  test('clusterDiagnosis reads every symptom with its read-only role', async () => {
    const r = await run<ClusterDiagnosisResult>('clusterDiagnosis', {});
    expect(r.outcome).not.toBe('incomplete');
  });

  test('every procedure ran with its own role; none was refused anything; each permission of the fully exercised ones was used', async () => {
    expect([...ran].sort()).toEqual(ALL_PROCEDURES.map((p) => p.workflowType).sort());
    const all = readFileSync(auditLogPath(sim.dir), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.stage === 'ResponseComplete');
    const problems: string[] = [];
    for (const workflowType of ran) {
      const user = `system:serviceaccount:${SA_NAMESPACE}:${lp(workflowType).serviceAccount}`;
      const events = all.filter((e) => e.user.username === user);
      expect([workflowType, events.length > 0]).toEqual([workflowType, true]);
      // The first test's `list namespaces` is refused on purpose; nothing a procedure did may be.
      for (const e of events)
        if (e.responseStatus?.code === 403 && e.objectRef?.resource !== 'namespaces')
          problems.push(
            `${workflowType}: refused ${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.objectRef?.namespace ?? ''}`,
          );
      if (!FULLY_EXERCISED.includes(workflowType)) continue;
      for (const k of procedureOf(workflowType).permissions) {
        for (const resource of k.resources) {
          for (const verb of k.verbs) {
            const used = events.some(
              (e) =>
                e.verb === verb &&
                (e.objectRef?.apiGroup ?? '') === k.apiGroup &&
                [e.objectRef?.resource, e.objectRef?.subresource].filter(Boolean).join('/') === resource &&
                (!k.namespace || e.objectRef?.namespace === k.namespace) &&
                (!k.resourceNames || k.resourceNames.includes(e.objectRef?.name ?? '')),
            );
            const renewal =
              k.apiGroup === 'coordination.k8s.io' && resource === 'leases' && verb === 'update';
            if (!used && renewal && RENEWAL_ONLY.includes(workflowType)) continue;
            if (!used && CONDITIONAL.includes(`${workflowType} ${verb} ${resource}`)) continue;
            if (!used)
              problems.push(
                `${workflowType}: unused ${verb} ${k.apiGroup ? `${k.apiGroup}/` : ''}${resource}`,
              );
          }
        }
      }
    }
    expect(problems).toEqual([]);
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
      /KubeForbidden: cluster "lp-denied": update secret kube-system\/cinder-csi-cloud-config: forbidden \(403\): \S+ may not update secrets in namespace kube-system; grant it/,
    );
  });
});
