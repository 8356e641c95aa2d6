/**
 * nodeInventory on the real stack: Temporal dev server, the shared simulator's Kubernetes API and its
 * real OpenSSH nodes (host keys verified). The platform's smallest procedure, started as an operator
 * would, through `nksr run`.
 */
import path from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { NodeInventoryResult } from '../../src/common/procedures/node-inventory';
import { setNodeFault } from '../../sim/nodes';
import type { Client, Connection } from '@temporalio/client';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  type RunningWorker,
  runProcedure,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;

maybe('nodeInventory against the simulator', () => {
  let worker: RunningWorker;
  let core: CoreV1Api;
  let connection: Connection;
  let client: Client;
  const simDir = () => path.resolve(requiredEnv('NKSR_SIM_DIR'));

  beforeAll(async () => {
    ({ core } = connectSim());
    worker = await startWorker();
    ({ connection, client } = await connectTemporal());
  });
  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
  });

  async function bootIds(): Promise<Record<string, string>> {
    const nodes = (await core.listNode()).items;
    return Object.fromEntries(nodes.map((n) => [n.metadata!.name!, n.status!.nodeInfo!.bootID]));
  }

  it('reads every node over SSH; the boot IDs are the ones the Kubernetes API reports', async () => {
    const run = await runProcedure('node-inventory', 'sim', worker.taskQueue, '--wait', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as NodeInventoryResult;
    const api = await bootIds();
    expect(result.outcome).toBe('complete');
    expect(result.counts).toEqual({ read: Object.keys(api).length, failed: 0, skipped: 0 });
    for (const n of result.nodes) expect(n.facts?.bootId).toBe(api[n.node]);
    expect(Object.values(result.kernels).reduce((a, b) => a + b, 0)).toBe(Object.keys(api).length);
    await recordHistory(client, 'nks/sim/nodeInventory', 'nodeInventory-sim-5-nodes');

    // The human report: one summary line, a table, no raw JSON.
    const human = await runProcedure('node-inventory', 'sim', worker.taskQueue, '--wait');
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toMatch(/^complete: \d+\/\d+ nodes read; kernels: /);
    expect(human.stdout).toMatch(/NODE\s+OUTCOME\s+KERNEL/);
    expect(human.stdout).not.toContain('{');
  });

  it('a node whose sshd is stopped is reported failed; the others are still read', async () => {
    const node = Object.keys(await bootIds()).sort()[1]!;
    await setNodeFault({ dir: simDir(), node, fault: 'sshd-stopped' });
    try {
      const run = await runProcedure('node-inventory', 'sim', worker.taskQueue, '--wait', '--json');
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout) as NodeInventoryResult;
      expect(result.outcome).toBe('partial');
      expect(result.nodes[0]).toMatchObject({ node, outcome: 'failed' });
      expect(result.nodes[0]!.reason).toMatch(/^SshConnectionFailed: /);
      expect(result.counts.failed).toBe(1);
      expect(result.counts.read).toBe(result.nodes.length - 1);
      await recordHistory(client, 'nks/sim/nodeInventory', 'nodeInventory-sim-node-unreachable');
    } finally {
      await setNodeFault({ dir: simDir(), node, fault: 'none' });
    }
  });

  it('a node name that is not a Kubernetes name is refused before anything runs', async () => {
    const run = await runProcedure(
      'node-inventory',
      'sim',
      worker.taskQueue,
      '--input-json',
      JSON.stringify({ nodes: ['w-1; reboot'] }),
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/invalid nodeInventory input: nodes\.0: must be a Kubernetes node name/);
  });
});
