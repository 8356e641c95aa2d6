/**
 * logrotateSync (docs/procedures.md §1): the logrotate config on every (or the given) Ready node.
 *
 * 0. The worker's policy (clusters.yaml) must admit the config: another one is refused before any
 *    SSH login. From here on activities carry its sha256, not its text (the worker finds the text by
 *    it), so a 5,000-node run's history holds the config once.
 * 1. Read every node in batches of nodes (one activity per batch, bounded, read-only; an unreachable
 *    node is reported and the others go on): a docker node's file hashes (missing counts as
 *    different); a containerd node (Kubernetes ≥ 1.24) is not applicable, since kubelet rotates its
 *    container logs, and its report names kubelet's containerLogMaxSize / containerLogMaxFiles.
 * 2. Check the config with `logrotate -d` on a temp copy on the first node that differs (the next one
 *    if that node cannot be reached): a config logrotate rejects is refused before any node changes.
 * 3. Dry run: return the plan (which nodes, what they have now) and stop.
 * 4. Install on each node that differs, in batches, under the failure budget (counted in nodes):
 *    each node's install checks again with logrotate, installs atomically (0644 root:root) keeping
 *    the old file as a backup, and verifies the installed file's hash. It is check-then-act, and a
 *    batch heartbeats each node's result, so a retry or a rerun writes only where it still differs.
 */
import { ActivityCancellationType, isCancellation } from '@temporalio/workflow';
import {
  GUIDE_DOCKER_LOGROTATE_CONFIG,
  kubeletRotatesContainerLogs,
  type LogrotateInspection,
  type LogrotateInstallation,
  type LogrotateTarget,
  notApplicableReason,
  type LogrotateNodeEntry,
  type LogrotateSyncInput,
  LogrotateSyncInputSchema,
  type LogrotateSyncOptions,
  type LogrotateSyncResult,
} from '../../common/procedures/logrotate-sync';
import { quickActivities, remoteActivities, WAIT_SLACK_SECONDS, waitActivities } from '../activity-profiles';
import { failureSummary, remediationFailed } from '../lib/failures';
import { type Batch, batchesOf, fanOut } from '../lib/fan-out';
import { runRemediation, type ProgressTracker } from '../lib/progress';
import { approvalStep } from '../lib/approval';
import { withClusterLock } from '../lib/cluster-lock';
import { runPreflight } from '../lib/preflight';
import { selectTargets } from '../lib/targets';
import { batchPlan, buildReport, lastInstalled, NODE_SECONDS, type Planned, SyncRun } from './run';

export function logrotateSync(raw: LogrotateSyncInput): Promise<LogrotateSyncResult> {
  return runRemediation('logrotateSync', raw, LogrotateSyncInputSchema, sync);
}

async function sync(input: LogrotateSyncOptions, progress: ProgressTracker): Promise<LogrotateSyncResult> {
  // The worker's policy decides which configs may go on nodes, before any node is touched.
  const digest = await quickActivities().admitLogrotateConfig({
    cluster: input.cluster,
    content: input.content,
  });
  const run = new SyncRun(input, progress, digest);
  const targets = await selectNodes(run);
  const differ = await inspectNodes(run, targets);
  const toSync = await checkConfig(run, differ);
  if (run.check && !run.check.accepted) {
    for (const p of toSync)
      run.set({
        node: p.node,
        outcome: 'not-started',
        before: p.before,
        reason: 'config rejected by logrotate',
      });
    const result = buildReport(run, 'refused');
    progress.note(result.summary);
    throw remediationFailed(result);
  }
  if (input.dryRun) {
    for (const p of toSync)
      run.set(
        { node: p.node, outcome: 'would-sync', before: p.before },
        p.before.exists ? 'would replace' : 'would create',
      );
    return buildReport(run);
  }
  if (toSync.length > 0 && !(await approveInstalls(run, toSync))) return buildReport(run, 'approval-expired');
  await withClusterLock(progress, input, () => installWhereDiffering(run, toSync));
  return buildReport(run);
}

/**
 * The approval gate before the installs, when the worker's policy wants one (by default for a config
 * other than the guide's) or the input asks. False: it expired, and no node was changed.
 */
