/** Human-readable renderings of results and progress; --json prints the objects themselves. */
import { findProcedure, type HumanReport } from '../../common/procedures';
import { countOutcomes } from '../../common/report';
import type { Progress, ProgressItem } from '../../workflows/definitions';
import { table } from './common';

/** A report as text: the summary line, each table (failures first), then what to do next. */
export function renderReport(report: HumanReport): string {
  const out = [report.summary];
  for (const t of report.tables) {
    if (t.rows.length === 0 && !t.omitted) continue;
    out.push('', `${t.title}:`, table([[...t.columns], ...t.rows]));
    if (t.omitted) out.push(`… and ${t.omitted} more that succeeded (nksr status --json lists them)`);
  }
  if (report.next.length) out.push('', 'next:', ...report.next.map((n) => `  - ${n}`));
  return out.join('\n');
}

/** The registry's human report of a procedure's result; raw JSON for a type it does not know. */
export function formatResult(workflowType: string, result: unknown): string {
  const procedure = findProcedure(workflowType);
  return procedure ? renderReport(procedure.report(result)) : JSON.stringify(result, null, 2);
}

export interface ItemCounts {
  total: number;
  /** Ended well: succeeded, unchanged or skipped. */
  done: number;
  failed: number;
  running: number;
  pending: number;
  /** done + failed: what the progress bar fills with. */
  finished: number;
}

export function countItems(items: readonly ProgressItem[]): ItemCounts {
  const c = { total: items.length, done: 0, failed: 0, running: 0, pending: 0, finished: 0 };
  for (const i of items) {
    if (i.outcome === 'failed') c.failed++;
    else if (i.outcome === 'running') c.running++;
    else if (i.outcome === 'pending') c.pending++;
    else c.done++;
  }
  c.finished = c.done + c.failed;
  return c;
}

/** Items listed by name per section of `nksr status`; the rest are counted (--all lists every one). */
export const MAX_STATUS_ITEMS = 20;

function itemRows(title: string, items: readonly ProgressItem[], max: number): string[] {
  if (items.length === 0) return [];
  const shown = items.slice(0, max);
  const rows = table([
    ['ITEM', 'KIND', 'OUTCOME', 'DETAIL'],
    ...shown.map((i) => [i.key, i.kind, i.outcome, i.detail ?? '']),
  ]);
  const more = items.length - shown.length;
  return [
    '',
    `${title} (${items.length}):`,
    rows,
    ...(more > 0 ? [`… and ${more} more (nksr status --all)`] : []),
  ];
}

/**
 * A run's progress sized for a terminal however large the run: the counts per kind and outcome, then
 * the failures, then what is running (each bounded), then the latest events. `all` lists every item.
 */
export function formatProgress(p: Progress, opts: { all?: boolean; events?: number } = {}): string {
  const lines = [
    `phase: ${p.phase}${p.awaitingApproval ? ' (awaiting approval: nksr approve <workflowId>)' : ''}`,
  ];
  if (p.items.length) {
    const c = countItems(p.items);
    lines.push(
      `items: ${c.total} (${c.done} done, ${c.failed} failed, ${c.running} running, ${c.pending} pending)`,
    );
    const kinds = [...new Set(p.items.map((i) => i.kind))];
    if (kinds.length > 1) {
      for (const kind of kinds) {
        const of = p.items.filter((i) => i.kind === kind);
        lines.push(`  ${kind}: ${countOutcomes(of.map((i) => i.outcome))}`);
      }
    }
    if (opts.all) lines.push(...itemRows('items', p.items, Infinity));
    else {
      lines.push(
        ...itemRows(
          'failed',
          p.items.filter((i) => i.outcome === 'failed'),
          MAX_STATUS_ITEMS,
        ),
      );
      lines.push(
        ...itemRows(
          'running',
          p.items.filter((i) => i.outcome === 'running'),
          MAX_STATUS_ITEMS,
        ),
      );
    }
  }
  const n = opts.events ?? 15;
  if (p.events.length) lines.push('', 'events:', ...p.events.slice(-n).map((e) => `  ${e}`));
  return lines.join('\n');
}
