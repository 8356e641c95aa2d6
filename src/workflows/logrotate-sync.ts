/**
 * logrotateSync (PROCEDURES.md 1): the logrotate config on every (or the given) Ready node.
 *
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
import { ApplicationFailure } from '@temporalio/common';
import { isCancellation } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import {
  type LogrotateNodeEntry,
  type LogrotateNodeOutcome,
  type LogrotateSyncInput,
  LogrotateSyncInputSchema,
  type LogrotateSyncResult,
} from '../common/procedures/logrotate-sync';
import { MAX_LISTED_SUCCESSES } from '../common/report';
import { quickActivities, remoteActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { beginRemediation, runPreflight } from './lib/progress';

const FAILING = new Set<LogrotateNodeOutcome>(['failed', 'not-started', 'skipped']);

interface Planned {
  node: string;
  before: NonNullable<LogrotateNodeEntry['before']>;
}

export async function logrotateSync(raw: LogrotateSyncInput): Promise<LogrotateSyncResult> {
  const { input, progress } = beginRemediation('logrotateSync', raw, LogrotateSyncInputSchema);
  return progress.run(
    async () => {
      const { hashNodeFile, checkNodeFile, installNodeFile } = remoteActivities();
      const { cluster, path, content } = input;
      const { sha256, md5 } = await quickActivities().digestText({ text: content });
      const entries = new Map<string, LogrotateNodeEntry>();
      const set = (e: LogrotateNodeEntry, detail?: string) => {
        entries.set(e.node, e);
        const state = e.outcome === 'failed' ? 'failed' : FAILING.has(e.outcome) ? 'skipped' : 'succeeded';
        progress.item(`node/${e.node}`, 'node', state, detail ?? e.reason ?? e.outcome);
      };

      // Preflight: the nodes and their addresses come from the Kubernetes API.
      const preflight = await runPreflight(progress, input);
      const known = new Map(preflight.nodes.map((n) => [n.name, n]));
      const wanted = input.nodes ?? preflight.nodes.map((n) => n.name);
      const targets: string[] = [];
      for (const node of wanted) {
        const n = known.get(node);
        if (!n) set({ node, outcome: 'skipped', reason: 'no such node' });
        else if (!n.ready) set({ node, outcome: 'skipped', reason: 'NotReady' });
        else targets.push(node);
      }

      // 1. Hash every target (read-only: no failure budget).
      progress.phase('hash', `${targets.length} nodes, ${input.maxParallel} at a time: ${path}`);
      const hashed = await fanOut<string, Planned | LogrotateNodeEntry>({
        items: targets,
        key: (node) => node,
        maxParallel: input.maxParallel,
        maxFailures: Number.POSITIVE_INFINITY,
        run: async (node) => {
          const h = await hashNodeFile({ cluster, node, path });
          return {
            node,
            before: h.exists ? { exists: true, sha256: h.sha256, md5: h.md5 } : { exists: false },
          };
        },
        isFailure: (r) => 'outcome' in r,
        onError: (node, err) => ({ node, outcome: 'failed', reason: `hash: ${failureSummary(err)}` }),
        onStart: (node) => progress.item(`node/${node}`, 'node', 'running', 'hashing'),
      });
      const differ: Planned[] = [];
      for (const { result } of hashed.results) {
        if (!result) continue;
        if ('outcome' in result) set(result);
        else if (result.before.exists && result.before.sha256 === sha256)
          set({ node: result.node, outcome: 'in-sync', before: result.before });
        else {
          differ.push(result);
          progress.item(
            `node/${result.node}`,
            'node',
            'pending',
            result.before.exists ? `differs (md5 ${result.before.md5})` : 'missing',
          );
        }
      }
      progress.note(`${differ.length} of ${targets.length} nodes differ from the wanted config (md5 ${md5})`);

      // 2. Check the config once with logrotate before any node changes.
      let check: LogrotateSyncResult['check'];
      const checkable = [...differ];
      if (differ.length > 0) progress.phase('check', `logrotate -d on a temp copy of ${path}`);
      while (!check && checkable.length > 0) {
        const first = checkable.shift()!;
        try {
          const r = await checkNodeFile({ cluster, node: first.node, path, content, validator: 'logrotate' });
          check = { node: first.node, accepted: r.accepted, output: r.output };
        } catch (err) {
          if (isCancellation(err)) throw err;
          // Unreachable (after retries): reported; the check moves on to the next node that differs.
          set({
            node: first.node,
            outcome: 'failed',
            before: first.before,
            reason: `check: ${failureSummary(err)}`,
          });
        }
      }
      const failedCheck = new Set(
        [...entries.values()].filter((e) => e.outcome === 'failed').map((e) => e.node),
      );
      const toSync = differ.filter((p) => !failedCheck.has(p.node));

      const finish = (outcomeOverride?: LogrotateSyncResult['outcome']): LogrotateSyncResult => {
        const all = wanted.map((node) => entries.get(node)!).filter(Boolean);
        const counts = Object.fromEntries(
          (['in-sync', 'synced', 'would-sync', 'failed', 'not-started', 'skipped'] as const).map((o) => [
            o,
            all.filter((e) => e.outcome === o).length,
          ]),
        ) as Record<LogrotateNodeOutcome, number>;
        const inSync = all.filter((e) => e.outcome === 'in-sync');
        const listedInSync = inSync.slice(0, MAX_LISTED_SUCCESSES);
        // Failures first, then what changed (or would), then in-sync nodes while the list is short.
        const failing = all.filter((e) => FAILING.has(e.outcome));
        const changed = all.filter((e) => e.outcome === 'synced' || e.outcome === 'would-sync');
        const nodes = [...failing, ...changed, ...listedInSync];
        const bad = counts.failed + counts['not-started'] + counts.skipped;
        const outcome = outcomeOverride ?? (bad ? 'partial' : 'complete');
        const parts = [
          input.dryRun ? `${counts['would-sync']} would be synced` : `${counts.synced} synced`,
          `${counts['in-sync']} already in sync`,
          ...(counts.failed ? [`${counts.failed} failed`] : []),
          ...(counts['not-started'] ? [`${counts['not-started']} not started (failure budget spent)`] : []),
          ...(counts.skipped ? [`${counts.skipped} skipped`] : []),
        ];
        const summary =
          outcome === 'refused'
            ? `logrotate rejected the config on ${check?.node}, no node changed: ${firstLines(check?.output ?? '')}`
            : `${path} on ${wanted.length} nodes: ${parts.join(', ')}`;
        return {
          cluster,
          path,
          dryRun: input.dryRun,
          outcome,
          sha256,
          md5,
          ...(check ? { check } : {}),
          counts,
          nodes,
          omitted: inSync.length - listedInSync.length,
          summary,
        };
      };

      if (check && !check.accepted) {
        for (const p of toSync)
          set({
            node: p.node,
            outcome: 'not-started',
            before: p.before,
            reason: 'config rejected by logrotate',
          });
        const result = finish('refused');
        progress.note(result.summary);
        throw ApplicationFailure.create({
          type: ErrorType.RemediationFailed,
          nonRetryable: true,
          message: result.summary,
          details: [result],
        });
      }

      // 3. Dry run: the plan.
      if (input.dryRun) {
        for (const p of toSync)
          set(
            { node: p.node, outcome: 'would-sync', before: p.before },
            p.before.exists ? 'would replace' : 'would create',
          );
        return finish();
      }

      // 4. Install where it differs.
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
            cluster,
            node: p.node,
            path,
            content,
            mode: '0644',
            owner: 'root:root',
            validator: 'logrotate',
          });
          if (r.sha256 !== sha256) {
            return {
              node: p.node,
              outcome: 'failed',
              before: p.before,
              reason: `installed sha256 ${r.sha256} differs`,
            };
          }
          return {
            node: p.node,
            outcome: 'synced',
            before: p.before,
            sha256: r.sha256,
            ...(r.previous?.existed ? { backupPath: r.previous.backupPath } : {}),
          };
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
          set(
            e,
            e.outcome === 'synced'
              ? `synced (${e.backupPath ? `backup ${e.backupPath}` : 'was missing'})`
              : undefined,
          ),
        onNotStarted: (p) =>
          set({ node: p.node, outcome: 'not-started', before: p.before, reason: 'failure budget spent' }),
      });
      return finish();
    },
    (r) => r.summary,
  );
}

function firstLines(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /error/i.test(l));
  return (lines.length ? lines : text.split('\n').filter(Boolean)).slice(0, 3).join(' | ').slice(0, 400);
}