async function approveInstalls(run: SyncRun, toSync: Planned[]): Promise<boolean> {
  const { input, progress, digest } = run;
  const risks =
    input.content === GUIDE_DOCKER_LOGROTATE_CONFIG
      ? []
      : [`the config is not the guide's (sha256 ${digest.sha256})`];
  const what = `install ${input.path} (sha256 ${digest.sha256}) on ${toSync.length} nodes`;
  const gate = await approvalStep(progress, what, input, risks);
  if (gate?.decision !== 'expired') {
    run.approvedBy = gate?.approver;
    return true;
  }
  run.expiredAfter = gate.after;
  for (const p of toSync)
    run.set({ node: p.node, outcome: 'not-started', before: p.before, reason: 'approval expired' });
  return false;
}

/**
 * Preflight: the nodes, their addresses and runtimes come from the Kubernetes API; unknown and NotReady
 * ones are skipped. Containerd nodes are read (kubelet's rotation), never installed on.
 */
async function selectNodes(run: SyncRun): Promise<LogrotateTarget[]> {
  const preflight = await runPreflight(run.progress, run.input);
  run.wanted = run.input.nodes ?? preflight.nodes.map((n) => n.name);
  const { targets, skipped } = selectTargets(run.wanted, preflight.nodes);
  for (const s of skipped) run.set({ node: s.node, outcome: 'skipped', reason: s.reason });
  const runtimeOf = new Map(preflight.nodes.map((n) => [n.name, n.containerRuntime]));
  return targets.map((node) => ({
    node,
    runtime: kubeletRotatesContainerLogs(runtimeOf.get(node) ?? '') ? 'containerd' : 'docker',
  }));
}

/**
 * Activity options of a batch: bounded by its rounds of nodes, heartbeating per node; a cancelled run
 * goes on only once its batches have stopped (no install runs on behind its report).
 */
