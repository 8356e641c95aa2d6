/**
 * logrotateSync (docs/procedures.md §1): the logrotate config on every (or the given) Ready node.
 *
 * 0. The worker's policy (clusters.yaml) must admit the config: another one is refused before any
 *    SSH login.
 * 1. Hash the remote file on every node (bounded fan-out, read-only; an unreachable node is reported
 *    and the others go on). Missing counts as different.
 * 2. Check the config with `logrotate -d` on a temp copy on the first node that differs (the next one
 *    if that node cannot be reached): a config logrotate rejects is refused before any node changes.
 * 3. Dry run: return the plan (which nodes, what they have now) and stop.
 * 4. Install on each node that differs (bounded fan-out with the failure budget): installNodeFile
 *    checks again with logrotate on that node, installs atomically (0644 root:root) keeping the old
 *    file as a backup, and verifies the installed file's hash. It is check-then-act, so a retry or a
 *    rerun writes only where the content still differs.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  GUIDE_DOCKER_LOGROTATE_CONFIG,
  type LogrotateNodeEntry,
  type LogrotateSyncInput,
  LogrotateSyncInputSchema,
  type LogrotateSyncOptions,
  type LogrotateSyncResult,
} from '../../common/procedures/logrotate-sync';
import { quickActivities, remoteActivities } from '../activity-profiles';
import { failureSummary, remediationFailed } from '../lib/failures';
import { fanOut } from '../lib/fan-out';
import { runRemediation, type ProgressTracker } from '../lib/progress';
import { approvalStep } from '../lib/approval';
import { withClusterLock } from '../lib/cluster-lock';
import { runPreflight } from '../lib/preflight';
import { selectTargets } from '../lib/targets';
import { buildReport, type Planned, SyncRun } from './run';

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
  const differ = await hashNodes(run, targets);
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

/** Preflight: the nodes and their addresses come from the Kubernetes API; unknown and NotReady ones are skipped. */
async function selectNodes(run: SyncRun): Promise<string[]> {
  const preflight = await runPreflight(run.progress, run.input);
  run.wanted = run.input.nodes ?? preflight.nodes.map((n) => n.name);
  const { targets, skipped } = selectTargets(run.wanted, preflight.nodes);
  for (const s of skipped) run.set({ node: s.node, outcome: 'skipped', reason: s.reason });
  return targets;
}

/** 1. Hash every target (read-only: no failure budget); returns the nodes that differ. */
async function hashNodes(run: SyncRun, targets: string[]): Promise<Planned[]> {
  const { input, progress, digest } = run;
  const { hashNodeFile } = remoteActivities();
  progress.phase('hash', `${targets.length} nodes, ${input.maxParallel} at a time: ${input.path}`);
  const hashed = await fanOut<string, Planned | LogrotateNodeEntry>({
    items: targets,
    key: (node) => node,
    maxParallel: input.maxParallel,
    maxFailures: Number.POSITIVE_INFINITY,
    run: async (node) => {
      const h = await hashNodeFile({ cluster: input.cluster, node, path: input.path });
      return { node, before: h.exists ? { exists: true, sha256: h.sha256, md5: h.md5 } : { exists: false } };
    },
    isFailure: (r) => 'outcome' in r,
    onError: (node, err) => ({ node, outcome: 'failed', reason: `hash: ${failureSummary(err)}` }),
    onStart: (node) => progress.item(`node/${node}`, 'node', 'running', 'hashing'),
  });
  const differ: Planned[] = [];
  for (const { result } of hashed.results) {
    if (!result) continue;
    if ('outcome' in result) run.set(result);
    else if (result.before.exists && result.before.sha256 === digest.sha256)
      run.set({ node: result.node, outcome: 'in-sync', before: result.before });
    else {
      differ.push(result);
      const what = result.before.exists ? `differs (md5 ${result.before.md5})` : 'missing';
      progress.item(`node/${result.node}`, 'node', 'pending', what);
    }
  }
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
  const { input } = run;
  const { checkNodeFile } = remoteActivities();
  const checkable = [...differ];
  if (differ.length > 0) run.progress.phase('check', `logrotate -d on a temp copy of ${input.path}`);
  while (!run.check && checkable.length > 0) {
    const first = checkable.shift()!;
    try {
      const r = await checkNodeFile({
        cluster: input.cluster,
        node: first.node,
        path: input.path,
        content: input.content,
        validator: 'logrotate',
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

/** 4. Install where it differs, under the failure budget. */
async function installWhereDiffering(run: SyncRun, toSync: Planned[]): Promise<void> {
  const { input, progress, digest } = run;
  const { installNodeFile } = remoteActivities();
  if (toSync.length > 0)
    progress.phase(
      'install',
      `${toSync.length} nodes, ${input.maxParallel} at a time, failure budget ${input.maxFailures}`,
    );
  await fanOut<Planned, LogrotateNodeEntry>({
    items: toSync,
    key: (p) => p.node,
    maxParallel: input.maxParallel,
    maxFailures: input.maxFailures,
    run: async (p) => {
      const r = await installNodeFile({
        cluster: input.cluster,
        node: p.node,
        path: input.path,
        content: input.content,
        mode: '0644',
        owner: 'root:root',
        validator: 'logrotate',
      });
      if (r.sha256 !== digest.sha256)
        return {
          node: p.node,
          outcome: 'failed',
          before: p.before,
          reason: `installed sha256 ${r.sha256} differs`,
        };
      const backup = r.previous?.existed ? { backupPath: r.previous.backupPath } : {};
      return { node: p.node, outcome: 'synced', before: p.before, sha256: r.sha256, ...backup };
    },
    isFailure: (e) => e.outcome === 'failed',
    onError: (p, err) => ({
      node: p.node,
      outcome: 'failed',
      before: p.before,
      reason: `install: ${failureSummary(err)}`,
    }),
    onStart: (p) => progress.item(`node/${p.node}`, 'node', 'running', 'installing'),
    onDone: (_p, e) =>
      run.set(
        e,
        e.outcome === 'synced'
          ? `synced (${e.backupPath ? `backup ${e.backupPath}` : 'was missing'})`
          : undefined,
      ),
    onNotStarted: (p) =>
      run.set({ node: p.node, outcome: 'not-started', before: p.before, reason: 'failure budget spent' }),
  });
}

/** The result: failures first, then what changed (or would), then in-sync nodes while the list is short. */
