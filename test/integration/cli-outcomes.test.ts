/**
 * How `nksr run --wait` ends, against a Temporal dev server this file controls (its own port and a
 * SQLite file, so a restart keeps every workflow): it waits through a server restart and then reports
 * the workflow's real result; cancelled, terminated and "server gone for good" are each said as such,
 * with their own exit code (README "Exit codes").
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { type DevServer, startDevServer } from '../../src/dev/dev-server';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { loadClusterRegistry } from '../../src/worker/registry';
import { createWorker } from '../../src/worker/worker';
import {
  closedPort,
  requiredEnv,
  runCli,
  simAvailable,
  tempDir,
  uniqueTaskQueue,
  useSharedSim,
} from './helpers';

useSharedSim();

jest.setTimeout(240_000);

const maybe = simAvailable() ? describe : describe.skip;

interface LiveCli {
  /** Resolves with the workflow ID once the CLI has said it started one. */
  started: Promise<string>;
  /** What the CLI has written to stderr so far. */
  stderr: () => string;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** `nksr <args>` as a child process whose stderr we can read while it waits. */
function liveCli(args: string[], address: string): LiveCli {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'nksr.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default' },
  });
  let stdout = '';
  let stderr = '';
  let onStarted: (id: string) => void = () => undefined;
  const started = new Promise<string>((resolve) => (onStarted = resolve));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    const m = /^started \w+ (\S+) \(run/m.exec(stderr);
    if (m) onStarted(m[1]!);
  });
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })),
  );
  return { started, done, stderr: () => stderr };
}

