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
  type NodeInventoryOptions,
  type NodeInventoryResult,
} from '../common/procedures/node-inventory';
import { notableFirst } from '../common/report';
import { remoteActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { type ProgressTracker, runRemediation } from './lib/progress';
import { runPreflight } from './lib/preflight';
import { selectTargets } from './lib/targets';

export function nodeInventory(raw: NodeInventoryInput): Promise<NodeInventoryResult> {
  return runRemediation('nodeInventory', raw, NodeInventoryInputSchema, async (input, progress) => {
    const { wanted, targets, skipped } = await chooseNodes(input, progress);
    const read = await readNodes(input, progress, targets);
    return buildReport(input.cluster, wanted.length, [...skipped, ...read]);
  });
}

/** The nodes asked for (default every node), those that will be read and those skipped (why). */
async function chooseNodes(input: NodeInventoryOptions, progress: ProgressTracker) {
  const preflight = await runPreflight(progress, input);
  const wanted = input.nodes ?? preflight.nodes.map((n) => n.name);
  const { targets, skipped: passed } = selectTargets(wanted, preflight.nodes);
  const skipped = passed.map((s): NodeInventoryEntry => ({
    node: s.node,
    outcome: 'skipped',
    reason: s.reason,
  }));
  for (const s of skipped) progress.item(`node/${s.node}`, 'node', 'skipped', s.reason);
  return { wanted, targets, skipped };
}

/** Every target read over SSH under the bound; read-only, so one unreachable node stops nothing. */
async function readNodes(
  input: NodeInventoryOptions,
  progress: ProgressTracker,
  targets: string[],
): Promise<NodeInventoryEntry[]> {
  const { readNodeFacts } = remoteActivities();
  progress.phase('read-nodes', `${targets.length} nodes, ${input.maxParallel} at a time`);
  const fan = await fanOut<string, NodeInventoryEntry>({
    items: targets,
    key: (node) => node,
    maxParallel: input.maxParallel,
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
  return fan.results.map((r) => r.result!);
}

function buildReport(cluster: string, wanted: number, entries: NodeInventoryEntry[]): NodeInventoryResult {
  const read = entries.filter((e) => e.outcome === 'read');
  const kernels: Record<string, number> = {};
  for (const e of read) kernels[e.facts!.kernelRelease] = (kernels[e.facts!.kernelRelease] ?? 0) + 1;
  const counts = {
    read: read.length,
    failed: entries.filter((e) => e.outcome === 'failed').length,
    skipped: entries.filter((e) => e.outcome === 'skipped').length,
  };
  // Bounded result: every failed or skipped node, read ones only while the list stays short.
  const { listed: nodes, omitted } = notableFirst(entries, (e) => e.outcome !== 'read');
  const kernelList = Object.entries(kernels)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  return {
    cluster,
    outcome: counts.failed || counts.skipped ? 'partial' : 'complete',
    counts,
    kernels,
    nodes,
    omitted,
    summary:
      `${counts.read}/${wanted} nodes read` +
      (counts.failed ? `, ${counts.failed} failed` : '') +
      (counts.skipped ? `, ${counts.skipped} skipped` : '') +
      `; kernels: ${kernelList || 'none'}`,
  };
}

function describeFacts(f: NodeFacts): string {
  return `kernel ${f.kernelRelease}, /var/lib ${f.varLibUsePercent}% used`;
}
