/**
 * Helpers for integration tests: a real worker in this process on a task queue of its own, and the
 * real CLI as a child process pointed at the same queue.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection, type WorkflowHandle, WorkflowNotFoundError } from '@temporalio/client';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import YAML from 'yaml';
import { loadSim, SIM_APPROVER, type SimHandle } from '../../sim';
import { approveWaitingRun } from '../../src/client/approve-run';
import { readApproverKey } from '../../src/client/approver-key';
import type { ApprovalResult } from '../../src/common/types';
import { simPaths } from '../../sim/nodes/layout';
import { resetToBaseline } from '../../sim/reset';
import type { ActivityTestHooks, ClusterRegistry } from '../../src/activities/deps';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import type { ClusterEntry, ClusterPolicy } from '../../src/common/registry-schema';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import { createWorker } from '../../src/worker/worker';
import { writeRecordedHistory } from '../replay/recorded';

export const simAvailable = (): boolean =>
  Boolean(process.env.NKSR_SIM_DIR && process.env.NKSR_CLUSTERS_FILE);

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface RunningWorker {
  taskQueue: string;
  worker: Worker;
  stop(): Promise<void>;
}

/** Starts a worker on its own task queue; `registry` defaults to the test simulator's clusters.yaml. */
export async function startWorker(
  opts: {
    registry?: ClusterRegistry;
    taskQueue?: string;
    testHooks?: ActivityTestHooks;
    /** Another Temporal server than the suite's (TEMPORAL_ADDRESS). */
    address?: string;
  } = {},
): Promise<RunningWorker> {
  const taskQueue = opts.taskQueue ?? uniqueTaskQueue();
  const registry = opts.registry ?? loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE'));
  const connection = await NativeConnection.connect({
    address: opts.address ?? requiredEnv('TEMPORAL_ADDRESS'),
  });
  const worker = await createWorker({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    registry,
    workflowBundlePath: process.env.NKSR_WORKFLOW_BUNDLE,
    shutdownGraceTime: '5s',
    testHooks: opts.testHooks,
  });
  const running = worker.run();
  return {
    taskQueue,
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `nksr <args>` as a child process (tsx on the sources, as `npx nksr` does). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 150_000): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'nksr.js'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
  });
}

/** `npm run shared -- <args> --dir <dir>` as a child process (the shared deployment's CLI). */
export function runShared(dir: string, args: string[], timeoutMs = 600_000): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [require.resolve('tsx/cli'), join(REPO_ROOT, 'shared', 'cli.ts'), ...args, '--dir', dir],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
  });
}

/**
 * `ssh centos@<ip> <command>` to a simulated node with the OpenSSH client, strict: only the
 * simulator's known_hosts, no agent, no prompts, no user config (as an operator's script runs).
 */