maybe('run --wait: outcomes and a Temporal server restart', () => {
  const db = join(tempDir('cli-outcomes'), 'temporal.db');
  let port: number;
  let server: DevServer | undefined;
  let address: string;
  const workers: { worker: Worker; connection: NativeConnection; running: Promise<void> }[] = [];

  const startServer = async () => {
    server = await startDevServer({ port, dbFilename: db });
    address = server.address;
  };
  const stopServer = async () => {
    await server?.stop();
    server = undefined;
  };
  const startWorkerOn = async (taskQueue: string) => {
    const connection = await NativeConnection.connect({ address });
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue,
      registry: loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')),
      workflowBundlePath: process.env.NKSR_WORKFLOW_BUNDLE,
      shutdownGraceTime: '2s',
    });
    workers.push({ worker, connection, running: worker.run() });
  };
  const withClient = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const connection = await Connection.connect({ address });
    try {
      return await fn(new Client({ connection }));
    } finally {
      await connection.close();
    }
  };

  beforeAll(async () => {
    port = await closedPort();
    await startServer();
  });

  afterAll(async () => {
    for (const w of workers) {
      if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await w.running.catch(() => undefined);
      await w.connection.close().catch(() => undefined);
    }
    await stopServer();
  });

  test('the server restarts mid-wait: the CLI says it is reconnecting, then prints the real result (exit 0)', async () => {
    const queue = uniqueTaskQueue('restart');
    // No worker yet: the workflow cannot finish before the restart.
    const cli = liveCli(
      ['run', 'cluster-preflight', '--cluster', 'sim', '--task-queue', queue, '--wait'],
      address,
    );
    const workflowId = await cli.started;
    // Down until the CLI says it lost the server: past the SDK's own gRPC retries (about 10 s), so
    // the CLI's wait, not the SDK, must reconnect.
    await stopServer();
    const deadline = Date.now() + 120_000;
    while (!/reconnecting for up to/.test(cli.stderr())) {
      if (Date.now() > deadline) throw new Error(`the CLI never said it lost the server:\n${cli.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await startServer();
    await startWorkerOn(queue);
    const res = await cli.done;
    expect(res.stderr).toMatch(/lost the Temporal server \(.+\); reconnecting for up to 300s/);
    expect(res.stderr).toMatch(/reconnected after \d+s; still waiting/);
    expect(res.stderr).not.toMatch(/clusterPreflight failed|Failed to get Workflow execution history/);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/sim-default-worker-node-0/);
    const status = await runCli(['status', workflowId, '--json'], { TEMPORAL_ADDRESS: address });
    expect(JSON.parse(status.stdout)).toMatchObject({ workflowId, status: 'COMPLETED' });
  });

  test('a cancelled run: "was cancelled", exit 3, and status says cancelled (not failed)', async () => {
    const queue = uniqueTaskQueue('cancel');
    const cli = liveCli(
      ['run', 'cluster-preflight', '--cluster', 'sim', '--task-queue', queue, '--wait'],
      address,
    );
    const workflowId = await cli.started;
    // --no-wait: no worker polls this queue yet, so the run can only end once one starts below.
    const cancel = await runCli(['cancel', workflowId, '--no-wait'], { TEMPORAL_ADDRESS: address });
    expect(cancel.code).toBe(0);
    await startWorkerOn(queue);
    const res = await cli.done;
    expect(res.stderr.trim().split('\n').pop()).toBe(
      `nksr: clusterPreflight was cancelled (${workflowId}, run ${/run (\S+)\)/.exec(res.stderr)![1]})`,
    );
    // The view's counts say "0 failed"; the outcome itself must never be called a failure.
    expect(res.stderr).not.toMatch(/clusterPreflight failed|WorkflowFailed/);
    expect(res.code).toBe(3);
    const status = await runCli(['status', workflowId], { TEMPORAL_ADDRESS: address });
    expect(status.stdout).toMatch(/: CANCELLED,/);
    expect(status.stdout).toMatch(/^cancelled$/m);
    expect(status.stdout).not.toMatch(/failed/);
  });

  test('a terminated run: "was terminated (reason: ...)", exit 5', async () => {
    const queue = uniqueTaskQueue('terminate');
    const cli = liveCli(
      ['run', 'cluster-preflight', '--cluster', 'sim', '--task-queue', queue, '--wait'],
      address,
    );
    const workflowId = await cli.started;
    await withClient((c) => c.workflow.getHandle(workflowId).terminate('operator stopped it'));
    const res = await cli.done;
    expect(res.stderr.trim().split('\n').pop()).toMatch(
      new RegExp(
        `^nksr: clusterPreflight was terminated \\(${workflowId}, run \\S+\\) \\(reason: operator stopped it\\)$`,
      ),
    );
    expect(res.code).toBe(5);
  });

  test('the server stays away longer than --reconnect-timeout: exit 6, naming nksr status (not "failed")', async () => {
    const queue = uniqueTaskQueue('gone');
    const cli = liveCli(
      [
        'run',
        'cluster-preflight',
        '--cluster',
        'sim',
        '--task-queue',
        queue,
        '--wait',
        '--reconnect-timeout',
        '3',
      ],
      address,
    );
    const workflowId = await cli.started;
    await stopServer();
    try {
      const res = await cli.done;
      expect(res.stderr).toMatch(/lost the Temporal server/);
      expect(res.stderr.trim().split('\n').pop()).toMatch(
        new RegExp(
          `^nksr: the Temporal server stayed unreachable for \\d+s; stopped waiting \\(the workflow may still be running: nksr status ${workflowId}\\)$`,
        ),
      );
      expect(res.code).toBe(6);
    } finally {
      await startServer();
    }
    // It was indeed still running: the restart kept it.
    const status = await runCli(['status', workflowId, '--json'], { TEMPORAL_ADDRESS: address });
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'RUNNING' });
    await withClient((c) => c.workflow.getHandle(workflowId).terminate('test cleanup'));
  });

  test('nksr --help documents the exit codes', async () => {
    const res = await runCli(['--help']);
    expect(res.stdout).toMatch(/Exit codes:[\s\S]*3 {2}run --wait: the workflow was cancelled/);
    expect(res.stdout).toMatch(/6 {2}run --wait: the Temporal server stayed unreachable/);
  });
});