function batchActivities(rounds: number) {
  return waitActivities({
    scheduleToCloseTimeout: `${rounds * NODE_SECONDS + WAIT_SLACK_SECONDS}s`,
    heartbeatTimeout: '30s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}

/**
 * 1. Read every target in batches (read-only: no failure budget): docker nodes' file hashes, containerd
 * nodes' kubelet log rotation (reported not applicable). Returns the docker nodes that differ.
 */
async function inspectNodes(run: SyncRun, targets: LogrotateTarget[]): Promise<Planned[]> {
  const { input, progress, digest } = run;
  const plan = batchPlan(targets.length, input.maxParallel, input.batchSize);
  const { inspectLogrotateNodes } = batchActivities(plan.rounds);
  progress.phase('hash', `${targets.length} nodes, ${input.maxParallel} at a time: ${input.path}`);
  const differ: Planned[] = [];
  const record = (r: LogrotateInspection) => {
    if (r.kind === 'failed') run.set({ node: r.node, outcome: 'failed', reason: `hash: ${r.error}` });
    else if (r.kind === 'kubelet')
      run.set({ node: r.node, outcome: 'not-applicable', reason: notApplicableReason(r) });
    else if (r.exists && r.sha256 === digest.sha256)
      run.set({ node: r.node, outcome: 'in-sync', before: { exists: true, sha256: r.sha256, md5: r.md5 } });
    else {
      const before = r.exists
        ? { exists: true as const, sha256: r.sha256, md5: r.md5 }
        : { exists: false as const };
      differ.push({ node: r.node, before });
      progress.item(`node/${r.node}`, 'node', 'pending', r.exists ? `differs (md5 ${r.md5})` : 'missing');
    }
  };
  await fanOut<Batch<LogrotateTarget>, LogrotateInspection[]>({
    items: batchesOf(targets, plan.size),
    key: (b) => String(b.index),
    maxParallel: plan.lanes,
    maxFailures: Number.POSITIVE_INFINITY,
    run: async (b) =>
      (
        await inspectLogrotateNodes({
          cluster: input.cluster,
          path: input.path,
          nodes: b.items,
          maxInFlight: plan.inFlight,
        })
      ).nodes,
    onError: (b, err) =>
      b.items.map((t): LogrotateInspection => ({ node: t.node, kind: 'failed', error: failureSummary(err) })),
    onStart: (b) => b.items.forEach((t) => progress.item(`node/${t.node}`, 'node', 'running', 'hashing')),
    onDone: (_b, results) => results.forEach(record),
  });
  // In target order, whatever order the batches ended in.
  const order = new Map(targets.map((t, i) => [t.node, i]));
  differ.sort((a, b) => order.get(a.node)! - order.get(b.node)!);
  progress.note(
    `${differ.length} of ${targets.length} nodes differ from the wanted config (md5 ${digest.md5})`,
  );
  return differ;
}

/**
 * 2. Check the config once with logrotate before any node changes, on the first node that differs
 * and can be reached. Returns the nodes still to sync (a node found unreachable is failed).
 */
async function checkConfig(run: SyncRun, differ: Planned[]): Promise<Planned[]> {
  const { input, digest } = run;
  const { checkLogrotateConfig } = remoteActivities();
  const checkable = [...differ];
  if (differ.length > 0) run.progress.phase('check', `logrotate -d on a temp copy of ${input.path}`);
  while (!run.check && checkable.length > 0) {
    const first = checkable.shift()!;
    try {
      const r = await checkLogrotateConfig({
        cluster: input.cluster,
        node: first.node,
        path: input.path,
        sha256: digest.sha256,
      });
      run.check = { node: first.node, accepted: r.accepted, output: r.output };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Unreachable (after retries): reported; the check moves on to the next node that differs.
      run.set({
        node: first.node,
        outcome: 'failed',
        before: first.before,
        reason: `check: ${failureSummary(err)}`,
      });
    }
  }
  const failed = new Set([...run.entries.values()].filter((e) => e.outcome === 'failed').map((e) => e.node));
  return differ.filter((p) => !failed.has(p.node));
}

/** 4. Install where it differs, in batches, under the failure budget (counted in nodes). */
async function installWhereDiffering(run: SyncRun, toSync: Planned[]): Promise<void> {
  const { input, progress, digest } = run;
  const plan = batchPlan(toSync.length, input.maxParallel, input.batchSize);
  const { installLogrotateConfig } = batchActivities(plan.rounds);
  if (toSync.length > 0)
    progress.phase(
      'install',
      `${toSync.length} nodes, ${input.maxParallel} at a time, failure budget ${input.maxFailures}`,
    );
  let failures = 0;
  const entryOf = (p: Planned, r: LogrotateInstallation): LogrotateNodeEntry =>
    r.status === 'failed'
      ? { node: p.node, outcome: 'failed', before: p.before, reason: `install: ${r.error}` }
      : r.status === 'not-started'
        ? { node: p.node, outcome: 'not-started', before: p.before, reason: 'failure budget spent' }
        : {
            node: p.node,
            outcome: 'synced',
            before: p.before,
            sha256: digest.sha256,
            ...(r.backupPath ? { backupPath: r.backupPath } : {}),
          };
  await fanOut<Batch<Planned>, LogrotateNodeEntry[]>({
    items: batchesOf(toSync, plan.size),
    key: (b) => String(b.index),
    maxParallel: plan.lanes,
    maxFailures: input.maxFailures,
    run: async (b) => {
      const r = await installLogrotateConfig({
        cluster: input.cluster,
        path: input.path,
        sha256: digest.sha256,
        nodes: b.items.map((p) => p.node),
        maxInFlight: plan.inFlight,
        failureBudget: input.maxFailures - failures,
      });
      const byNode = new Map(r.nodes.map((n) => [n.node, n]));
      return b.items.map((p) =>
        entryOf(
          p,
          byNode.get(p.node) ?? { node: p.node, status: 'failed', error: 'no result for this node' },
        ),
      );
    },
    onError: (b, err) => {
      const done = lastInstalled(err);
      return b.items.map((p) =>
        entryOf(p, done[p.node] ?? { node: p.node, status: 'failed', error: failureSummary(err) }),
      );
    },
    isFailure: (entries) => entries.some((e) => e.outcome === 'failed'),
    failureCount: (entries) => entries.filter((e) => e.outcome === 'failed').length,
    onStart: (b) => b.items.forEach((p) => progress.item(`node/${p.node}`, 'node', 'running', 'installing')),
    onDone: (_b, entries) => {
      for (const e of entries) {
        if (e.outcome === 'failed') failures++;
        run.set(
          e,
          e.outcome === 'synced'
            ? `synced (${e.backupPath ? `backup ${e.backupPath}` : 'was missing'})`
            : undefined,
        );
      }
    },
    onNotStarted: (b) =>
      b.items.forEach((p) =>
        run.set({ node: p.node, outcome: 'not-started', before: p.before, reason: 'failure budget spent' }),
      ),
  });
}
