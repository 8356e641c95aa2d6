/**
 * nfsLockServicesRestart (PROCEDURES.md 7): NFS mounts failing with `rpc.statd is not running but is
 * required for remote locking`.
 *
 * 1. The stuck pods: Pending pods whose FailedMount event says so (on the given nodes, or anywhere
 *    with fromEvents); with fromEvents their nodes are the targets.
 * 2. Dry run: the plan (nodes, pods to delete, bare pods) and stop.
 * 3. Per node (bounded fan-out, failure budget): rpcbind started if not active, rpc-statd restarted,
 *    both verified active.
 * 4. On each fixed node: the stuck pods a controller recreates are deleted (UID precondition) and
 *    their replacements awaited until Running; bare pods are reported, never deleted.
 * A rerun finds no stuck pod where the replacements run; with `nodes` it restarts rpc-statd again,
 * which the service tolerates.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  type NfsLockServicesRestartInput,
  NfsLockServicesRestartInputSchema,
  type NfsLockServicesRestartResult,
  type NfsNodeEntry,
  type NfsPodEntry,
  type NfsStuckPod,
} from '../common/procedures/nfs-lock-services-restart';
import { quickActivities, remoteActivities, waitActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { beginRemediation, runPreflight } from './lib/progress';

export async function nfsLockServicesRestart(
  raw: NfsLockServicesRestartInput,
): Promise<NfsLockServicesRestartResult> {
  const { input, progress } = beginRemediation(
    'nfsLockServicesRestart',
    raw,
    NfsLockServicesRestartInputSchema,
  );
  return progress.run(
    async () => {
      const { cluster } = input;
      const { findNfsLockStuckPods, deleteStuckPod } = quickActivities();
      const { restartNodeService, verifyNodeService } = remoteActivities();
      const preflight = await runPreflight(progress, input);
      const known = new Map(preflight.nodes.map((n) => [n.name, n]));

      progress.phase('find-pods', 'FailedMount events: rpc.statd is not running');
      const stuck = await findNfsLockStuckPods({ cluster, ...(input.nodes ? { nodes: input.nodes } : {}) });
      const wanted = input.nodes ?? [...new Set(stuck.map((p) => p.node))].sort();
      const nodes = new Map<string, NfsNodeEntry>();
      const targets: string[] = [];
      for (const node of wanted) {
        const n = known.get(node);
        if (!n) nodes.set(node, { node, outcome: 'skipped', reason: 'no such node' });
        else if (!n.ready) nodes.set(node, { node, outcome: 'skipped', reason: 'NotReady' });
        else targets.push(node);
      }
      for (const p of stuck)
        progress.item(`pod/${p.namespace}/${p.name}`, 'object', 'pending', `on ${p.node}`);
      progress.note(`${stuck.length} stuck pods on ${wanted.length} nodes`);

      const podEntry = (
        p: NfsStuckPod,
        outcome: NfsPodEntry['outcome'],
        extra: Partial<NfsPodEntry> = {},
      ) => ({
        namespace: p.namespace,
        name: p.name,
        node: p.node,
        outcome,
        ...(p.controller ? { controller: `${p.controller.kind}/${p.controller.name}` } : {}),
        ...extra,
      });
      const finish = (pods: NfsPodEntry[]): NfsLockServicesRestartResult => {
        const all = wanted.map((n) => nodes.get(n)!).filter(Boolean);
        const fixed = all.filter((n) => n.outcome === 'fixed' || n.outcome === 'would-fix').length;
        const recreated = pods.filter(
          (p) => p.outcome === 'recreated' || p.outcome === 'would-delete',
        ).length;
        const bare = pods.filter((p) => p.outcome === 'bare').length;
        const bad =
          all.filter((n) => n.outcome !== 'fixed' && n.outcome !== 'would-fix').length +
          pods.filter((p) => p.outcome === 'failed' || p.outcome === 'not-attempted').length;
        return {
          cluster,
          dryRun: input.dryRun,
          outcome: wanted.length === 0 ? 'nothing-to-do' : bad || bare ? 'partial' : 'complete',
          nodes: all,
          pods,
          summary:
            wanted.length === 0
              ? 'no pod waits on rpc.statd'
              : `${fixed}/${wanted.length} nodes ${input.dryRun ? 'would be fixed' : 'fixed'}, ${recreated} stuck pods ${input.dryRun ? 'would be deleted' : 'recreated'}` +
                (bare ? `, ${bare} bare pods left for you` : '') +
                (bad ? `, ${bad} failed or not attempted` : ''),
        };
      };

      if (input.dryRun) {
        for (const node of targets) nodes.set(node, { node, outcome: 'would-fix' });
        return finish(stuck.map((p) => podEntry(p, p.controller ? 'would-delete' : 'bare')));
      }

      progress.phase('restart-services', `${targets.length} nodes, ${input.maxParallel} at a time`);
      await fanOut<string, NfsNodeEntry>({
        items: targets,
        key: (n) => n,
        maxParallel: input.maxParallel,
        maxFailures: input.maxFailures,
        run: async (node) => {
          const rpcbind = await restartNodeService({ cluster, node, unit: 'rpcbind', mode: 'start' });
          const statd = await restartNodeService({ cluster, node, unit: 'rpc-statd', mode: 'restart' });
          const v1 = await verifyNodeService({ cluster, node, unit: 'rpcbind' });
          const v2 = await verifyNodeService({ cluster, node, unit: 'rpc-statd' });
          const entry: NfsNodeEntry = {
            node,
            outcome: v1.active && v2.active ? 'fixed' : 'failed',
            rpcbind: { before: rpcbind.stateBefore, after: v1.state },
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
          nodes.set(node, e);
          progress.item(
            `node/${node}`,
            'node',
            e.outcome === 'fixed' ? 'succeeded' : 'failed',
            e.reason ?? 'services active',
          );
        },
        onNotStarted: (node) =>
          nodes.set(node, { node, outcome: 'not-started', reason: 'failure budget spent' }),
      });

      progress.phase('recreate-pods', `${stuck.filter((p) => p.controller).length} pods with a controller`);
      const { waitForPodReplacement } = waitActivities({
        scheduleToCloseTimeout: `${input.replacementTimeoutSeconds + 60}s`,
      });
      const pods: NfsPodEntry[] = [];
      const results = await Promise.all(
        stuck.map(async (p): Promise<NfsPodEntry> => {
          if (!p.controller) return podEntry(p, 'bare', { reason: 'no controller: not deleted' });
          if (nodes.get(p.node)?.outcome !== 'fixed')
            return podEntry(p, 'not-attempted', { reason: `node ${p.node} not fixed` });
          try {
            await deleteStuckPod({ cluster, namespace: p.namespace, name: p.name, uid: p.uid });
            const r = await waitForPodReplacement({
              cluster,
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
      for (const e of results) {
        pods.push(e);
        progress.item(
          `pod/${e.namespace}/${e.name}`,
          'object',
          e.outcome === 'recreated' ? 'succeeded' : e.outcome === 'bare' ? 'skipped' : 'failed',
          e.replacement ?? e.reason,
        );
      }
      return finish(pods);
    },
    (r) => r.summary,
  );
}
