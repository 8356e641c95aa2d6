/**
 * nfsLockServicesRestart on the real stack: the shared simulator's node 3 gets the NFS lock fault
 * (sim/nfs.ts: rpc-statd stopped, a ReplicaSet's pod and a bare pod Pending with kubelet's FailedMount
 * event), then `nksr run nfs-lock-services-restart --from-events` as an operator would. Checked from the
 * simulator: the unit's state on the node's disk, the stand-in's calls.log, the pods in the API.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { NfsLockServicesRestartResult } from '../../src/common/procedures/nfs-lock-services-restart';
import { clearNfsLockFault, NFS_DEMO_NAMESPACE, type NfsLockFault, nfsLockFault } from '../../sim/nfs';
import { nodePaths } from '../../sim/nodes';
import { waitFor } from './diagnosis-faults';
import type { Client, Connection } from '@temporalio/client';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  type RunningWorker,
  runProcedure,
  simAvailable,
  sshAsCentos,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(240_000);

maybe('nfsLockServicesRestart against the simulator', () => {
  let worker: RunningWorker;
  let core: CoreV1Api;
  let connection: Connection;
  let client: Client;
  let fault: NfsLockFault;
  let nodes: string[];
  const simDir = () => path.resolve(requiredEnv('NKSR_SIM_DIR'));
  const unit = (node: string, name: string) =>
    readFileSync(path.join(nodePaths(simDir(), node).units, name), 'utf8').trim();
  const systemctlCalls = (node: string) => {
    const log = nodePaths(simDir(), node).callsLog;
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => / systemctl (restart|start|stop) /.test(l))
      : [];
  };
  const podUids = async () =>
    Object.fromEntries(
      (await core.listNamespacedPod({ namespace: NFS_DEMO_NAMESPACE })).items.map((p) => [
        p.metadata!.name!,
        `${p.metadata!.uid} ${p.status?.phase}`,
      ]),
    );
  const run = async (...flags: string[]) => {
    const r = await runProcedure(
      'nfs-lock-services-restart',
      'sim',
      worker.taskQueue,
      '--wait',
      '--json',
      ...flags,
    );
    let result: NfsLockServicesRestartResult | undefined;
    try {
      result = JSON.parse(r.stdout) as NfsLockServicesRestartResult;
    } catch {
      // asserted by the caller
    }
    return { ...r, result };
  };

  beforeAll(async () => {
    ({ connection, client } = await connectTemporal());
    const api = connectSim();
    core = api.core;
    nodes = api.sim.nodes.map((n) => n.name).sort();
    fault = await nfsLockFault({ dir: simDir(), node: nodes[2]! });
    // Both pods placed on the node: from then on they stay Pending (no stage starts a mount-blocked pod).
    await waitFor('both nfs-demo pods scheduled', async () => {
      const pods = (await core.listNamespacedPod({ namespace: NFS_DEMO_NAMESPACE })).items;
      const placed = pods.filter((p) => p.spec?.nodeName === fault.node && p.status?.phase === 'Pending');
      return placed.length >= 2;
    });
    worker = await startWorker();
  });
  afterAll(async () => {
    await clearNfsLockFault({ dir: simDir(), node: fault?.node });
    await worker?.stop();
    await connection?.close();
  });

  it('the simulator shows the failure: rpc-statd inactive, two Pending pods with the event', async () => {
    expect(unit(fault.node, 'rpc-statd')).toBe('inactive');
    const pods = await podUids();
    expect(pods[fault.controlledPod]).toMatch(/ Pending$/);
    expect(pods[fault.barePod]).toMatch(/ Pending$/);
  });

  it('bad input is refused before anything runs', async () => {
    const calls = systemctlCalls(fault.node).length;
    for (const [input, message] of [
      [{}, /give either nodes or fromEvents: true/],
      [{ nodes: [fault.node], fromEvents: true }, /give either nodes or fromEvents: true/],
      [{ nodes: ['w-1; reboot'] }, /nodes\.0: must be a Kubernetes node name/],
      [{ nodes: ['--now'] }, /nodes\.0: must be a Kubernetes node name/],
    ] as const) {
      const r = await runProcedure(
        'nfs-lock-services-restart',
        'sim',
        worker.taskQueue,
        '--input-json',
        JSON.stringify(input),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(systemctlCalls(fault.node)).toHaveLength(calls);
  });

  it('dry run: the plan names the node, the pod to delete and the bare pod; nothing changes', async () => {
    const before = await podUids();
    const calls = systemctlCalls(fault.node).length;
    const r = await run('--from-events', '--dry-run');
    expect(r.code).toBe(0);
    const res = r.result!;
    expect(res.nodes).toEqual([{ node: fault.node, outcome: 'would-fix' }]);
    expect(res.pods).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: fault.controlledPod,
          outcome: 'would-delete',
          controller: `ReplicaSet/${fault.replicaSet}`,
        }),
        expect.objectContaining({ name: fault.barePod, outcome: 'bare' }),
      ]),
    );
    expect(await podUids()).toEqual(before);
    expect(unit(fault.node, 'rpc-statd')).toBe('inactive');
    expect(systemctlCalls(fault.node)).toHaveLength(calls);
  });

  it('fromEvents: fixes the node, recreates the controlled pod, reports the bare one; touches no other node', async () => {
    const before = await podUids();
    const others = Object.fromEntries(
      nodes.filter((n) => n !== fault.node).map((n) => [n, systemctlCalls(n).length]),
    );
    const r = await run('--from-events');
    expect(r.code).toBe(0);
    const res = r.result!;
    await recordHistory(client, 'nks/sim/nfsLockServicesRestart', 'nfsLockServicesRestart-sim-from-events');
    expect(res.outcome).toBe('partial'); // the bare pod is left for the operator
    expect(res.nodes).toEqual([
      expect.objectContaining({
        node: fault.node,
        outcome: 'fixed',
        rpcbind: { before: 'active', after: 'active', answeredBefore: true, restarted: false },
        rpcStatd: { before: 'inactive', after: 'active' },
      }),
    ]);
    expect(unit(fault.node, 'rpc-statd')).toBe('active');
    expect(systemctlCalls(fault.node).some((l) => / restart -- rpc-statd$/.test(l))).toBe(true);
    for (const [n, count] of Object.entries(others)) expect(systemctlCalls(n)).toHaveLength(count);

    const after = await podUids();
    expect(after[fault.controlledPod]).toBeUndefined(); // deleted
    expect(after[fault.barePod]).toBe(before[fault.barePod]); // never deleted
    const replacement = res.pods.find((p) => p.name === fault.controlledPod)!;
    expect(replacement.outcome).toBe('recreated');
    const replacementName = replacement.replacement!.split(' ')[0]!;
    expect(after[replacementName]).toMatch(/ Running$/);
    expect(res.pods.find((p) => p.name === fault.barePod)).toMatchObject({ outcome: 'bare' });

    // Human report: summary first, the bare pod heads the pods table.
    const human = await runProcedure(
      'nfs-lock-services-restart',
      'sim',
      worker.taskQueue,
      '--wait',
      '--from-events',
    );
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toMatch(
      /^partial: 1\/1 nodes fixed, 0 stuck pods recreated, 1 bare pods left for you/,
    );
    expect(human.stdout).toContain('bare pods are not recreated by anything');
  });
  it("a hung rpcbind (active, rpcinfo silent): the guide's commands leave rpc-statd failed; the run restarts rpcbind first and both answer", async () => {
    const { sim } = connectSim();
    const node = nodes[1]!;
    const ip = sim.nodes.find((n) => n.name === node)!.ip;
    const units = nodePaths(simDir(), node).units;
    const hang = () => {
      writeFileSync(path.join(units, 'rpcbind.hung'), '');
      writeFileSync(path.join(units, 'rpc-statd'), 'inactive\n');
    };
    const rpcinfo = () => sshAsCentos(simDir(), ip, 'timeout 5 rpcinfo -p 127.0.0.1');

    // The guide's fix as its script types it: rpc-statd cannot register with the hung rpcbind.
    hang();
    expect((await rpcinfo()).code).toBe(124);
    const guide = await sshAsCentos(
      simDir(),
      ip,
      'sudo systemctl restart rpc-statd; sudo systemctl restart rpcbind',
    );
    expect(guide.stderr).toContain('rpc-statd.service failed');
    expect([unit(node, 'rpcbind'), unit(node, 'rpc-statd')]).toEqual(['active', 'failed']);

    hang();
    const r = await run('--input-json', JSON.stringify({ nodes: [node] }));
    expect(r.code).toBe(0);
    expect(r.result!.nodes).toEqual([
      expect.objectContaining({
        node,
        outcome: 'fixed',
        rpcbind: { before: 'active', after: 'active', answeredBefore: false, restarted: true },
        rpcStatd: { before: 'inactive', after: 'active' },
      }),
    ]);
    expect([unit(node, 'rpcbind'), unit(node, 'rpc-statd')]).toEqual(['active', 'active']);
    const answer = await rpcinfo();
    expect(answer.code).toBe(0);
    expect(answer.stdout).toMatch(/100024 +1 +tcp +\d+ +status/);
    // rpcbind before rpc-statd, and a second run leaves an answering rpcbind alone.
    const restarts = systemctlCalls(node).filter((l) => / restart -- /.test(l));
    expect(restarts.slice(-2).map((l) => l.split(' ').pop())).toEqual(['rpcbind', 'rpc-statd']);
    const again = await run('--input-json', JSON.stringify({ nodes: [node] }));
    expect(again.result!.nodes[0]!.rpcbind).toEqual({
      before: 'active',
      after: 'active',
      answeredBefore: true,
      restarted: false,
    });
  });
});
