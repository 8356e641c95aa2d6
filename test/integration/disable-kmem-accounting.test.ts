/**
 * disableKmemAccounting on the real stack (Temporal dev server, the shared 5-node simulator, real
 * OpenSSH): the rolling reboot and its safety primitives. Everything asserted is read from the
 * simulator itself, not from the workflow's word: the nodes' /proc/cmdline and /etc/default/grub on
 * disk, the supervisor's reboot log (which nodes were down when), each node's boots.log, the
 * Kubernetes API (cordon state, the disruption Lease).
 *
 * One in-process worker serves every test but the worker-kill one, which runs its worker as a child
 * process (SIGKILLed mid-reboot). Tests run in order and share the simulator: each one starts from
 * nodes reset to "never had the argument" (resetNode) where it needs that.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type AppsV1Api,
  CoordinationV1Api,
  type CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  V1MicroTime,
} from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CLUSTER_LOCK_LEASE, KURED_LOCK } from '../../src/common/cluster-lock';
import { CORDONED_BY_ANNOTATION } from '../../src/common/disruption';
import { KMEM_KERNEL_ARG } from '../../src/common/grub';
import type {
  DisableKmemAccountingInput,
  DisableKmemAccountingResult,
} from '../../src/common/procedures/disable-kmem-accounting';
import type { Progress } from '../../src/workflows/definitions';
import { loadSim } from '../../sim';
import { setNodeFault } from '../../sim/nodes';
import { KMEM_DEMO_NAMESPACE, clearKmemOomFault, grubFault, kmemOomFault } from '../../sim/kmem';
import { nodePaths, simPaths } from '../../sim/nodes/layout';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  type RunningWorker,
  simAvailable,
  startWorker,
  approveRun,
  simClustersFileWith,
  simRegistryWith,
  startWorkerProcess,
  uniqueTaskQueue,
  useSharedSim,
} from './helpers';

/** The cluster lock's holder for a run: its workflow ID and run ID. */
const holderOf = async (h: WorkflowHandle) => `${h.workflowId}@${(await h.describe()).runId}`;
useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

/** The worker's policy of these tests: a rolling reboot waits for approval only when asked to. */
const TEST_POLICY = { approvals: { disableKmemAccounting: 'on-request' as const } };

const count = (text: string, word: string) => text.split(/\s+/).filter((w) => w === word).length;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Intervals during which nodes were down, from the supervisor's reboot log. */
function downIntervals(logText: string): { node: string; from: number; to: number }[] {
  const open = new Map<string, number>();
  const out: { node: string; from: number; to: number }[] = [];
  for (const line of logText.split('\n').filter(Boolean)) {
    const [ts, node, what] = line.split(' ');
    const t = Date.parse(ts!);
    if (what === 'down') open.set(node!, t);
    else if (what === 'up' && open.has(node!)) {
      out.push({ node: node!, from: open.get(node!)!, to: t });
      open.delete(node!);
    }
  }
  for (const [node, from] of open) out.push({ node, from, to: Number.MAX_SAFE_INTEGER });
  return out;
}

