/**
 * disableKmemAccounting (docs/procedures.md §5): `cannot allocate memory` when pods start, on 3.x/4.x
 * kernels. A rolling reboot that adds cgroup.memory=nokmem to the kernel command line.
 *
 * 1. Nodes: given, or those of pods with a FailedCreatePodContainer "cannot allocate memory" event.
 *    Skipped, saying why: unknown or NotReady nodes, nodes whose running /proc/cmdline already has
 *    the argument, (unless `force`) nodes on kernel 5.x or newer, and nodes where the reboot could
 *    not work (one read-only pass before anything is cordoned: SSH, boot-ID probe, /etc/default/grub,
 *    grub2-mkconfig, room in /boot).
 * 2. Dry run: the order and every change per node, then stop. Otherwise the approval gate (default on).
 * 3. Under the cluster lock, batches of `maxUnavailable` nodes, each batch only inside the
 *    maintenance window and after the health gate passes. Per node: cordon (whether it was cordoned
 *    before is recorded), drain with the Eviction API, add the argument to GRUB_CMDLINE_LINUX,
 *    grub2-mkconfig, reboot (boot-ID guarded), wait for SSH down/up and Ready with a new boot ID,
 *    verify /proc/cmdline, uncordon only if this run cordoned it.
 * 4. A drain blocked past its timeout stops that node cleanly (uncordoned if ours) and the run; any
 *    other failure leaves the node cordoned and reported, and the run stops before the next batch.
 * A rerun skips the nodes already done (their /proc/cmdline has the argument).
 *
 * This file sequences the phases; one node's reboot is reboot-node.ts.
 */
import { CancelledFailure, setHandler, startChild } from '@temporalio/workflow';
import { CLUSTER_LOCK_LEASE } from '../../common/cluster-lock';
import { KMEM_KERNEL_ARG, cmdlineHasArg, kernelMajor, kmemUserScript } from '../../common/grub';
import {
  type DisableKmemAccountingInput,
  DisableKmemAccountingInputSchema,
  type DisableKmemAccountingResult,
  type KmemNodeEntry,
  KMEM_NOTABLE,
  MAX_ORDER_LISTED,
} from '../../common/procedures/disable-kmem-accounting';
import { countOutcomes, notableFirst } from '../../common/report';
import {
  clusterScanActivities,
  quickActivities,
  remoteActivities,
  waitActivities,
} from '../activity-profiles';
import { approvalStep } from '../lib/approval';
import { type ClusterLock, withClusterLock } from '../lib/cluster-lock';
import { failureSummary } from '../lib/failures';
import { fanOut } from '../lib/fan-out';
import { runRemediation } from '../lib/progress';
import { runPreflight } from '../lib/preflight';
import { selectTargets } from '../lib/targets';
import { disableKmemAccountingNodes, kmemGateSignal } from './nodes-child';
import { KmemRun } from './run';

type Result = DisableKmemAccountingResult;

export function disableKmemAccounting(raw: DisableKmemAccountingInput): Promise<Result> {
  return runRemediation('disableKmemAccounting', raw, DisableKmemAccountingInputSchema, (input, progress) =>
    rollingReboot(new KmemRun(input, progress)),
  );
}

async function rollingReboot(run: KmemRun): Promise<Result> {
  const { input, progress } = run;
  const preflight = await runPreflight(progress, input);
  await selectNodes(run, preflight.nodes.length);
  if (run.order.length === 0) return buildReport(run, 'nothing-to-do');
  if (input.dryRun) {
    await planReboots(run);
    return buildReport(run, 'complete');
  }
  // Named up to a screenful; a 5,000-node list would make the approval text alone pass 64 KB.
  const named = run.order.slice(0, APPROVAL_NODES_NAMED).join(', ');
  const more = run.order.length - APPROVAL_NODES_NAMED;
  const what = `reboot ${run.order.length} nodes (${named}${more > 0 ? ` and ${more} more` : ''}), ${input.maxUnavailable} at a time`;
  const gate = await approvalStep(progress, what, input);
  if (gate) {
    if (gate.decision === 'expired') return buildReport(run, 'approval-expired');
    run.approvedBy = gate.approver;
  }
  return withClusterLock(progress, input, (lock) => rebootInBatches(run, lock));
}

/** Nodes named in the approval text; the others are counted. */
const APPROVAL_NODES_NAMED = 20;

