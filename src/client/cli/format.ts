/** Human-readable renderings of results and progress; --json prints the objects themselves. */
import { findProcedure, type HumanReport } from '../../common/procedures';
import type { Progress } from '../../workflows/definitions';
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
