/**
 * nodeInventory: reads every (or the given) Ready node over SSH — kernel release, boot ID, kernel
 * command line, /var/lib use — in parallel under a bound. Read-only: a node that cannot be read is
 * reported and the others are still read. The smallest procedure on the platform (registry entry in
 * src/common/procedures/node-inventory.ts, activity readNodeFacts).
 */
import {
  type NodeFacts,
  type NodeInventoryEntry,
  NodeInventoryInputSchema,
  type NodeInventoryInput,
  type NodeInventoryResult,
} from '../common/procedures/node-inventory';
import { notableFirst } from '../common/report';
import { remoteActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { beginRemediation } from './lib/progress';
import { runPreflight } from './lib/preflight';

export async function nodeInventory(raw: NodeInventoryInput): Promise<NodeInventoryResult> {
  const { input, progress } = beginRemediation('nodeInventory', raw, NodeInventoryInputSchema);
  return progress.run(
    async () => {
      const { readNodeFacts } = remoteActivities();
      const preflight = await runPreflight(progress, input);
      const known = new Map(preflight.nodes.map((n) => [n.name, n]));
      const wanted = input.nodes ?? preflight.nodes.map((n) => n.name);
      const skipped: NodeInventoryEntry[] = [];
      const targets: string[] = [];
      for (const node of wanted) {
        const n = known.get(node);
        if (!n) skipped.push({ node, outcome: 'skipped', reason: 'no such node' });
        else if (!n.ready) skipped.push({ node, outcome: 'skipped', reason: 'NotReady' });
        else targets.push(node);
      }
      for (const s of skipped) progress.item(`node/${s.node}`, 'node', 'skipped', s.reason);
      progress.phase('read-nodes', `${targets.length} nodes, ${input.maxParallel} at a time`);

      const fan = await fanOut<string, NodeInventoryEntry>({
        items: targets,
        key: (node) => node,
        maxParallel: input.maxParallel,
        // Read-only: one unreachable node is no reason to stop reading the others.
        maxFailures: Number.POSITIVE_INFINITY,
        run: async (node) => ({
          node,
          outcome: 'read',
          facts: await readNodeFacts({ cluster: input.cluster, node }),
        }),
        isFailure: (e) => e.outcome === 'failed',
        onError: (node, err) => ({ node, outcome: 'failed', reason: failureSummary(err) }),
        onStart: (node) => progress.item(`node/${node}`, 'node', 'running', 'reading'),
        onDone: (node, e) =>
          progress.item(
            `node/${node}`,
            'node',
            e.outcome === 'read' ? 'succeeded' : 'failed',
            e.facts ? describeFacts(e.facts) : e.reason,
          ),
      });

      const entries = [...skipped, ...fan.results.map((r) => r.result!)];
      const read = entries.filter((e) => e.outcome === 'read');
      const kernels: Record<string, number> = {};
      for (const e of read) kernels[e.facts!.kernelRelease] = (kernels[e.facts!.kernelRelease] ?? 0) + 1;
      const counts = {
        read: read.length,
        failed: entries.filter((e) => e.outcome === 'failed').length,
        skipped: skipped.length,
      };
      // Bounded result: every failed or skipped node, read ones only while the list stays short.
      const { listed: nodes, omitted } = notableFirst(entries, (e) => e.outcome !== 'read');
      return {
        cluster: input.cluster,
        outcome: counts.failed || counts.skipped ? 'partial' : 'complete',
        counts,
        kernels,
        nodes,
        omitted,
        summary:
          `${counts.read}/${wanted.length} nodes read` +
          (counts.failed ? `, ${counts.failed} failed` : '') +
          (counts.skipped ? `, ${counts.skipped} skipped` : '') +
          `; kernels: ${
            Object.entries(kernels)
              .map(([k, n]) => `${k} ×${n}`)
              .join(', ') || 'none'
          }`,
      };
    },
    (r) => r.summary,
  );
}

function describeFacts(f: NodeFacts): string {
  return `kernel ${f.kernelRelease}, /var/lib ${f.varLibUsePercent}% used`;
}
