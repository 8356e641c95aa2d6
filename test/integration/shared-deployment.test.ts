/**
 * The shared deployment (`npm run shared`) on loopback: PostgreSQL, the Temporal server built from
 * go.temporal.io/server with mTLS and the role authorizer, the UI server, two supervised workers of
 * one build serving the suite's simulator. One deployment serves every test of this file, in order:
 * what each role's token can and cannot do; a second worker build whose workflow code cannot replay
 * the first's histories made current while a rolling reboot of the first waits for approval; the
 * Helm chart rendered and applied with a server-side dry run against the simulator's API server.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { DeterminismViolationError } from '@temporalio/workflow';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import YAML from 'yaml';
import { loadSim } from '../../sim';
import { testSimPlace } from '../../sim/testing';
import {
  connectAs,
  DEPLOYMENT_NAME,
  readDesired,
  readPlan,
  readState,
  roleEnv,
  sharedBinDir,
} from '../../shared/deployment';
import { signToken } from '../../shared/tokens';
import { currentBuild, setCurrentBuild } from '../../shared/versions';
import { isRunning } from '../../sim/process';
import { readState as readSimState } from '../../sim/state';
import type { Progress } from '../../src/workflows/definitions';
import { loadClusterRegistry } from '../../src/worker/registry';
import { createWorker, WORKFLOWS_PATH } from '../../src/worker/worker';
import { TASK_QUEUE } from '../../src/common/procedures';
import { approveRun, requiredEnv, runShared, simAvailable, useSharedSim } from './helpers';

useSharedSim();
const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, '..', '..');
const DIR = path.join(testSimPlace('shared-deployment').dir, 'deployment');
const EXTRA_TIMER = require.resolve('./fixtures/extra-timer-interceptor');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const shared = (args: string[]) => runShared(DIR, args);

/** The gRPC status code of a refused call (7 PERMISSION_DENIED, 16 UNAUTHENTICATED), or 'allowed'. */
async function outcome(call: () => Promise<unknown>): Promise<number | 'allowed'> {
  try {
    await call();
    return 'allowed';
  } catch (err) {
    // The workflow client wraps the gRPC error; its cause carries the status.
    const e = err as { code?: unknown; cause?: { code?: unknown } };
    const code = e.code ?? e.cause?.code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

/** A connection with the role's certificate and whatever token (or none) the test chooses. */
async function connectWith(role: string, apiKey: string | undefined): Promise<Connection> {
  const { connectionOptions } = loadClientConnectConfig({
    overrideEnvVars: roleEnv(DIR, role as 'operator') as Record<string, string>,
  });
  return Connection.connect({ ...connectionOptions, apiKey, connectTimeout: '5s' });
}

const buildIdsOf = (history: temporal.api.history.v1.IHistory) =>
  new Set(
    (history.events ?? [])
      .map((e) => e.workflowTaskCompletedEventAttributes)
      .filter((a) => a !== null && a !== undefined)
      .map((a) => a.deploymentVersion?.buildId ?? a.workerVersion?.buildId ?? '(none)'),
  );
/** Timers of one millisecond: the ones build B's interceptor starts. */
const extraTimersOf = (history: temporal.api.history.v1.IHistory) =>
  (history.events ?? []).filter((e) => {
    const timeout = e.timerStartedEventAttributes?.startToFireTimeout;
    return timeout && Number(timeout.seconds ?? 0) === 0 && timeout.nanos === 1_000_000;
  }).length;

interface RenderedContainer {
  readinessProbe?: { httpGet?: unknown };
  livenessProbe?: { httpGet?: unknown };
  volumeMounts?: { name: string; readOnly?: boolean }[];
  env?: { name: string }[];
}
interface RenderedDoc {
  kind?: string;
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { template?: { spec?: { containers?: RenderedContainer[] } } };
}

maybe('the shared deployment', () => {
  let operator: { connection: Connection; namespace: string };
  let client: Client;
  let buildA: string;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    sharedBinDir();
    await shared(['down']);
    fs.rmSync(DIR, { recursive: true, force: true });
    const up = await shared(['up', '--clusters', requiredEnv('NKSR_CLUSTERS_FILE')]);
    if (up.code !== 0) throw new Error(`shared up failed:\n${up.stdout}\n${up.stderr}`);
    process.stderr.write(up.stdout);
    operator = await connectAs(DIR, 'operator');
    client = new Client({ connection: operator.connection, namespace: operator.namespace });
    buildA = readDesired(DIR).builds[0]!.buildId;
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await operator?.connection.close();
    const down = await shared(['down']);
    expect(down.code).toBe(0);
    // Exactly what up started is gone, PostgreSQL included.
    for (const proc of Object.values(readState(DIR).components)) expect(isRunning(proc)).toBe(false);
  });

  test('status names every component running; the profiles file and keys are readable by the owner only', async () => {
    const status = await shared(['status']);
    expect(status.code).toBe(0);
    for (const name of ['postgres', 'temporal', 'ui', `worker-${buildA}-1`, `worker-${buildA}-2`]) {
      expect(status.stdout).toMatch(new RegExp(`^${name}\\s+running \\(pid \\d+\\)$`, 'm'));
    }
    for (const file of [
      'temporal.toml',
      'server.yaml',
      'pki/token-signing.key',
      'pki/ca.key',
      'pki/worker.key',
    ]) {
      expect((fs.statSync(path.join(DIR, file)).mode & 0o777).toString(8)).toBe('600');
    }
    expect(await currentBuild(operator.connection, operator.namespace, DEPLOYMENT_NAME)).toBe(buildA);
  });

  test('each role does its job and nothing else; no token, a forged one or an expired one is refused', async () => {
    const namespace = operator.namespace;
    // The operator starts a run; the deployment's workers (worker tokens) complete it.
    const handle = await client.workflow.start('nodeInventory', {
      taskQueue: TASK_QUEUE,
      workflowId: `nks/sim/nodeInventory/roles-${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim' }],
    });
    await handle.result();
    const { connection: auditorConn } = await connectAs(DIR, 'auditor');
    const { connection: workerConn } = await connectAs(DIR, 'worker');
    closers.push(
      () => auditorConn.close(),
      () => workerConn.close(),
    );
    const auditor = new Client({ connection: auditorConn, namespace });
    const asWorker = new Client({ connection: workerConn, namespace });
    const start = (c: Client) =>
      c.workflow.start('nodeInventory', {
        taskQueue: TASK_QUEUE,
        workflowId: `nks/sim/nodeInventory/refused-${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim' }],
      });
    const list = async (c: Client) => {
      for await (const _ of c.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) break;
    };
    const poll = (conn: Connection) =>
      conn.workflowService.pollActivityTaskQueue({
        namespace,
        taskQueue: { name: `nksr-poll-check-${randomUUID().slice(0, 8)}` },
        identity: 'role-test',
      });
    const table = {
      auditor: {
        list: await outcome(() => list(auditor)),
        describe: await outcome(() => auditor.workflow.getHandle(handle.workflowId).describe()),
        history: await outcome(() => auditor.workflow.getHandle(handle.workflowId).fetchHistory()),
        start: await outcome(() => start(auditor)),
        signal: await outcome(() => auditor.workflow.getHandle(handle.workflowId).signal('cancelRun')),
        poll: await outcome(() => poll(auditorConn)),
      },
      operator: {
        list: await outcome(() => list(client)),
        history: await outcome(() => client.workflow.getHandle(handle.workflowId).fetchHistory()),
        poll: await outcome(() => poll(operator.connection)),
      },
      worker: {
        start: await outcome(() => start(asWorker)),
        list: await outcome(() => list(asWorker)),
      },
    };
    expect(table).toEqual({
      auditor: { list: 'allowed', describe: 'allowed', history: 'allowed', start: 7, signal: 7, poll: 7 },
      operator: { list: 'allowed', history: 'allowed', poll: 7 },
      worker: { start: 7, list: 7 },
    });

    const key = fs.readFileSync(path.join(DIR, 'pki', 'token-signing.key'), 'utf8');
    const { privateKey: otherKey } = await import('node:crypto').then((c) =>
      c.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    );
    const forged = signToken({
      privateKeyPem: otherKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      subject: 'nksr-operator',
      permissions: [`${namespace}:write`],
      ttlSeconds: 3600,
    });
    const expired = signToken({
      privateKeyPem: key,
      subject: 'nksr-operator',
      permissions: [`${namespace}:write`],
      ttlSeconds: -60,
    });
    for (const [what, token] of [
      ['no token', undefined],
      ['a forged token', forged],
      ['an expired token', expired],
    ] as const) {
      // A token the claim mapper rejects fails the connection's first call already.
      const refused = await outcome(async () => {
        const conn = await connectWith('operator', token);
        try {
          await conn.workflowService.describeNamespace({ namespace });
        } finally {
          await conn.close();
        }
      });
      expect({ what, refused: refused === 7 || refused === 16 }).toEqual({ what, refused: true });
    }
    // nksr with the envconfig profile of a role: the operator's run completes, the auditor's is refused by name.
    const nksr = (role: 'operator' | 'auditor') =>
      new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [path.join(REPO, 'bin', 'nksr.js'), 'run', 'node-inventory', '--cluster', 'sim', '--wait'],
          { cwd: REPO, env: roleEnv(DIR, role), timeout: 120_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      });
    const [asOperator, asAuditor] = [await nksr('operator'), await nksr('auditor')];
    expect({
      code: asOperator.code,
      completed: /completed: \d+\/\d+ nodes read/.test(asOperator.stderr),
    }).toEqual({
      code: 0,
      completed: true,
    });
    expect(asAuditor.code).not.toBe(0);
    expect(asAuditor.stderr).toContain('permission denied by the Temporal server');

    // Without a client certificate the frontend does not even complete the handshake.
    const plan = readPlan(DIR)!;
    await expect(
      Connection.connect({
        address: `127.0.0.1:${plan.ports.frontendGrpc}`,
        tls: {
          serverNameOverride: 'localhost',
          serverRootCACertificate: fs.readFileSync(path.join(DIR, 'pki', 'ca.crt')),
        },
        connectTimeout: '3s',
      }).then(async (c) => {
        try {
          await c.workflowService.getSystemInfo({});
        } finally {
          await c.close();
        }
      }),
    ).rejects.toThrow();

    // The UI reads with its own certificate (reader claims) and has every write action turned off.
    const ui = `http://127.0.0.1:${plan.ports.ui}`;
    const listed = await fetch(
      `${ui}/api/v1/namespaces/${namespace}/workflows?query=${encodeURIComponent(`WorkflowId="${handle.workflowId}"`)}`,
    );
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain(handle.workflowId);
    const terminate = await fetch(
      `${ui}/api/v1/namespaces/${namespace}/workflows/${encodeURIComponent(handle.workflowId)}/terminate`,
      { method: 'POST', body: JSON.stringify({ reason: 'ui write check' }) },
    );
    expect(terminate.ok).toBe(false);
  });

  test('a new build becomes current while a rolling reboot pinned to the old one waits for approval; the old build drains and is retired', async () => {
    const sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
    const sshNode = sim.nodes.map((n) => n.name).sort()[0]!;
    const reboot: WorkflowHandle = await client.workflow.start('disableKmemAccounting', {
      taskQueue: TASK_QUEUE,
      workflowId: `nks/sim/disableKmemAccounting/versioning-${randomUUID().slice(0, 8)}`,
      args: [
        {
          cluster: 'sim',
          nodes: [sshNode],
          lockPollSeconds: 1,
          healthPollSeconds: 1,
          drainTimeoutSeconds: 60,
        },
      ],
    });
    for (let i = 0; !(await reboot.query<Progress>('progress')).awaitingApproval; i++) {
      if (i > 240) throw new Error('the rolling reboot never reached its approval gate');
      await sleep(250);
    }

    // Build B: the same workflows behind an interceptor that adds a timer first.
    const buildB = `${buildA}-b`;
    const { connectionOptions } = loadClientConnectConfig({
      overrideEnvVars: roleEnv(DIR, 'worker') as Record<string, string>,
    });
    const nativeB = await NativeConnection.connect(connectionOptions);
    const workerB = await createWorker({
      connection: nativeB,
      namespace: operator.namespace,
      taskQueue: TASK_QUEUE,
      registry: loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')),
      deployment: { deploymentName: DEPLOYMENT_NAME, buildId: buildB },
      workflowInterceptorModules: [EXTRA_TIMER],
      shutdownGraceTime: '5s',
    });
    const runningB = workerB.run();
    closers.push(async () => {
      if (workerB.getState() === 'RUNNING') workerB.shutdown();
      await runningB;
      await nativeB.close();
    });
    await setCurrentBuild(operator.connection, {
      namespace: operator.namespace,
      deploymentName: DEPLOYMENT_NAME,
      buildId: buildB,
    });
    expect(await currentBuild(operator.connection, operator.namespace, DEPLOYMENT_NAME)).toBe(buildB);

    // B's code would fail on A's history: only pinning keeps the waiting run on A.
    const waitingHistory = await reboot.fetchHistory();
    await expect(
      Worker.runReplayHistory(
        { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: [EXTRA_TIMER] } },
        waitingHistory,
        reboot.workflowId,
      ),
    ).rejects.toThrow(DeterminismViolationError);

    await approveRun(reboot);
    const rebootResult = (await reboot.result()) as { outcome: string };
    expect(rebootResult.outcome).toBe('complete');
    const rebootHistory = await reboot.fetchHistory();
    expect(buildIdsOf(rebootHistory)).toEqual(new Set([buildA]));
    expect(extraTimersOf(rebootHistory)).toBe(0);

    const next = await client.workflow.start('nodeInventory', {
      taskQueue: TASK_QUEUE,
      workflowId: `nks/sim/nodeInventory/after-b-${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim' }],
    });
    await next.result();
    const nextHistory = await next.fetchHistory();
    expect(buildIdsOf(nextHistory)).toEqual(new Set([buildB]));
    expect(extraTimersOf(nextHistory)).toBe(1);

    const retire = await shared(['retire', buildA, '--drain-timeout', '300']);
    expect({ code: retire.code, out: retire.stdout + retire.stderr }).toEqual({
      code: 0,
      out: expect.stringContaining(`build ${buildA} drained, its workers stopped, its version deleted`),
    });
    const status = await shared(['status']);
    expect(status.stdout).not.toContain(`worker-${buildA}`);
    const deployment = await operator.connection.workflowService.describeWorkerDeployment({
      namespace: operator.namespace,
      deploymentName: DEPLOYMENT_NAME,
    });
    const versions = (deployment.workerDeploymentInfo?.versionSummaries ?? []).map(
      (v) => v.deploymentVersion?.buildId,
    );
    expect(versions).toContain(buildB);
    expect(versions).not.toContain(buildA);
  });

  test('the worker chart lints, renders the workload, probes, metrics and RBAC, and passes a server-side dry run', async () => {
    const bin = sharedBinDir();
    const helm = path.join(bin, 'helm');
    const chart = path.join(REPO, 'deploy', 'chart', 'nks-remediation');
    const exec = (file: string, args: string[], input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(
          file,
          args,
          { maxBuffer: 16 << 20, env: { ...process.env, HELM_CACHE_HOME: path.join(DIR, 'helm') } },
          (err, stdout, stderr) =>
            err
              ? reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${stderr || err.message}`))
              : resolve(stdout),
        );
        if (input !== undefined) child.stdin?.end(input);
      });
    expect(await exec(helm, ['lint', chart])).toContain('0 chart(s) failed');
    const rendered = await exec(helm, [
      'template',
      'nksr',
      chart,
      '--namespace',
      'default',
      '--set',
      'targetClusterRbac.enabled=true',
    ]);
    const docs = YAML.parseAllDocuments(rendered)
      .map((d) => d.toJS() as RenderedDoc | null)
      .filter((d): d is RenderedDoc => Boolean(d?.kind));
    const kinds = docs.map((d) => `${d.kind}/${d.metadata?.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/nksr-worker',
        'Service/nksr-worker-metrics',
        'ServiceMonitor/nksr-worker',
        'Job/nksr-worker-search-attributes',
        'ClusterRole/nksr-cluster-preflight',
        'ClusterRole/nksr-disable-kmem-accounting',
      ]),
    );
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const container = deployment.spec!.template!.spec!.containers![0]!;
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
    expect(
      container.volumeMounts!.every(
        (m: { readOnly?: boolean; name: string }) => m.readOnly || m.name === 'tmp',
      ),
    ).toBe(true);
    expect(container.env!.map((e) => e.name)).toEqual(
      expect.arrayContaining([
        'TEMPORAL_API_KEY',
        'TEMPORAL_TLS_CLIENT_CERT_PATH',
        'NKSR_BUILD_ID',
        'NKSR_DEPLOYMENT_NAME',
      ]),
    );
    const job = docs.find((d) => d.kind === 'Job')!;
    expect(job.metadata?.annotations?.['helm.sh/hook']).toBe('post-install,post-upgrade');

    // The simulator's API server has no Prometheus operator: a minimal ServiceMonitor CRD stands in.
    const sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
    const kubectl = path.join(readSimState(sim.dir)!.binDir, 'kubectl');
    const kube = ['--kubeconfig', sim.kubeconfigPath!];
    const crd = fs.readFileSync(path.join(__dirname, 'fixtures', 'servicemonitor-crd.yaml'), 'utf8');
    await exec(kubectl, [...kube, 'apply', '-f', '-'], crd);
    try {
      await exec(kubectl, [
        ...kube,
        'wait',
        '--for=condition=Established',
        'crd/servicemonitors.monitoring.coreos.com',
        '--timeout=60s',
      ]);
      const applied = await exec(kubectl, [...kube, 'apply', '--dry-run=server', '-f', '-'], rendered);
      expect(applied).toMatch(/deployment.apps\/nksr-worker created \(server dry run\)/);
      expect(applied).toMatch(/servicemonitor.monitoring.coreos.com\/nksr-worker created \(server dry run\)/);
      expect(applied).toMatch(
        /clusterrole.rbac.authorization.k8s.io\/nksr-disable-kmem-accounting created \(server dry run\)/,
      );
      // A dry run leaves nothing behind.
      await expect(
        exec(kubectl, [...kube, 'get', 'deployment', 'nksr-worker', '-n', 'default']),
      ).rejects.toThrow(/NotFound/);
    } finally {
      await exec(kubectl, [...kube, 'delete', '-f', '-', '--ignore-not-found'], crd);
    }
  });
});