export function sshAsCentos(
  simDir: string,
  ip: string,
  command: string,
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    '-F',
    '/dev/null',
    '-i',
    simPaths(simDir).privateKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${simPaths(simDir).knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=3',
    `centos@${ip}`,
    command,
  ];
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `nksr run <procedure> --cluster <cluster> --task-queue <queue> [...flags]`, as an operator types it. */
export function runProcedure(
  procedure: string,
  cluster: string,
  taskQueue: string,
  ...flags: string[]
): Promise<CliResult> {
  return runCli(['run', procedure, '--cluster', cluster, '--task-queue', taskQueue, ...flags]);
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through jest.integration.config.js (global setup)`);
  return value;
}

export interface TemporalClient {
  connection: Connection;
  client: Client;
}

/**
 * A client of the suite's Temporal server (TEMPORAL_ADDRESS), in the namespace startWorker's workers
 * poll, so every file talks to its worker the same way. The caller closes `connection` (afterAll, or
 * a `finally` for one test's own).
 */
export async function connectTemporal(): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
  return {
    connection,
    client: new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' }),
  };
}

export interface SimApi {
  sim: SimHandle;
  /** The simulator's admin kubeconfig, for a Watch or an API group other than core and apps. */
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
}

/**
 * The shared test simulator (NKSR_SIM_DIR) and admin clients of its API server, what a test checks the
 * cluster with (as an operator's kubectl would), set up one way in every file. Makes no request and
 * leaves nothing to close.
 */
export function connectSim(): SimApi {
  const sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
  const kc = new KubeConfig();
  kc.loadFromFile(sim.kubeconfigPath);
  return { sim, kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

/** The approver the test simulator's clusters.yaml lists (its key is NKSR_APPROVER_KEY). */
export const SIM_APPROVER_NAME = SIM_APPROVER;

/**
 * Approves (or rejects) a run waiting at its gate as the simulator's approver, signing as
 * nksr approve does; `keyFile` signs with another simulator's (or a test's own) key.
 */
export function approveRun(
  handle: WorkflowHandle,
  opts: { reject?: boolean; comment?: string; keyFile?: string } = {},
): Promise<ApprovalResult> {
  const key = readApproverKey(opts.keyFile ?? requiredEnv('NKSR_APPROVER_KEY'));
  return approveWaitingRun(handle, key, opts.reject ? 'reject' : 'approve', {
    ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
  });
}

/** The test simulator's cluster `sim`, with a worker policy (and other fields) of a test's own. */
export function simRegistryWith(policy: ClusterPolicy, extra: Partial<ClusterEntry> = {}): ClusterRegistry {
  const file = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE'));
  // The simulator's approvers too: a run this worker holds at its gate can be approved.
  return registryFromEntries(
    { sim: { ...file.get('sim'), ...extra, policy } },
    'in-memory',
    file.approvers(),
  );
}

/** A clusters.yaml for a worker process: the test simulator's, with a worker policy for `sim`. */
export function simClustersFileWith(policy: ClusterPolicy): string {
  const file = requiredEnv('NKSR_CLUSTERS_FILE');
  const doc = YAML.parse(readFileSync(file, 'utf8')) as { clusters: Record<string, Record<string, unknown>> };
  doc.clusters.sim!.policy = policy;
  // Next to the original, so its relative credential paths still resolve.
  const out = join(dirname(file), `clusters-policy-${randomUUID().slice(0, 8)}.yaml`);
  writeFileSync(out, YAML.stringify(doc));
  return out;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `nksr-${prefix}-`));
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A TCP port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A stack trace in CLI output means an error escaped the one-line reporting. */
export const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

/** The SDK's INFO logs would bury test output; errors still show (expected activity failures log WARN with stacks). */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this module registry.
  }
}
quietRuntime();

/**
 * Fetches a run's history; with NKSR_RECORD_HISTORIES=1 also writes it to test/replay/histories/<name>.json
 * (and its workflow ID in test/replay/workflow-ids.json) for the replay test. Returns its event count.
 */
export async function recordHistory(client: Client, workflowId: string, name: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  if (process.env.NKSR_RECORD_HISTORIES === '1') writeRecordedHistory(name, workflowId, history);
  return history.events?.length ?? 0;
}

export interface WorkerProcessOptions {
  /** The worker entry point (default src/worker/main.ts; tests with hooks use their own). */
  script?: string;
  env?: NodeJS.ProcessEnv;
  /** Default: the test run's NKSR_CLUSTERS_FILE. */
  clustersFile?: string;
  onLine?: (line: string) => void;
  /** Every process spawned goes here at once, so afterAll kills it even if it never got ready. */
  track?: ChildProcess[];
}

/**
 * A worker as its own process, so a test can SIGKILL it as a crash would. Resolves once it has read
 * its clusters (it then polls the task queue); rejects if it exits first or takes over 180 s (tsx
 * compiles the worker at start, and the machine may be shared).
 */
export function startWorkerProcess(
  taskQueue: string,
  opts: WorkerProcessOptions = {},
): Promise<ChildProcess> {
  const script = opts.script ?? 'src/worker/main.ts';
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...opts.env,
      NKSR_TASK_QUEUE: taskQueue,
      NKSR_CLUSTERS_FILE: opts.clustersFile ?? requiredEnv('NKSR_CLUSTERS_FILE'),
      NKSR_METRICS_PORT: '0',
      NKSR_SHUTDOWN_GRACE_TIME: '1s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.track?.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`worker (${script}) did not start in 180 s: ${out}`)),
      180_000,
    );
    const onData = (b: Buffer) => {
      out += b.toString();
      for (const line of b.toString().split('\n')) if (line) opts.onLine?.(line);
      if (/clusters from/.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}): ${out}`));
    });
  });
}

/**
 * Every file that uses the suite's Temporal server or shared simulator calls this once, at the top:
 * before its first test and after its last, runs left running (and schedules) are terminated and the
 * shared simulator is put back as `sim up` left it (sim/reset.ts). What was found and undone is
 * printed, so a file that leaks state is named by the next file's output.
 */
export function useSharedSim(): void {
  const file = expect.getState().testPath ?? 'this file';
  const rel = file.replace(`${REPO_ROOT}/`, '');
  beforeAll(() => cleanSharedState(`before ${rel}`), 300_000);
  afterAll(() => cleanSharedState(`after ${rel}`), 300_000);
}

async function cleanSharedState(when: string): Promise<void> {
  const found: string[] = [];
  if (process.env.TEMPORAL_ADDRESS) found.push(...(await terminateEverything()));
  if (simAvailable()) {
    const report = await resetToBaseline(requiredEnv('NKSR_SIM_DIR'));
    found.push(...report.restored);
  }
  if (found.length) process.stderr.write(`[shared state ${when}] ${found.join('; ')}\n`);
}

/** Terminates every running workflow and deletes every schedule of the suite's namespace. */
async function terminateEverything(): Promise<string[]> {
  const { connection, client } = await connectTemporal();
  const done: string[] = [];
  try {
    for await (const s of client.schedule.list()) {
      await client.schedule.getHandle(s.scheduleId).delete();
      done.push(`schedule ${s.scheduleId} deleted`);
    }
    for await (const wf of client.workflow.list({ query: 'ExecutionStatus="Running"' })) {
      await client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('test file cleanup')
        .catch((err: unknown) => {
          // Finished between the list and the terminate: nothing left to stop.
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
      done.push(`run ${wf.workflowId} terminated`);
    }
  } finally {
    await connection.close();
  }
  return done;
}