/** 1. The nodes to reboot, in order; the others skipped with the reason. */
async function selectNodes(run: KmemRun, nodeCount: number): Promise<void> {
  const { input, progress } = run;
  const { cluster } = input;
  const q = quickActivities();
  progress.phase(
    'select-nodes',
    input.fromEvents ? 'FailedCreatePodContainer: cannot allocate memory' : undefined,
  );
  if (input.nodes) run.wanted = input.nodes;
  else {
    const pods = await clusterScanActivities(nodeCount).findKmemOomPods({ cluster });
    for (const p of pods)
      progress.note(`pod ${p.namespace}/${p.name} on ${p.node}: ${KMEM_KERNEL_ARG} needed`);
    run.wanted = [...new Set(pods.map((p) => p.node))].sort();
  }
  const facts: Awaited<ReturnType<typeof q.readKmemNodeFacts>> = [];
  for (let i = 0; i < run.wanted.length; i += FACTS_CHUNK)
    facts.push(...(await q.readKmemNodeFacts({ cluster, nodes: run.wanted.slice(i, i + FACTS_CHUNK) })));
  for (const f of facts) {
    run.kernelOf.set(f.node, f.kernelVersion);
    run.cordonedBefore.set(f.node, f.unschedulable);
  }
  const known = facts.filter((f) => f.exists).map((f) => ({ name: f.node, ready: f.ready }));
  const { targets, skipped } = selectTargets(
    facts.map((f) => f.node),
    known,
    { notReadyReason: 'NotReady: not rebooted blind' },
  );
  for (const s of skipped)
    run.entries.set(s.node, { ...run.entryBase(s.node), outcome: 'skipped', reason: s.reason });
  const candidates = targets.filter((node) => {
    const kernel = run.kernelOf.get(node);
    const major = kernelMajor(kernel);
    if (input.force || major === undefined || major < 5) return true;
    const reason = `kernel ${kernel} (5.x or newer is not affected; force: true reboots it anyway)`;
    run.entries.set(node, { ...run.entryBase(node), outcome: 'skipped', reason });
    return false;
  });
  await checkPreconditions(run, candidates);
  run.order = candidates.filter((node) => !run.entries.has(node));
  for (const e of run.entries.values()) progress.item(`node/${e.node}`, 'node', 'skipped', e.reason);
  for (const node of run.order) progress.item(`node/${node}`, 'node', 'pending', 'to reboot');
  progress.note(`${run.order.length} nodes to reboot, ${run.entries.size} skipped`);
}

/** Nodes per readKmemNodeFacts call: a few hundred bytes each, so a result stays far under 64 KB. */
const FACTS_CHUNK = 200;

/** Nodes per precondition call, and calls at once: one read-only pass over every candidate. */
const PRECONDITION_CHUNK = 25;
const PRECONDITION_CALLS_AT_ONCE = 4;

/**
 * Before any node is cordoned, every candidate is checked without disruption (SSH, the boot-ID
 * probe, /etc/default/grub, grub2-mkconfig, room in /boot): a node that fails is skipped with the
 * reason and never touched; a node whose running kernel already has the argument needs no reboot
 * (a rerun after success).
 */
async function checkPreconditions(run: KmemRun, candidates: string[]): Promise<void> {
  // Heartbeating, bounded as a whole: a call waits out SSH retries of unreachable nodes.
  const { checkKmemRebootPreconditions } = waitActivities({ scheduleToCloseTimeout: '15m' });
  const chunks: string[][] = [];
  for (let i = 0; i < candidates.length; i += PRECONDITION_CHUNK)
    chunks.push(candidates.slice(i, i + PRECONDITION_CHUNK));
  if (chunks.length) run.progress.phase('preconditions', `${candidates.length} nodes, read-only`);
  const skip = (node: string, reason: string) =>
    run.entries.set(node, { ...run.entryBase(node), outcome: 'skipped', reason });
  await fanOut({
    items: chunks,
    key: (chunk) => chunk[0]!,
    maxParallel: PRECONDITION_CALLS_AT_ONCE,
    maxFailures: Infinity,
    run: (chunk) => checkKmemRebootPreconditions({ cluster: run.input.cluster, nodes: chunk }),
    onError: (chunk, err) => {
      for (const node of chunk) skip(node, `preconditions not checked: ${failureSummary(err)}`);
      return [];
    },
    onDone: (_chunk, checked) => {
      for (const c of checked) {
        if (c.bootId) run.bootId.set(c.node, c.bootId);
        if (c.cmdline !== undefined && cmdlineHasArg(c.cmdline, KMEM_KERNEL_ARG))
          skip(c.node, `/proc/cmdline already has ${KMEM_KERNEL_ARG}`);
        else if (c.problems.length)
          skip(c.node, `precondition failed, not cordoned: ${c.problems.join('; ')}`);
      }
    },
  });
}

/** 2. Dry run: every change per node, read-only. */
async function planReboots(run: KmemRun): Promise<void> {
  const { planKmemGrubArg } = remoteActivities();
  run.progress.phase('plan', `${run.order.length} nodes`);
  await Promise.all(
    run.order.map(async (node) => {
      const grub = await planKmemGrubArg({ cluster: run.input.cluster, node });
      const before = run.cordonedBefore.get(node) === true;
      const bootIdBefore = run.bootId.get(node);
      run.entries.set(node, {
        ...run.entryBase(node),
        outcome: 'would-reboot',
        cordonedBefore: before,
        ...(bootIdBefore ? { bootIdBefore } : {}),
        changes: [
          before ? 'already cordoned (by someone else): stays cordoned' : 'cordon',
          'drain with the Eviction API (PodDisruptionBudgets respected; DaemonSet and mirror pods stay)',
          grub.status === 'would-add'
            ? `${grub.path}: ${grub.before ?? '(no GRUB_CMDLINE_LINUX)'} → ${grub.after}`
            : `${grub.path}: already has ${KMEM_KERNEL_ARG}`,
          'grub2-mkconfig -o /boot/grub2/grub.cfg',
          'reboot; wait for SSH down and up, Ready with a new boot ID',
          `verify /proc/cmdline has ${KMEM_KERNEL_ARG}`,
          before ? 'leave cordoned' : 'uncordon',
        ],
      });
    }),
  );
}

