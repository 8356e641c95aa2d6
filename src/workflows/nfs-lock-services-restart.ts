/**
 * nfsLockServicesRestart (docs/procedures.md §7): NFS mounts failing with `rpc.statd is not running
 * but is required for remote locking`.
 *
 * 1. The stuck pods: Pending pods whose FailedMount event says so (on the given nodes, or anywhere
 *    with fromEvents); with fromEvents their nodes are the targets.
 * 2. Dry run: the plan (nodes, pods to delete, bare pods) and stop.
 * 3. Per node (bounded fan-out, failure budget): rpcbind restarted if not active or hung (rpcinfo
 *    gets no answer), then rpc-statd restarted, both verified active.
 * 4. On each fixed node: the stuck pods a controller recreates are deleted (UID precondition) and
 *    their replacements awaited until Running; bare pods are reported, never deleted.
 * A rerun finds no stuck pod where the replacements run; with `nodes` it restarts rpc-statd again,
 * which the service tolerates.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  type NfsLockServicesRestartInput,
  NfsLockServicesRestartInputSchema,
  type NfsLockServicesRestartOptions,
  type NfsLockServicesRestartResult,
  type NfsNodeEntry,
  type NfsPodEntry,
  type NfsStuckPod,
} from '../common/procedures/nfs-lock-services-restart';
import {
  clusterScanActivities,
  quickActivities,
  remoteActivities,
  waitActivities,
} from './activity-profiles';
import { approvalStep } from './lib/approval';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { withClusterLock } from './lib/cluster-lock';
import { runPreflight } from './lib/preflight';
import { selectTargets } from './lib/targets';

/** One run: its input and every node's entry as the run learns it. */
interface RestartRun {
  input: NfsLockServicesRestartOptions;
  progress: ProgressTracker;
  wanted: string[];
  nodes: Map<string, NfsNodeEntry>;
}

export function nfsLockServicesRestart(
  raw: NfsLockServicesRestartInput,
): Promise<NfsLockServicesRestartResult> {
  return runRemediation('nfsLockServicesRestart', raw, NfsLockServicesRestartInputSchema, restart);
}

async function restart(
  input: NfsLockServicesRestartOptions,
  progress: ProgressTracker,
): Promise<NfsLockServicesRestartResult> {
  const { run, targets, stuck } = await findStuckPods(input, progress);
  if (input.dryRun) {
    for (const node of targets) run.nodes.set(node, { node, outcome: 'would-fix' });
    return buildReport(
      run,
      stuck.map((p) => podEntry(p, p.controller ? 'would-delete' : 'bare')),
    );
  }
  const gate = await approvalStep(
    progress,
    `restart rpcbind/rpc-statd on ${targets.length} node(s), delete ${stuck.filter((p) => p.controller).length} stuck pod(s)`,
    input,
  );
  if (gate?.decision === 'expired') {
    for (const node of targets)
      run.nodes.set(node, { node, outcome: 'not-started', reason: 'approval expired' });
    return {
      ...buildReport(
        run,
        stuck.map((p) => podEntry(p, 'not-attempted')),
      ),
      outcome: 'approval-expired',
      summary: `approval expired after ${gate.after}; nothing changed`,
    };
  }
  const approvedBy = gate?.approver;
  return withClusterLock(progress, input, async () => {
    await restartServices(run, targets);
    return { ...buildReport(run, await recreatePods(run, stuck)), ...(approvedBy ? { approvedBy } : {}) };
  });
}

/** 1. Preflight, the stuck pods, and the nodes to fix (unknown and NotReady ones skipped). */
async function findStuckPods(input: NfsLockServicesRestartOptions, progress: ProgressTracker) {
  const preflight = await runPreflight(progress, input);
  const { findNfsLockStuckPods } = clusterScanActivities(preflight.nodes.length);
  progress.phase('find-pods', 'FailedMount events: rpc.statd is not running');
  const stuck = await findNfsLockStuckPods({
    cluster: input.cluster,
    ...(input.nodes ? { nodes: input.nodes } : {}),
  });
  const wanted = input.nodes ?? [...new Set(stuck.map((p) => p.node))].sort();
  const run: RestartRun = { input, progress, wanted, nodes: new Map() };
  const { targets, skipped } = selectTargets(wanted, preflight.nodes);
  for (const s of skipped) run.nodes.set(s.node, { node: s.node, outcome: 'skipped', reason: s.reason });
  for (const p of stuck) progress.item(`pod/${p.namespace}/${p.name}`, 'object', 'pending', `on ${p.node}`);
  progress.note(`${stuck.length} stuck pods on ${wanted.length} nodes`);
  return { run, targets, stuck };
}

