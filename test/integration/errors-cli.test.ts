/**
 * The failures an operator meets first, each one clear line, no stack trace: a bad registry file
 * (worker), an unknown cluster, an unreachable Kubernetes API server, an unreachable Temporal, and
 * invalid input (refused by the CLI, and by the workflow itself when started another way).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { loadClusterRegistry } from '../../src/worker/registry';
import {
  closedPort,
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  type RunningWorker,
  runProcedure,
  simAvailable,
  STACK_FRAME,
  startWorker,
  tempDir,
  uniqueTaskQueue,
  useSharedSim,
  writeFile,
} from './helpers';

useSharedSim();

/** Fetches (and with NKSR_RECORD_HISTORIES=1 records) a finished run's history, on a connection of its own. */
async function record(workflowId: string, name: string): Promise<void> {
  const { connection, client } = await connectTemporal();
  try {
    await recordHistory(client, workflowId, name);
  } finally {
    await connection.close();
  }
}

/**
 * The error is one line, the last one. Before it, `run --wait` may have written its start notice and
 * the watch view (off a terminal the view goes to stderr so stdout stays the report): none of those
 * is an error line, and nothing anywhere is a stack frame.
 */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  if (lines.length > 1) expect(lines[0]).toMatch(/^started \w+ nks\/.+; waiting for the result/);
  expect(lines.slice(0, -1).filter((l) => /^nksr( worker)?:/.test(l))).toEqual([]);
  expect(stderr).not.toMatch(STACK_FRAME);
  return lines[lines.length - 1]!;
}

describe('worker with a bad registry file', () => {
  test('exits non-zero with one line naming the file and the field', async () => {
    const dir = tempDir('bad-registry');
    const file = writeFile(
      dir,
      'clusters.yaml',
      'clusters:\n  sim:\n    kubeconfig: k\n    ssh:\n      privateKeyPath: id\n      knownHostsPath: kh\n      port: "22"\n',
    );
    const res = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'src/worker/main.ts')],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, NKSR_CLUSTERS_FILE: file, NKSR_METRICS_PORT: '0' },
          timeout: 60_000,
        },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
      );
    });
    expect(res.code).toBe(1);
    expect(oneLine(res.stderr)).toBe(
      `nksr worker: ${file}: clusters.sim.ssh.port: expected number, received string`,
    );
  });
});

describe('failures reported through the CLI', () => {
  let worker: RunningWorker;
  let deadServer: string;
  const SECRET = 'do-not-print-this-token';

  beforeAll(async () => {
    // The registry the worker gets: a cluster whose API server port is closed ("dead"), and the
    // simulator's cluster when there is one. The dead cluster's kubeconfig carries a token that
    // must never show up in any output.
    const dir = tempDir('registry');
    deadServer = `https://127.0.0.1:${await closedPort()}`;
    writeFile(
      dir,
      'dead.kubeconfig',
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'dead', cluster: { server: deadServer, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: SECRET } }],
        contexts: [{ name: 'dead', context: { cluster: 'dead', user: 'u' } }],
        'current-context': 'dead',
      }),
    );
    const clusters: Record<string, unknown> = { dead: { kubeconfig: 'dead.kubeconfig' } };
    if (simAvailable()) {
      const sim = YAML.parse(readFileSync(requiredEnv('NKSR_CLUSTERS_FILE'), 'utf8')) as {
        clusters: Record<string, unknown>;
      };
      Object.assign(clusters, sim.clusters);
    }
    const registry = loadClusterRegistry(writeFile(dir, 'clusters.yaml', YAML.stringify({ clusters })));
    worker = await startWorker({ registry });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  test('unknown cluster: UnknownCluster naming the known clusters, no retries', async () => {
    const res = await runProcedure('cluster-preflight', 'nope', worker.taskQueue, '--wait');
    expect(res.code).toBe(1);
    const line = oneLine(res.stderr);
    expect(line).toMatch(
      /^nksr: clusterPreflight failed \(nks\/nope\/clusterPreflight, run [0-9a-f-]+\): UnknownCluster: unknown cluster "nope"/,
    );
    expect(line).toContain('"dead"');

    const audit = await runCli(['audit', 'nks/nope/clusterPreflight', '--json']);
    const entries = (JSON.parse(audit.stdout) as { entries: { kind: string }[] }).entries.map((e) => e.kind);
    expect(entries.filter((k) => k === 'activity-scheduled')).toHaveLength(1);
    expect(entries).not.toContain('activity-retried');
    expect(entries).toContain('workflow-failed');
    await record('nks/nope/clusterPreflight', 'clusterPreflight-unknown-cluster');
  });

  test('unreachable API server: KubeApiUnreachable after the quick-call retries, no secret in any output', async () => {
    const res = await runProcedure('cluster-preflight', 'dead', worker.taskQueue, '--wait');
    expect(res.code).toBe(1);
    const line = oneLine(res.stderr);
    expect(line).toContain(
      `KubeApiUnreachable: cluster "dead": list nodes: Kubernetes API unreachable at ${deadServer}`,
    );
    expect(line).toContain('ECONNREFUSED');
    // 5 attempts with 1+2+4+8 s between them: it retried, and then gave up in bounded time.
    expect(res.ms).toBeGreaterThan(14_000);
    expect(res.ms).toBeLessThan(60_000);

    const audit = await runCli(['audit', 'nks/dead/clusterPreflight', '--json']);
    expect(audit.code).toBe(0);
    for (const out of [res.stdout, res.stderr, audit.stdout]) expect(out).not.toContain(SECRET);
    const entries = (JSON.parse(audit.stdout) as { entries: { kind: string; attempt?: number }[] }).entries;
    expect(entries.find((e) => e.kind === 'activity-retried')?.attempt).toBe(5);
    await record('nks/dead/clusterPreflight', 'clusterPreflight-api-unreachable');
  });

  test('Temporal unreachable: one line naming the address', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const res = await runCli(['list'], { TEMPORAL_ADDRESS: address });
    expect(res.code).toBe(1);
    expect(oneLine(res.stderr)).toMatch(
      new RegExp(`^nksr: cannot reach Temporal at ${address.replace(/\./g, '\\.')}`),
    );
  });

  test('invalid input is refused by the CLI before anything starts', async () => {
    const res = await runCli([
      'run',
      'cluster-preflight',
      '--input-json',
      '{"cluster":"sim","dryrun":true}',
      '--task-queue',
      worker.taskQueue,
    ]);
    expect(res.code).toBe(1);
    expect(oneLine(res.stderr)).toBe(
      'nksr: invalid clusterPreflight input: (input): unknown field(s) dryrun',
    );
    const missing = await runCli(['run', 'cluster-preflight']);
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toBe('nksr: --cluster is required');
  });

  test('invalid input started another way (e.g. the Temporal CLI) fails at the workflow edge with InvalidInput', async () => {
    const { connection, client } = await connectTemporal();
    try {
      const err = await client.workflow
        .execute('clusterPreflight', {
          taskQueue: worker.taskQueue,
          workflowId: `invalid-input-${uniqueTaskQueue()}`,
          args: [{ cluster: 'Not A Name', dryRun: 'yes' }],
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause.type).toBe('InvalidInput');
      expect(cause.nonRetryable).toBe(true);
      expect(cause.message).toMatch(/^invalid clusterPreflight input: cluster: .*; dryRun: expected boolean/);
    } finally {
      await connection.close();
    }
  });
});
