/** Human-readable renderings of results and progress; --json prints the objects themselves. */
import type { ClusterPreflightResult, Progress } from '../../workflows/definitions';
import { table } from './common';

function preflight(r: ClusterPreflightResult): string {
  const rows = [['NODE', 'READY', 'INTERNAL-IP', 'KUBELET', 'RUNTIME', 'NOTE']];
  for (const n of r.nodes) {
    rows.push([
      n.name,
      n.ready ? 'Ready' : 'NotReady',
      n.internalIP ?? '-',
      n.kubeletVersion || '-',
      n.containerRuntime || '-',
      [n.unschedulable ? 'cordoned' : '', n.ready ? '' : (n.readyReason ?? '')].filter(Boolean).join('; '),
    ]);
  }
  return `${table(rows)}\n\ncluster ${r.cluster}: ${r.readyCount}/${r.nodes.length} nodes Ready${
    r.notReady.length ? ` (NotReady: ${r.notReady.join(', ')})` : ''
  }, checked ${r.checkedAt}`;
}

const FORMATTERS: Record<string, (result: never) => string> = {
  clusterPreflight: preflight,
};

export function formatResult(workflowType: string, result: unknown): string {
  const f = FORMATTERS[workflowType] as ((r: unknown) => string) | undefined;
  return f ? f(result) : JSON.stringify(result, null, 2);
}

export function formatProgress(p: Progress): string {
  const lines = [
    `phase: ${p.phase}${p.awaitingApproval ? ' (awaiting approval: nksr approve <workflowId>)' : ''}`,
  ];
  if (p.items.length) {
    lines.push(
      '',
      table([
        ['ITEM', 'KIND', 'OUTCOME', 'DETAIL'],
        ...p.items.map((i) => [i.key, i.kind, i.outcome, i.detail ?? '']),
      ]),
    );
  }
  if (p.events.length) lines.push('', 'events:', ...p.events.slice(-15).map((e) => `  ${e}`));
  return lines.join('\n');
}