/**
 * 3. The order in child workflows of `nodesPerChild` nodes, one after another (nodes-child.ts): each
 * reboots its nodes in rounds of maxUnavailable behind the kured, window and health gates and stops
 * at the first bad node. The parent holds the cluster lock and hands its renewals to the running
 * child; it starts no child once the lock is lost and records each child's entries when the child ends.
 */
async function rebootInBatches(run: KmemRun, lock: ClusterLock): Promise<Result> {
  const { input, progress, order } = run;
  const lockInfo = {
    namespace: CLUSTER_LOCK_LEASE.namespace,
    name: CLUSTER_LOCK_LEASE.name,
    holder: lock.holder,
    waitedSeconds: lock.waitedSeconds,
  };
  const approved = run.approvedBy ? { approvedBy: run.approvedBy } : {};
  const stop = (why: string): Result => {
    for (const node of order) {
      if (run.entries.has(node)) continue;
      run.entries.set(node, { ...run.entryBase(node), reason: `not started: ${why}` });
      progress.item(`node/${node}`, 'node', 'skipped', 'not started');
    }
    return buildReport(run, 'stopped', { stoppedBecause: why, lock: lockInfo, ...approved });
  };
  setHandler(kmemGateSignal, (msg) => {
    if (msg.phase) progress.phase(...msg.phase);
    if (msg.note) progress.note(msg.note);
  });
  const { nodes: _all, ...options } = input;
  const per = input.nodesPerChild;
  for (let i = 0; i < order.length; i += per) {
    if (lock.lost()) return stop(lock.lost()!);
    const chunk = order.slice(i, i + per);
    const workflowId = `${run.owner}/nodes-${i / per + 1}`;
    const first = chunk.slice(0, input.maxUnavailable);
    progress.phase('reboot', `${first.join(', ')} (${i + first.length}/${order.length}) in ${workflowId}`);
    for (const node of chunk) progress.item(`node/${node}`, 'node', 'running', `in ${workflowId}`);
    // The child renews the lock while it runs: its renewals land in its own history.
    const r = await lock.handOver(async (lease) => {
      const child = await startChild(disableKmemAccountingNodes, {
        workflowId,
        args: [
          {
            options,
            owner: run.owner,
            lease,
            nodes: chunk.map((node) => ({
              node,
              ...(run.kernelOf.get(node) ? { kernel: run.kernelOf.get(node)! } : {}),
            })),
            first: i,
            total: order.length,
          },
        ],
      });
      return child.result();
    });
    for (const note of r.notes) progress.note(note);
    for (const e of r.entries) {
      run.entries.set(e.node, e);
      const state = e.outcome === 'rebooted' ? 'succeeded' : 'failed';
      progress.item(`node/${e.node}`, 'node', state, e.reason ?? e.changes[e.changes.length - 1]);
    }
    if (r.cancelled) throw new CancelledFailure('cancelled while nodes rebooted');
    if (r.stoppedBecause) return stop(r.stoppedBecause);
  }
  return buildReport(run, 'complete', { lock: lockInfo, ...approved });
}

function buildReport(run: KmemRun, outcome: Result['outcome'], extra: Partial<Result> = {}): Result {
  const { input, wanted, order } = run;
  const nodes = wanted.map((n) => run.entries.get(n)).filter((e): e is KmemNodeEntry => !!e);
  const done = nodes.filter((n) => n.outcome === 'rebooted').length;
  const planned = nodes.filter((n) => n.outcome === 'would-reboot').length;
  const skipped = nodes.filter((n) => n.outcome === 'skipped').length;
  const listed = order.slice(0, MAX_ORDER_LISTED);
  const shown = notableFirst(nodes, (n) => KMEM_NOTABLE.has(n.outcome));
  const summary =
    wanted.length === 0
      ? 'no node needs it (no FailedCreatePodContainer "cannot allocate memory" event)'
      : input.dryRun
        ? `${planned} nodes would be rebooted in this order: ${listed.join(', ') || 'none'}${order.length > listed.length ? ` and ${order.length - listed.length} more` : ''}; ${skipped} skipped`
        : `${done}/${order.length} nodes rebooted with ${KMEM_KERNEL_ARG}, ${skipped} skipped` +
          (extra.stoppedBecause ? `; stopped: ${extra.stoppedBecause}` : '');
  return {
    cluster: input.cluster,
    dryRun: input.dryRun,
    outcome,
    order: listed,
    ...(order.length > listed.length ? { orderOmitted: order.length - listed.length } : {}),
    nodes: shown.listed,
    ...(shown.omitted ? { nodesOmitted: shown.omitted } : {}),
    nodeOutcomes: countOutcomes(nodes.map((n) => n.outcome)),
    userScript: kmemUserScript(),
    summary,
    ...extra,
  };
}