/** 3. rpcbind restarted if down or hung, rpc-statd restarted, both verified, per node under the budget. */
async function restartServices(run: RestartRun, targets: string[]): Promise<void> {
  const { input, progress } = run;
  const { cluster } = input;
  const { ensureRpcbindAnswers, restartNodeService, verifyNodeService } = remoteActivities();
  progress.phase('restart-services', `${targets.length} nodes, ${input.maxParallel} at a time`);
  await fanOut<string, NfsNodeEntry>({
    items: targets,
    key: (n) => n,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: async (node) => {
      // rpcbind first: rpc.statd registers with it when it starts, so a statd restarted while
      // rpcbind is down or hung fails (the guide's order, statd then rpcbind, leaves it so).
      const rpcbind = await ensureRpcbindAnswers({ cluster, node });
      const statd = await restartNodeService({ cluster, node, unit: 'rpc-statd', mode: 'restart' });
      const v1 = await verifyNodeService({ cluster, node, unit: 'rpcbind' });
      const v2 = await verifyNodeService({ cluster, node, unit: 'rpc-statd' });
      const entry: NfsNodeEntry = {
        node,
        outcome: v1.active && v2.active ? 'fixed' : 'failed',
        rpcbind: {
          before: rpcbind.stateBefore,
          after: v1.state,
          answeredBefore: rpcbind.answeredBefore,
          restarted: rpcbind.action === 'restarted',
        },
        rpcStatd: { before: statd.stateBefore, after: v2.state },
      };
      if (entry.outcome === 'failed')
        entry.reason = `not active after restart: rpcbind ${v1.state}, rpc-statd ${v2.state}`;
      return entry;
    },
    isFailure: (e) => e.outcome === 'failed',
    onError: (node, err) => ({ node, outcome: 'failed', reason: failureSummary(err) }),
    onStart: (node) => progress.item(`node/${node}`, 'node', 'running', 'restarting rpcbind/rpc-statd'),
    onDone: (node, e) => {
      run.nodes.set(node, e);
      const state = e.outcome === 'fixed' ? 'succeeded' : 'failed';
      progress.item(`node/${node}`, 'node', state, e.reason ?? 'services active');
    },
    onNotStarted: (node) =>
      run.nodes.set(node, { node, outcome: 'not-started', reason: 'failure budget spent' }),
  });
}

/** 4. On fixed nodes: each stuck pod with a controller deleted (UID precondition), its replacement awaited. */
async function recreatePods(run: RestartRun, stuck: NfsStuckPod[]): Promise<NfsPodEntry[]> {
  const { input, progress } = run;
  const { deleteStuckPod } = quickActivities();
  progress.phase('recreate-pods', `${stuck.filter((p) => p.controller).length} pods with a controller`);
  const { waitForPodReplacement } = waitActivities({
    scheduleToCloseTimeout: `${input.replacementTimeoutSeconds + 60}s`,
  });
  const pods = await Promise.all(
    stuck.map(async (p): Promise<NfsPodEntry> => {
      if (!p.controller) return podEntry(p, 'bare', { reason: 'no controller: not deleted' });
      if (run.nodes.get(p.node)?.outcome !== 'fixed')
        return podEntry(p, 'not-attempted', { reason: `node ${p.node} not fixed` });
      try {
        await deleteStuckPod({ cluster: input.cluster, namespace: p.namespace, name: p.name, uid: p.uid });
        const r = await waitForPodReplacement({
          cluster: input.cluster,
          namespace: p.namespace,
          oldUid: p.uid,
          controllerUid: p.controller.uid,
          timeoutSeconds: input.replacementTimeoutSeconds,
        });
        return podEntry(p, 'recreated', { replacement: `${r.name}${r.node ? ` on ${r.node}` : ''}` });
      } catch (err) {
        if (isCancellation(err)) throw err;
        return podEntry(p, 'failed', { reason: failureSummary(err) });
      }
    }),
  );
  for (const e of pods) {
    const state = e.outcome === 'recreated' ? 'succeeded' : e.outcome === 'bare' ? 'skipped' : 'failed';
    progress.item(`pod/${e.namespace}/${e.name}`, 'object', state, e.replacement ?? e.reason);
  }
  return pods;
}

function podEntry(
  p: NfsStuckPod,
  outcome: NfsPodEntry['outcome'],
  extra: Partial<NfsPodEntry> = {},
): NfsPodEntry {
  return {
    namespace: p.namespace,
    name: p.name,
    node: p.node,
    outcome,
    ...(p.controller ? { controller: `${p.controller.kind}/${p.controller.name}` } : {}),
    ...extra,
  };
}

function buildReport(run: RestartRun, pods: NfsPodEntry[]): NfsLockServicesRestartResult {
  const { input, wanted } = run;
  const all = wanted.map((n) => run.nodes.get(n)!).filter(Boolean);
  const fixed = all.filter((n) => n.outcome === 'fixed' || n.outcome === 'would-fix').length;
  const recreated = pods.filter((p) => p.outcome === 'recreated' || p.outcome === 'would-delete').length;
  const bare = pods.filter((p) => p.outcome === 'bare').length;
  const bad =
    all.filter((n) => n.outcome !== 'fixed' && n.outcome !== 'would-fix').length +
    pods.filter((p) => p.outcome === 'failed' || p.outcome === 'not-attempted').length;
  const summary =
    wanted.length === 0
      ? 'no pod waits on rpc.statd'
      : `${fixed}/${wanted.length} nodes ${input.dryRun ? 'would be fixed' : 'fixed'}, ${recreated} stuck pods ${input.dryRun ? 'would be deleted' : 'recreated'}` +
        (bare ? `, ${bare} bare pods left for you` : '') +
        (bad ? `, ${bad} failed or not attempted` : '');
  return {
    cluster: input.cluster,
    dryRun: input.dryRun,
    outcome: wanted.length === 0 ? 'nothing-to-do' : bad || bare ? 'partial' : 'complete',
    nodes: all,
    pods,
    summary,
  };
}
