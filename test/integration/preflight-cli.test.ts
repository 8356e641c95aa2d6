/**
 * clusterPreflight end to end: the nksr CLI (child process) → the real Temporal dev server → a
 * worker in this process → the simulator's real Kubernetes API.
 */
import { loadSim, setNodeReady } from '../../sim';
import type { ClusterPreflightResult, Progress } from '../../src/workflows/definitions';
import {
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  type RunningWorker,
  runProcedure,
  simAvailable,
  STACK_FRAME,
  startWorker,
  uniqueTaskQueue,
  useSharedSim,
} from './helpers';

useSharedSim();

const describeSim = simAvailable() ? describe : describe.skip;

describeSim('nksr run cluster-preflight against the simulator', () => {
  let worker: RunningWorker;

  beforeAll(async () => {
    worker = await startWorker();
  });
  afterAll(async () => {
    await worker?.stop();
  });

  test('--wait --json prints every node: Ready, InternalIP, kubelet version, runtime', async () => {
    const sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
    const res = await runProcedure('cluster-preflight', 'sim', worker.taskQueue, '--wait', '--json');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as ClusterPreflightResult;
    expect(report.cluster).toBe('sim');
    expect(report.nodes).toHaveLength(5);
    expect(report.readyCount).toBe(5);
    expect(report.notReady).toEqual([]);
    // What the simulator created, by name and address, is what the workflow read from the API.
    expect(report.nodes.map((n) => [n.name, n.internalIP])).toEqual(
      [...sim.nodes].sort((a, b) => a.name.localeCompare(b.name)).map((n) => [n.name, n.ip]),
    );
    for (const node of report.nodes) {
      expect(node.ready).toBe(true);
      expect(node.internalIP).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(node.kubeletVersion).toMatch(/^v1\.\d+\.\d+/);
      expect(node.containerRuntime).toMatch(/^(containerd|docker):\/\//);
    }
  });

  test('a NotReady node is reported as such (and the run still succeeds), then Ready again', async () => {
    const dir = requiredEnv('NKSR_SIM_DIR');
    const node = loadSim(dir).nodes[1]!.name;
    await setNodeReady({ dir, node, ready: false });
    try {
      let report: ClusterPreflightResult | undefined;
      // kwok flips the condition within a few seconds; the workflow reads whatever the API says.
      for (let i = 0; i < 20 && !report?.notReady.includes(node); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 1000));
        const res = await runProcedure('cluster-preflight', 'sim', worker.taskQueue, '--wait', '--json');
        expect(res.code).toBe(0);
        report = JSON.parse(res.stdout) as ClusterPreflightResult;
      }
      expect(report?.notReady).toEqual([node]);
      expect(report?.readyCount).toBe(4);
      expect(report?.nodes.find((n) => n.name === node)?.readyReason).toBeTruthy();
    } finally {
      await setNodeReady({ dir, node, ready: true });
    }
    let notReady: string[] = [node];
    for (let i = 0; i < 20 && notReady.length > 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1000));
      const res = await runProcedure('cluster-preflight', 'sim', worker.taskQueue, '--wait', '--json');
      notReady = (JSON.parse(res.stdout) as ClusterPreflightResult).notReady;
    }
    expect(notReady).toEqual([]);
  });

  test('human output, status (progress query + describe), list and audit', async () => {
    const run = await runProcedure('cluster-preflight', 'sim', worker.taskQueue, '--wait');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/NODE\s+READY\s+INTERNAL-IP\s+KUBELET\s+RUNTIME/);
    expect(run.stdout).toMatch(/cluster sim: \d\/5 nodes Ready/);
    const workflowId = 'nks/sim/clusterPreflight';

    const status = await runCli(['status', workflowId, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as {
      status: string;
      phase: string;
      cluster: string;
      procedure: string;
      dryRun: boolean;
      progress: Progress;
      result: ClusterPreflightResult;
    };
    expect(s).toMatchObject({
      status: 'COMPLETED',
      phase: 'completed',
      cluster: 'sim',
      procedure: 'clusterPreflight',
      dryRun: false,
    });
    expect(s.progress.items.filter((i) => i.kind === 'node')).toHaveLength(5);
    expect(s.result.nodes).toHaveLength(5);

    const list = await runCli(['list', '--cluster', 'sim', '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { workflowId: string }[]).map((w) => w.workflowId)).toContain(
      workflowId,
    );

    const audit = await runCli(['audit', workflowId]);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/replay: +deterministic/);
    expect(audit.stdout).toMatch(
      /listClusterNodesPage completed in \d+ ms: \{"nodes":\[\{"name":"sim-default-worker-node-0"/,
    );
    expect(audit.stdout).toMatch(/phase → completed/);
    const { connection, client } = await connectTemporal();
    try {
      await recordHistory(client, workflowId, 'clusterPreflight-sim-5-nodes');
    } finally {
      await connection.close();
    }
  });
});

describe('one run per procedure and cluster', () => {
  test('a second start while one runs names the running workflow and run; cancel reaches it', async () => {
    // No worker polls this queue, so the first run stays Running for as long as the test needs.
    const taskQueue = uniqueTaskQueue('idle');
    const cluster = `conflict-${Date.now().toString(36)}`;
    const first = await runProcedure('cluster-preflight', cluster, taskQueue, '--json');
    expect(first.code).toBe(0);
    const { workflowId, runId } = JSON.parse(first.stdout) as { workflowId: string; runId: string };
    expect(workflowId).toBe(`nks/${cluster}/clusterPreflight`);
    const { connection, client } = await connectTemporal();
    try {
      const second = await runProcedure('cluster-preflight', cluster, taskQueue);
      expect(second.code).toBe(1);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      expect(second.stderr).toContain(`already running: workflow ID ${workflowId}, run ID ${runId}`);
      expect(second.stderr).not.toMatch(STACK_FRAME);

      // --no-wait: no worker polls this queue, so the run cannot end while we wait.
      const cancel = await runCli(['cancel', workflowId, '--no-wait']);
      expect(cancel.code).toBe(0);
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      expect(history.events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(true);
    } finally {
      await client.workflow
        .getHandle(workflowId)
        .terminate('test cleanup')
        .catch(() => undefined);
      await connection.close();
    }
  });
});