/** The most nodes down at the same moment. */
function maxDownAtOnce(intervals: { from: number; to: number }[]): number {
  const points = intervals.flatMap((i) => [
    { t: i.from, d: 1 },
    { t: i.to, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let cur = 0;
  let max = 0;
  for (const p of points) {
    cur += p.d;
    max = Math.max(max, cur);
  }
  return max;
}

maybe('disableKmemAccounting against the simulator', () => {
  const children: ChildProcess[] = [];
  let worker: RunningWorker;
  /** A worker with the simulator's clusters.yaml as it is: the default policy. */
  let defaultPolicyWorker: RunningWorker;
  let testPolicyClusters: string;
  let connection: Connection;
  let client: Client;
  let core: CoreV1Api;
  let leases: CoordinationV1Api;
  let policy: PolicyV1Api;
  let apps: AppsV1Api;
  let nodes: string[];
  const simDir = () => path.resolve(requiredEnv('NKSR_SIM_DIR'));
  const paths = (node: string) => nodePaths(simDir(), node);
  const grubOf = (node: string) => readFileSync(path.join(paths(node).etcDefault, 'grub'), 'utf8');
  const cmdlineOf = (node: string) => readFileSync(paths(node).procCmdline, 'utf8').trim();
  const bootsOf = (node: string) =>
    existsSync(paths(node).bootsLog)
      ? readFileSync(paths(node).bootsLog, 'utf8').split('\n').filter(Boolean)
      : [];
  const rebootLog = () =>
    existsSync(simPaths(simDir()).rebootsLog) ? readFileSync(simPaths(simDir()).rebootsLog, 'utf8') : '';
  const original = new Map<string, { grub: string; grubCfg: string; cmdline: string }>();

  /** Puts a node back to "never had the argument": grub file, grub.cfg, running command line. */
  const resetNode = (node: string) => {
    const o = original.get(node)!;
    writeFileSync(path.join(paths(node).etcDefault, 'grub'), o.grub);
    writeFileSync(paths(node).grubCfg, o.grubCfg);
    writeFileSync(paths(node).procCmdline, `${o.cmdline}\n`);
  };
  const unschedulable = async (node: string) =>
    (await core.readNode({ name: node })).spec?.unschedulable === true;
  const ready = async (node: string) =>
    (await core.readNode({ name: node })).status?.conditions?.find((c) => c.type === 'Ready')?.status ===
    'True';
  const lease = async () =>
    leases
      .readNamespacedLease({ name: CLUSTER_LOCK_LEASE.name, namespace: CLUSTER_LOCK_LEASE.namespace })
      .catch(() => undefined);
  const start = (input: DisableKmemAccountingInput, taskQueue = worker.taskQueue, tag = 'run') =>
    client.workflow.start('disableKmemAccounting', {
      taskQueue,
      workflowId: `nks/sim/disableKmemAccounting/${tag}-${randomUUID().slice(0, 8)}`,
      args: [input],
    }) as Promise<WorkflowHandle>;
  const progressOf = (h: WorkflowHandle) => h.query<Progress>('progress');
  const waitFor = async (what: string, check: () => Promise<boolean> | boolean, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  };
  const fast = { lockPollSeconds: 1, healthPollSeconds: 1, drainTimeoutSeconds: 60 };
  /** What the reboot log says of `node` from `logStart` on: 'down', 'up', … in order. */
  const rebootEventsOf = (node: string, logStart: number) =>
    rebootLog()
      .slice(logStart)
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[1] === node)
      .map((f) => f[2]);
  /** Until the reboot log, from `logStart` on, shows `node` going down. */
  const waitForDown = (node: string, logStart: number) =>
    waitFor(`${node} to go down`, () => rebootEventsOf(node, logStart).includes('down'));
  /** Uncordons `node` and drops our cordon annotation, as an operator giving it back would. */
  const giveBack = (node: string) =>
    core.patchNode(
      {
        name: node,
        body: {
          spec: { unschedulable: null },
          metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } },
        },
      },
      mergePatch,
    );

  /** Every history of a run: the parent's, then each child's (found by ChildWorkflowExecutionStarted). */
  const runHistories = async (h: WorkflowHandle) => {
    const parent = (await h.fetchHistory()).events ?? [];
    const childIds = parent
      .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId)
      .filter((id): id is string => !!id);
    const children = await Promise.all(
      childIds.map(async (id) => ({
        id,
        events: (await client.workflow.getHandle(id).fetchHistory()).events ?? [],
      })),
    );
    return [{ id: h.workflowId, events: parent }, ...children];
  };
  /** The events of every history of a run, in one list. */
  const runEvents = async (h: WorkflowHandle) => (await runHistories(h)).flatMap((x) => x.events);

  /** The nodes a run scheduled `activity` for, read from its histories (the activity's input). */
  const activityNodes = async (h: WorkflowHandle, activity: string) =>
    (await runEvents(h))
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === activity)
      .map((a) => {
        const data = a!.input!.payloads![0]!.data!;
        return (JSON.parse(Buffer.from(data).toString('utf8')) as { node: string }).node;
      });

  beforeAll(async () => {
    ({ connection, client } = await connectTemporal());
    const api = connectSim();
    ({ core, apps } = api);
    nodes = api.sim.nodes.map((n) => n.name).sort();
    leases = api.kc.makeApiClient(CoordinationV1Api);
    policy = api.kc.makeApiClient(PolicyV1Api);
    for (const n of nodes) {
      original.set(n, {
        grub: grubOf(n),
        grubCfg: readFileSync(paths(n).grubCfg, 'utf8'),
        cmdline: cmdlineOf(n),
      });
    }
    // Runs that say requireApproval: false go straight on here: these tests are about the reboots.
    worker = await startWorker({ registry: simRegistryWith(TEST_POLICY) });
    testPolicyClusters = simClustersFileWith(TEST_POLICY);
    defaultPolicyWorker = await startWorker();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await worker?.stop();
    await defaultPolicyWorker?.stop();
    await clearKmemOomFault({ dir: simDir() }).catch(() => undefined);
    for (const n of nodes ?? []) {
      await grubFault({ dir: simDir(), node: n, fault: 'none' }).catch(() => undefined);
      await setNodeFault({ dir: simDir(), node: n, fault: 'none' }).catch(() => undefined);
      await giveBack(n).catch(() => undefined);
      if (original.has(n)) resetNode(n);
    }
    await connection?.close();
  });

  test('the per-node child workflow started directly (no parent, no approval, no lock) is refused; nothing done', async () => {
    const target = nodes[0]!;
    const boots = bootsOf(target).length;
    const direct = await client.workflow.start('disableKmemAccountingNodes', {
      taskQueue: worker.taskQueue,
      workflowId: `direct-child-${randomUUID().slice(0, 8)}`,
      args: [
        {
          options: { cluster: 'sim', maxUnavailable: 1, requireApproval: false },
          owner: 'attacker',
          lease: { cluster: 'sim', holder: 'attacker@run', ttlSeconds: 30 },
          nodes: [{ node: target }],
          first: 0,
          total: 1,
        },
      ],
    });
    const failure = await direct.result().catch((e: WorkflowFailedError) => e.cause);
    expect(failure).toMatchObject({ type: 'PolicyRefused' });
    expect(String((failure as Error).message)).toMatch(/only as a child of disableKmemAccounting/);
    expect(bootsOf(target)).toHaveLength(boots);
    expect(await unschedulable(target)).toBe(false);
  });

  test('hostile node names are refused before anything runs; a dry run changes nothing', async () => {
    const hostile = await start({ cluster: 'sim', nodes: ['node-1; reboot'] });
    await expect(hostile.result()).rejects.toThrow(WorkflowFailedError);
    const failure = await hostile.result().catch((e: WorkflowFailedError) => e.cause);
    expect(failure).toMatchObject({ type: 'InvalidInput' });
    expect(String((failure as Error).message)).toMatch(/nodes\.0/);

    const targets = nodes.slice(0, 3);
    const before = targets.map((n) => ({ grub: grubOf(n), cmdline: cmdlineOf(n), boots: bootsOf(n).length }));
    const logBefore = rebootLog();
    const dry = await start({ cluster: 'sim', nodes: targets, dryRun: true });
    const r = (await dry.result()) as DisableKmemAccountingResult;
    expect(r).toMatchObject({ outcome: 'complete', dryRun: true, order: targets });
    for (const e of r.nodes) {
      expect(e.outcome).toBe('would-reboot');
      expect(e.changes.join('\n')).toContain(`GRUB_CMDLINE_LINUX="`);
      expect(e.changes.join('\n')).toContain(`${KMEM_KERNEL_ARG}"`);
      expect(e.changes).toContain('grub2-mkconfig -o /boot/grub2/grub.cfg');
    }
    expect(r.userScript).toContain('grub2-mkconfig -o /boot/grub2/grub.cfg');
    expect(
      targets.map((n) => ({ grub: grubOf(n), cmdline: cmdlineOf(n), boots: bootsOf(n).length })),
    ).toEqual(before);
    expect(rebootLog()).toBe(logBefore);
    for (const n of targets) expect(await unschedulable(n)).toBe(false);
  });

  test('grub2-mkconfig missing, /boot full, /etc/default/grub unreadable or unparseable: skipped before any cordon; the other node is rebooted', async () => {
    const faulty = [
      {
        node: nodes[0]!,
        fault: 'mkconfig-missing',
        reason: /grub2-mkconfig cannot run: .*command not found/,
      },
      {
        node: nodes[1]!,
        fault: 'boot-full',
        reason: /\/boot\/grub2 has 4 KiB free; the new grub.cfg needs \d+ KiB/,
      },
      {
        node: nodes[2]!,
        fault: 'grub-defaults-unreadable',
        reason: /\/etc\/default\/grub: .*not a regular file/,
      },
      { node: nodes[3]!, fault: 'grub-defaults-unparseable', reason: /\/etc\/default\/grub does not parse/ },
    ] as const;
    const healthy = nodes[4]!;
    for (const n of nodes) resetNode(n);
    const boots = new Map(nodes.map((n) => [n, bootsOf(n).length]));
    try {
      for (const f of faulty) await grubFault({ dir: simDir(), node: f.node, fault: f.fault });
      const grubCfgBefore = faulty.map((f) => readFileSync(paths(f.node).grubCfg, 'utf8'));
      const h = await start(
        { cluster: 'sim', nodes: [...faulty.map((f) => f.node), healthy], requireApproval: false, ...fast },
        worker.taskQueue,
        'preconditions',
      );
      const r = (await h.result()) as DisableKmemAccountingResult;
      expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
      expect(r.order).toEqual([healthy]);
      for (const f of faulty) {
        const e = r.nodes.find((n) => n.node === f.node)!;
        expect(e.outcome).toBe('skipped');
        expect(e.reason).toMatch(/^precondition failed, not cordoned: /);
        expect(e.reason).toMatch(f.reason);
        // Never cordoned, not even for a moment; not rebooted; boot config as it was.
        expect(await unschedulable(f.node)).toBe(false);
        expect(
          (await core.readNode({ name: f.node })).metadata?.annotations?.[CORDONED_BY_ANNOTATION],
        ).toBeUndefined();
        expect(bootsOf(f.node)).toHaveLength(boots.get(f.node)!);
      }
      expect(faulty.map((f) => readFileSync(paths(f.node).grubCfg, 'utf8'))).toEqual(grubCfgBefore);
      expect(await activityNodes(h, 'cordonNodeOwned')).toEqual([healthy]);
      expect(r.nodes.find((n) => n.node === healthy)).toMatchObject({
        outcome: 'rebooted',
        uncordoned: true,
      });
      expect(bootsOf(healthy)).toHaveLength(boots.get(healthy)! + 1);
      expect(count(cmdlineOf(healthy), KMEM_KERNEL_ARG)).toBe(1);
      expect(await unschedulable(healthy)).toBe(false);
      expect(await lease()).toBeUndefined();
      await recordHistory(client, h.workflowId, 'disableKmemAccounting-sim-preconditions');

      // Put right, the same nodes pass the checks: a dry run would reboot them.
      for (const f of faulty) await grubFault({ dir: simDir(), node: f.node, fault: 'none' });
      const dry = (await (
        await start({ cluster: 'sim', nodes: faulty.map((f) => f.node), dryRun: true })
      ).result()) as DisableKmemAccountingResult;
      expect(dry.nodes.map((n) => n.outcome)).toEqual(faulty.map(() => 'would-reboot'));
    } finally {
      for (const f of faulty) await grubFault({ dir: simDir(), node: f.node, fault: 'none' });
      resetNode(healthy);
    }
  });

  test('a node SSH cannot reach is skipped with the reason before anything is cordoned; the others go on', async () => {
    const [unreachable, other] = [nodes[0]!, nodes[1]!];
    await setNodeFault({ dir: simDir(), node: unreachable, fault: 'sshd-stopped' });
    try {
      const dry = await start({ cluster: 'sim', nodes: [unreachable, other], dryRun: true });
      const r = (await dry.result()) as DisableKmemAccountingResult;
      expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
      expect(r.order).toEqual([other]);
      const e = r.nodes.find((n) => n.node === unreachable)!;
      expect(e.outcome).toBe('skipped');
      expect(e.reason).toMatch(/^precondition failed, not cordoned: SSH: /);
      expect(r.nodes.find((n) => n.node === other)?.outcome).toBe('would-reboot');
      expect(await unschedulable(unreachable)).toBe(false);
    } finally {
      await setNodeFault({ dir: simDir(), node: unreachable, fault: 'none' });
    }
  });

  test("the worker's default policy: requireApproval false does not lower it; without approval nothing reboots", async () => {
    const target = nodes[0]!;
    const boots = bootsOf(target).length;
    const h = await start(
      { cluster: 'sim', nodes: [target], requireApproval: false, ...fast },
      defaultPolicyWorker.taskQueue,
    );
    await waitFor('the approval gate', async () => (await progressOf(h)).awaitingApproval);
    expect((await progressOf(h)).events.join('\n')).toMatch(
      /the worker's policy requires approval for disableKmemAccounting: reboot 1 nodes/,
    );
    // At the gate the run has nothing in flight: no activity could still reboot or cordon.
    expect((await h.describe()).raw.pendingActivities ?? []).toHaveLength(0);
    expect(bootsOf(target)).toHaveLength(boots);
    expect(await unschedulable(target)).toBe(false);
    expect(await lease()).toBeUndefined();
    await approveRun(h, { reject: true, comment: 'not today' });
    await expect(h.result()).rejects.toThrow(WorkflowFailedError);
    expect(bootsOf(target)).toHaveLength(boots);
    expect(grubOf(target)).toBe(original.get(target)!.grub);
  });

  test('fromEvents: 3 nodes rebooted one at a time with the argument; an operator’s cordon stays; grub edited twice has it once', async () => {
    const targets = nodes.slice(0, 3);
    for (const n of targets) await kmemOomFault({ dir: simDir(), node: n });
    // The operator cordoned the third node beforehand (without our annotation).
    await core.patchNode({ name: targets[2]!, body: { spec: { unschedulable: true } } }, mergePatch);
    // Someone already ran the guide's sed on the second node (but neither grub2-mkconfig nor a reboot).
    const edited = grubOf(targets[1]!).replace(
      /^GRUB_CMDLINE_LINUX="(.*)"/m,
      `GRUB_CMDLINE_LINUX="$1 ${KMEM_KERNEL_ARG}"`,
    );
    writeFileSync(path.join(paths(targets[1]!).etcDefault, 'grub'), edited);
    const boots = new Map(nodes.map((n) => [n, bootsOf(n)]));
    const logStart = rebootLog().length;

    const h = await start({ cluster: 'sim', fromEvents: true, ...fast }, worker.taskQueue, 'three');
    await waitFor('the approval gate', async () => (await progressOf(h)).awaitingApproval);
    await approveRun(h);
    const r = (await h.result()) as DisableKmemAccountingResult;

    expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
    expect(r.order).toEqual(targets);
    expect(r.approvedBy).toBe('sim-operator');
    expect(r.nodes.map((n) => [n.node, n.outcome])).toEqual(targets.map((n) => [n, 'rebooted']));
    for (const n of targets) {
      expect(count(cmdlineOf(n), KMEM_KERNEL_ARG)).toBe(1);
      const line = /^GRUB_CMDLINE_LINUX=.*$/m.exec(grubOf(n))![0];
      expect(count(line.replace(/"/g, ' '), KMEM_KERNEL_ARG)).toBe(1);
      expect(await ready(n)).toBe(true);
      // One new boot per node, with the argument.
      const newBoots = bootsOf(n).slice(boots.get(n)!.length);
      expect(newBoots).toHaveLength(1);
      expect(newBoots[0]).toContain(KMEM_KERNEL_ARG);
    }
    // Every other line of the grub files byte for byte; the pre-edited one not touched at all.
    expect(grubOf(targets[1]!)).toBe(edited);
    expect(grubOf(targets[0]!)).toBe(
      original.get(targets[0]!)!.grub.replace(/^(GRUB_CMDLINE_LINUX=".*)"/m, `$1 ${KMEM_KERNEL_ARG}"`),
    );
    expect(r.nodes.find((n) => n.node === targets[1])?.grub).toBe('unchanged');
    // Uncordoned where we cordoned; the operator's cordon stays.
    expect(await unschedulable(targets[0]!)).toBe(false);
    expect(await unschedulable(targets[1]!)).toBe(false);
    expect(await unschedulable(targets[2]!)).toBe(true);
    expect(r.nodes.find((n) => n.node === targets[2])).toMatchObject({ cordonedBefore: true });
    // Nodes outside the run not rebooted; never more than maxUnavailable (1) down at once.
    for (const n of nodes.slice(3)) expect(bootsOf(n)).toEqual(boots.get(n));
    const intervals = downIntervals(rebootLog().slice(logStart));
    expect(intervals.map((i) => i.node).sort()).toEqual(targets);
    expect(maxDownAtOnce(intervals)).toBe(1);
    // The pods that failed were evicted (their ReplicaSet recreated them off the drained node).
    expect(r.nodes.flatMap((n) => n.evicted ?? [])).toEqual(
      expect.arrayContaining(targets.map((n) => `${KMEM_DEMO_NAMESPACE}/kmem-oom-${n}`)),
    );
    expect(await lease()).toBeUndefined();
    await recordHistory(client, h.workflowId, 'disableKmemAccounting-sim-3-nodes-rebooted');

    // A rerun finds nothing to do: /proc/cmdline has the argument everywhere it was added.
    const again = await start({ cluster: 'sim', nodes: targets, requireApproval: false, ...fast });
    const r2 = (await again.result()) as DisableKmemAccountingResult;
    expect(r2.outcome).toBe('nothing-to-do');
    expect(r2.nodes.every((n) => n.outcome === 'skipped' && /already has/.test(n.reason ?? ''))).toBe(true);
    for (const n of targets) expect(count(grubOf(n).replace(/"/g, ' '), KMEM_KERNEL_ARG)).toBe(1);

    await core.patchNode({ name: targets[2]!, body: { spec: { unschedulable: null } } }, mergePatch);
    await clearKmemOomFault({ dir: simDir() });
  });

  test('a PodDisruptionBudget that blocks eviction stops that node cleanly; no later node is touched', async () => {
    const [blockedNode, laterNode] = [nodes[3]!, nodes[4]!];
    const ns = 'kmem-pdb';
    await core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
    await waitFor('the default ServiceAccount', async () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(
        () => true,
        () => false,
      ),
    );
    const labels = { app: 'guarded' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'guarded' },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeName: blockedNode,
              containers: [{ name: 'app', image: 'docker.io/library/busybox:1.36' }],
            },
          },
        },
      },
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'guarded' }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
    });
    await waitFor('the PDB to count its pod', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'guarded', namespace: ns });
      return pdb.status?.currentHealthy === 1 && pdb.status?.disruptionsAllowed === 0;
    });
    const boots = [bootsOf(blockedNode).length, bootsOf(laterNode).length];
    try {
      const h = await start({
        cluster: 'sim',
        nodes: [blockedNode, laterNode],
        requireApproval: false,
        ...fast,
        drainTimeoutSeconds: 10,
      });
      const r = (await h.result()) as DisableKmemAccountingResult;
      expect(r.outcome).toBe('stopped');
      const [first, second] = r.nodes;
      expect(first).toMatchObject({
        node: blockedNode,
        outcome: 'drain-blocked',
        uncordoned: true,
        cordonedBefore: false,
      });
      expect(first!.blocked!.join(' ')).toMatch(new RegExp(`${ns}/guarded-.*disruption budget`));
      expect(second).toMatchObject({ node: laterNode, outcome: 'not-started' });
      expect(r.stoppedBecause).toContain(`${blockedNode} drain-blocked`);
      expect([bootsOf(blockedNode).length, bootsOf(laterNode).length]).toEqual(boots);
      expect(await unschedulable(blockedNode)).toBe(false);
      expect(await unschedulable(laterNode)).toBe(false);
      expect(grubOf(blockedNode)).toBe(original.get(blockedNode)!.grub);
      expect(grubOf(laterNode)).toBe(original.get(laterNode)!.grub);
      const node = await core.readNode({ name: blockedNode });
      expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();
      expect(await lease()).toBeUndefined();

      // Cancelled while the drain is blocked: the node is given back, the lock released, nothing rebooted.
      const c = await start(
        { cluster: 'sim', nodes: [blockedNode], requireApproval: false, ...fast },
        worker.taskQueue,
        'cancel',
      );
      await waitFor(
        'the drain to start',
        async () => (await progressOf(c)).phase === 'reboot' && (await unschedulable(blockedNode)),
      );
      expect((await lease())?.spec?.holderIdentity).toBe(await holderOf(c));
      await c.cancel();
      await expect(c.result()).rejects.toThrow(WorkflowFailedError);
      expect(await unschedulable(blockedNode)).toBe(false);
      expect(await lease()).toBeUndefined();
      expect(bootsOf(blockedNode).length).toBe(boots[0]);
      expect((await progressOf(c)).events.join('\n')).toContain(`${blockedNode}: cancelled`);
    } finally {
      await core.deleteNamespace({ name: ns }).catch(() => undefined);
    }
  });

  test('worker SIGKILLed while the node reboots: the new worker resumes, no second reboot, same lock holder', async () => {
    const target = nodes[4]!;
    resetNode(target);
    const boots = bootsOf(target);
    const logStart = rebootLog().length;
    const taskQueue = uniqueTaskQueue('kmem-kill');
    const first = await startWorkerProcess(taskQueue, { clustersFile: testPolicyClusters });
    children.push(first);
    const h = await start(
      { cluster: 'sim', nodes: [target], requireApproval: false, ...fast },
      taskQueue,
      'kill',
    );
    await waitForDown(target, logStart);
    first.kill('SIGKILL');
    const killedAt = Date.now();
    // The lock is still this run's while no worker runs it.
    expect((await lease())?.spec?.holderIdentity).toBe(await holderOf(h));
    const second = await startWorkerProcess(taskQueue, { clustersFile: testPolicyClusters });
    children.push(second);
    const r = (await h.result()) as DisableKmemAccountingResult;
    const resumedIn = Date.now() - killedAt;
    second.kill('SIGTERM');

    expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
    const e = r.nodes[0]!;
    expect(e).toMatchObject({ node: target, outcome: 'rebooted', uncordoned: true });
    expect(r.lock).toMatchObject({ holder: await holderOf(h) });
    // Exactly one reboot: one down/up pair in the reboot log, one new boot in the node's boots.log.
    expect(rebootEventsOf(target, logStart)).toEqual(['down', 'up']);
    const newBoots = bootsOf(target).slice(boots.length);
    expect(newBoots).toHaveLength(1);
    expect(newBoots[0]).toContain(`boot_id=${e.bootIdAfter}`);
    expect(e.bootIdBefore).not.toBe(e.bootIdAfter);
    expect(count(cmdlineOf(target), KMEM_KERNEL_ARG)).toBe(1);
    expect(await unschedulable(target)).toBe(false);
    expect(await lease()).toBeUndefined();
    const events = (await h.fetchHistory()).events ?? [];
    const identities = new Set(
      events.map((ev) => ev.activityTaskStartedEventAttributes?.identity).filter((i): i is string => !!i),
    );
    expect(identities.size).toBe(2);
    console.log(`[kmem-kill] resumed and finished ${(resumedIn / 1000).toFixed(1)} s after the kill`);
  });

  test('cancelled while its node reboots: nksr cancel names the node left cordoned; the lock is released; one reboot', async () => {
    const target = nodes[3]!;
    resetNode(target);
    const boots = bootsOf(target).length;
    const logStart = rebootLog().length;
    const h = await start(
      { cluster: 'sim', nodes: [target], requireApproval: false, ...fast },
      worker.taskQueue,
      'cancel-reboot',
    );
    await waitForDown(target, logStart);
    const res = await runCli(['cancel', h.workflowId]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(': CANCELLED');
    // The report lists the node under what failed, with what to do about it.
    const failedTable = res.stdout.split('failed:\n')[1] ?? '';
    expect(failedTable).toMatch(
      new RegExp(
        `node/${target}\\s+node\\s+cancelled during the reboot: left cordoned \\(kubectl uncordon ${target}`,
      ),
    );
    expect(await lease()).toBeUndefined();
    const n = await core.readNode({ name: target });
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe(h.workflowId);
    // The reboot itself completes on its own: one new boot, with the argument; nothing rebooted it again.
    await waitFor(`${target} back up`, () => bootsOf(target).length > boots);
    await waitFor(`${target} Ready`, () => ready(target));
    expect(bootsOf(target)).toHaveLength(boots + 1);
    expect(count(cmdlineOf(target), KMEM_KERNEL_ARG)).toBe(1);
    expect(rebootEventsOf(target, logStart)).toEqual(['down', 'up']);
    // The operator gives the node back, as the report says.
    await giveBack(target);
  });

  test('two runs at once on different nodes: the second waits for the lock; never two nodes down together', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    resetNode(a);
    resetNode(b);
    // A dead tool's Lease, past its TTL: taken over, not waited for.
    const stale = new V1MicroTime(Date.now() - 3_600_000);
    await leases.createNamespacedLease({
      namespace: CLUSTER_LOCK_LEASE.namespace,
      body: {
        metadata: { name: CLUSTER_LOCK_LEASE.name },
        spec: {
          holderIdentity: 'nks/sim/ghost',
          leaseDurationSeconds: 60,
          renewTime: stale,
          acquireTime: stale,
        },
      },
    });
    const logStart = rebootLog().length;
    const runA = await start(
      { cluster: 'sim', nodes: [a], requireApproval: false, ...fast },
      worker.taskQueue,
      'twoA',
    );
    const runB = await start(
      { cluster: 'sim', nodes: [b], requireApproval: false, ...fast },
      worker.taskQueue,
      'twoB',
    );
    const ids = new Map([
      [runA.workflowId, await holderOf(runB)],
      [runB.workflowId, await holderOf(runA)],
    ]);
    // One of them waits, and says for whom.
    let waited: { run: string; phase: string } | undefined;
    await waitFor('one run waiting for the lock', async () => {
      for (const h of [runA, runB]) {
        const p = await progressOf(h);
        if (p.phase.startsWith('waiting-for-lock')) waited = { run: h.workflowId, phase: p.phase };
      }
      return waited !== undefined;
    });
    expect(waited!.phase).toBe(`waiting-for-lock (held by ${ids.get(waited!.run)})`);
    const holder = ids.get(waited!.run)!;
    // With failIfLocked a third run fails at once, having done nothing.
    const third = nodes[4]!;
    resetNode(third);
    const thirdBoots = bootsOf(third).length;
    const failing = await start({
      cluster: 'sim',
      nodes: [third],
      requireApproval: false,
      failIfLocked: true,
      ...fast,
    });
    const failure = await failing.result().then(
      () => undefined,
      (e: WorkflowFailedError) => e.cause,
    );
    expect(failure).toMatchObject({ type: 'RemediationFailed' });
    expect(String((failure as Error).message)).toContain(`held by ${holder}`);
    expect(bootsOf(third)).toHaveLength(thirdBoots);
    expect(await unschedulable(third)).toBe(false);
    const [ra, rb] = (await Promise.all([runA.result(), runB.result()])) as DisableKmemAccountingResult[];
    expect([ra!.outcome, rb!.outcome]).toEqual(['complete', 'complete']);
    const intervals = downIntervals(rebootLog().slice(logStart));
    expect(intervals.map((i) => i.node).sort()).toEqual([a, b].sort());
    expect(maxDownAtOnce(intervals)).toBe(1);
    const waiter = waited!.run === runA.workflowId ? ra! : rb!;
    expect(waiter.lock!.waitedSeconds).toBeGreaterThan(0);
    const first = waited!.run === runA.workflowId ? runB : runA;
    expect((await progressOf(first)).events.join('\n')).toContain('took-over-expired from nks/sim/ghost');
    expect(await lease()).toBeUndefined();
  });

  test("kured's lock held: the run waits and reboots nothing; with failIfLocked it stops; once kured releases it, the reboot goes on", async () => {
    const target = nodes[3]!;
    resetNode(target);
    const boots = bootsOf(target).length;
    const { namespace, daemonSet: name, annotation } = KURED_LOCK;
    const kuredLock = JSON.stringify({
      nodeID: 'some-other-node',
      created: new Date().toISOString(),
      TTL: 0,
    });
    await apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name, annotations: { [annotation]: kuredLock } },
        spec: {
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              tolerations: [{ operator: 'Exists' }],
              containers: [{ name, image: 'ghcr.io/kubereboot/kured:1.15.0' }],
            },
          },
        },
      },
    });
    try {
      const stopped = (await (
        await start({ cluster: 'sim', nodes: [target], requireApproval: false, failIfLocked: true, ...fast })
      ).result()) as DisableKmemAccountingResult;
      expect(stopped.outcome).toBe('stopped');
      expect(stopped.stoppedBecause).toMatch(
        /kured \(rebooting some-other-node\) holds kured's lock.*failIfLocked/,
      );
      expect(bootsOf(target)).toHaveLength(boots);
      expect(await unschedulable(target)).toBe(false);

      const h = await start(
        { cluster: 'sim', nodes: [target], requireApproval: false, ...fast },
        worker.taskQueue,
        'kured',
      );
      await waitFor(
        'the run waiting for kured',
        async () =>
          (await progressOf(h)).phase === 'waiting-for-kured (held by kured (rebooting some-other-node))',
      );
      await sleep(3_000);
      expect(bootsOf(target)).toHaveLength(boots);
      expect(await unschedulable(target)).toBe(false);
      // kured is done with its node: the annotation goes, and the run goes on by itself.
      await apps.patchNamespacedDaemonSet(
        { name, namespace, body: { metadata: { annotations: { [annotation]: null } } } },
        mergePatch,
      );
      const r = (await h.result()) as DisableKmemAccountingResult;
      expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
      expect(r.nodes[0]).toMatchObject({ node: target, outcome: 'rebooted' });
      expect(bootsOf(target)).toHaveLength(boots + 1);
      expect((await progressOf(h)).events.join('\n')).toContain("kured's lock is free");
    } finally {
      await apps.deleteNamespacedDaemonSet({ name, namespace }).catch(() => undefined);
    }
  });

  test('maxUnavailable 2 over 4 nodes: batches of two, never three down; a blocking pod holds its batch until it is gone', async () => {
    const targets = nodes.slice(0, 4);
    for (const n of targets) resetNode(n);
    const boots = new Map(nodes.map((n) => [n, bootsOf(n).length]));
    const logStart = rebootLog().length;
    // A pod the operator marked "do not disrupt" on a node of the second batch.
    const blocker = `nksr-blocker-${randomUUID().slice(0, 6)}`;
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: blocker, labels: { 'nksr-test/blocks-reboot': 'true' } },
        spec: {
          nodeName: targets[2],
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'batch-job', image: 'docker.io/library/busybox:1.36' }],
        },
      },
    });
    try {
      const h = await start(
        {
          cluster: 'sim',
          nodes: targets,
          requireApproval: false,
          maxUnavailable: 2,
          blockingPodSelector: 'nksr-test/blocks-reboot=true',
          ...fast,
        },
        worker.taskQueue,
        'two-at-once',
      );
      await waitFor(
        'the second batch held by the blocking pod',
        async () => (await progressOf(h)).phase === 'waiting-for-health',
        240_000,
      );
      const p = await progressOf(h);
      expect(p.events.join('\n')).toContain(
        `${targets[2]} runs blocking pods (nksr-test/blocks-reboot=true): default/${blocker}`,
      );
      // The first batch is done; the held one has not been touched.
      for (const n of targets.slice(0, 2)) expect(bootsOf(n)).toHaveLength(boots.get(n)! + 1);
      for (const n of targets.slice(2)) {
        expect(bootsOf(n)).toHaveLength(boots.get(n)!);
        expect(await unschedulable(n)).toBe(false);
      }
      await core.deleteNamespacedPod({ name: blocker, namespace: 'default', gracePeriodSeconds: 0 });
      const r = (await h.result()) as DisableKmemAccountingResult;
      expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
      expect(r.nodes.map((e) => e.outcome)).toEqual(targets.map(() => 'rebooted'));
      for (const n of targets) {
        expect(bootsOf(n)).toHaveLength(boots.get(n)! + 1);
        expect(count(cmdlineOf(n), KMEM_KERNEL_ARG)).toBe(1);
        expect(await unschedulable(n)).toBe(false);
      }
      expect(bootsOf(nodes[4]!)).toHaveLength(boots.get(nodes[4]!)!);
      const intervals = downIntervals(rebootLog().slice(logStart));
      expect(intervals.map((i) => i.node).sort()).toEqual(targets);
      // Never three down; the second batch went down only after the whole first batch was back.
      expect(maxDownAtOnce(intervals)).toBeLessThanOrEqual(2);
      const batch = (ns: string[]) => intervals.filter((i) => ns.includes(i.node));
      const firstBackAt = Math.max(...batch(targets.slice(0, 2)).map((i) => i.to));
      const secondDownAt = Math.min(...batch(targets.slice(2)).map((i) => i.from));
      expect(firstBackAt).toBeLessThan(secondDownAt);
      console.log(`[kmem-two] most nodes down at once: ${maxDownAtOnce(intervals)}`);
      expect(await lease()).toBeUndefined();
    } finally {
      await core
        .deleteNamespacedPod({ name: blocker, namespace: 'default', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
  });

  test('the health gate holds while a node outside the run is NotReady, and proceeds when it recovers', async () => {
    const [target, sick] = [nodes[2]!, nodes[3]!];
    resetNode(target);
    const boots = bootsOf(target).length;
    const sim = loadSim(simDir());
    await sim.setNodeReady({ node: sick, ready: false });
    try {
      await waitFor(`${sick} NotReady`, async () => !(await ready(sick)));
      // Default minReadyPercent 90: 3 of the 4 other nodes Ready is 75 %.
      const h = await start({ cluster: 'sim', nodes: [target], requireApproval: false, ...fast });
      await waitFor('the health gate', async () => (await progressOf(h)).phase === 'waiting-for-health');
      const p = await progressOf(h);
      expect(p.events.join('\n')).toContain(`NotReady: ${sick}`);
      // The gate looked again (twice) and still holds the node back.
      const healthChecks = async () =>
        (await runEvents(h)).filter(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkDisruptionHealth',
        ).length;
      const seen = await healthChecks();
      await waitFor('two more health checks', async () => (await healthChecks()) >= seen + 2);
      expect((await progressOf(h)).phase).toBe('waiting-for-health');
      expect(bootsOf(target)).toHaveLength(boots);
      expect(await unschedulable(target)).toBe(false);
      await sim.setNodeReady({ node: sick, ready: true });
      const r = (await h.result()) as DisableKmemAccountingResult;
      expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
      expect(r.nodes[0]).toMatchObject({ node: target, outcome: 'rebooted' });
      expect(bootsOf(target)).toHaveLength(boots + 1);
      expect(count(cmdlineOf(target), KMEM_KERNEL_ARG)).toBe(1);
    } finally {
      await sim.setNodeReady({ node: sick, ready: true });
    }
  });

  test('5,000 nodes stay bounded: children of nodesPerChild nodes; every history and payload of a run under its bound', async () => {
    const targets = nodes.slice(0, 5);
    for (const n of targets) resetNode(n);
    const perChild = 2;
    const h = await start({
      cluster: 'sim',
      nodes: targets,
      requireApproval: false,
      nodesPerChild: perChild,
      ...fast,
    });
    const r = (await h.result()) as DisableKmemAccountingResult;
    expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
    expect(r.nodes.map((n) => [n.node, n.outcome])).toEqual(targets.map((n) => [n, 'rebooted']));
    for (const n of targets) expect(count(cmdlineOf(n), KMEM_KERNEL_ARG)).toBe(1);

    const histories = await runHistories(h);
    const parent = histories[0]!;
    const children = histories.slice(1);
    // 5 nodes, 2 per child: children of 2, 2 and 1 node, one after another.
    expect(children).toHaveLength(3);
    const LIMIT = 10_240;
    const NODES = 5_000;
    const PER_CHILD = 50;
    const childCount = Math.ceil(NODES / PER_CHILD);
    // A child: fixed + perNode · nodes. The 1-node child gives fixed + perNode; a 2-node one adds perNode.
    const [two, , one] = children.map((c) => c.events.length);
    const perNode = Math.max(two!, children[1]!.events.length) - one!;
    const fixed = one! - perNode;
    expect(perNode).toBeGreaterThan(0);
    expect(fixed + perNode * PER_CHILD).toBeLessThan(LIMIT / 2);
    // The parent: a + b · children. b is what one child costs the parent (from the first child's start
    // to the last one's end, per child); a the rest.
    const kinds = parent.events.map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? '');
    const firstChild = kinds.indexOf('startChildWorkflowExecutionInitiatedEventAttributes');
    const lastChild = kinds.lastIndexOf('childWorkflowExecutionCompletedEventAttributes');
    const b = Math.ceil((lastChild - firstChild + 1) / children.length);
    const a = parent.events.length - b * children.length;
    expect(b).toBeLessThanOrEqual(12);
    expect(a + b * childCount).toBeLessThan(LIMIT);
    // Payloads: every one of every event. A child's grow with its nodes only (at most PER_CHILD of
    // them); the parent's must not grow with the run's nodes.
    const payloadSizes = (events: unknown[]) => {
      const sizes: number[] = [];
      const walk = (v: unknown): void => {
        if (!v || typeof v !== 'object') return;
        if (v instanceof Uint8Array) return;
        const o = v as Record<string, unknown>;
        if (o.data instanceof Uint8Array && o.metadata) sizes.push(o.data.length);
        for (const x of Object.values(o)) walk(x);
      };
      walk(events);
      return sizes;
    };
    const childMax = Math.max(...children.flatMap((c) => payloadSizes(c.events)));
    expect(childMax * (PER_CHILD / perChild)).toBeLessThan(64 * 1024);
    const parentMax = Math.max(...payloadSizes(parent.events));
    expect(parentMax).toBeLessThan(64 * 1024);
  });

  test('a child past childContinueAsNewAt events continues as new between rounds, carrying its done nodes; each node rebooted once', async () => {
    const targets = nodes.slice(0, 3);
    for (const n of targets) resetNode(n);
    const boots = targets.map((n) => bootsOf(n).length);
    const h = await start({
      cluster: 'sim',
      nodes: targets,
      requireApproval: false,
      nodesPerChild: 3,
      childContinueAsNewAt: 100,
      ...fast,
    });
    const r = (await h.result()) as DisableKmemAccountingResult;
    expect([r.outcome, r.stoppedBecause]).toEqual(['complete', undefined]);
    expect(r.nodes.map((n) => [n.node, n.outcome])).toEqual(targets.map((n) => [n, 'rebooted']));
    expect(targets.map((n) => bootsOf(n).length)).toEqual(boots.map((b) => b + 1));
    const [, child] = await runHistories(h);
    // The child's latest run was started by a continue-as-new of an earlier one.
    expect(child!.events[0]!.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBeTruthy();
    expect(child!.events.length).toBeLessThan(200);
  });
});
