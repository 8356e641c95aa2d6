import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { auditHistoryFile, auditRemediation, type AuditReport, summarize } from '../audit';
import { CliError, printJson, withClient } from './common';
import { formatResult } from './format';

function offset(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`.padStart(10);
}

/** Timeline entries shown by default: the scheduling of an activity is implied by its completion line. */
const QUIET_KINDS = new Set(['activity-scheduled', 'timer-started', 'update-completed']);

export function renderAudit(r: AuditReport, opts: { allEvents?: boolean } = {}): string {
  const took =
    r.startedAt && r.closedAt
      ? `; took ${((Date.parse(r.closedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)} s`
      : '';
  const lines = [
    `${r.workflowType} ${r.workflowId} (run ${r.runId}): ${r.status}`,
    `  source:    ${r.source === 'server' ? 'fetched from Temporal' : r.source}`,
    `  started:   ${r.startedAt ?? '?'} by ${r.startedBy ?? '?'}${r.verifiedRequester ? ` (requested by ${r.verifiedRequester}, signature verified)` : r.requestedBy ? ` (requested by ${r.requestedBy}, not signed)` : ''}${r.closedAt ? `; closed ${r.closedAt}` : ''}${took}`,
    `  input:     ${summarize(r.input, 300)}`,
  ];
  if (r.replay)
    lines.push(
      r.replay.deterministic
        ? `  replay:    deterministic: today's workflow code replays this history (${r.replay.checkedWith})`
        : `  replay:    NOT deterministic: today's workflow code cannot replay this history: ${r.replay.error} (${r.replay.checkedWith})`,
    );
  lines.push(
    `  approvals: ${
      r.approvals.length
        ? r.approvals
            .map(
              (a) =>
                `${a.decision} by ${a.approver} at ${a.time} (sent from ${a.sentBy})${a.accepted === false ? ' — refused by the workflow' : ''}${a.comment ? `: ${a.comment}` : ''}`,
            )
            .join('; ')
        : 'none'
    }`,
    `  phases:    ${r.phases.map((p) => p.name).join(' → ') || '-'}`,
    `  actions:   ${r.actions.length} activities (${countBy(r.actions.map((a) => a.outcome))}); ${r.retries} retried attempt${r.retries === 1 ? '' : 's'}`,
    `  workers:   ${r.workers.map((w) => `${w.identity} (${w.workflowTasks} workflow tasks, ${w.activityTasks} activities)`).join(', ') || '-'}`,
  );
  for (const c of r.workerChanges)
    lines.push(`  worker change at ${c.time}: ${c.from} → ${c.to} (first: ${c.task})`);
  if (r.failures.length)
    lines.push(`  failures:  ${r.failures.length}`, ...r.failures.map((f) => `    - ${f}`));
  lines.push('', 'timeline:');
  for (const e of r.entries) {
    if (!opts.allEvents && QUIET_KINDS.has(e.kind)) continue;
    lines.push(`${offset(e.offsetMs)}  #${String(e.eventId).padEnd(4)} ${e.text}`);
  }
  if (r.status === 'COMPLETED' && r.result !== undefined)
    lines.push('', 'result:', formatResult(r.workflowType, r.result));
  else if (r.failure) lines.push('', `ended: ${r.status}: ${r.failure}`);
  return lines.join('\n');
}

function countBy(values: string[]): string {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
}

interface AuditCliOptions {
  runId?: string;
  json?: boolean;
  replay: boolean;
  workflowBundle?: string;
  allEvents?: boolean;
}

export function auditCommand(): Command {
  return new Command('audit')
    .description(
      "a remediation's history for an auditor: who started it and with what, approvals, every action with times, attempts and worker, worker changes, failures, the result; and whether today's workflow code still replays it (exit 3 if not)",
    )
    .argument('<workflowId|history.json>', 'a workflow ID, or a history exported from the Temporal UI or CLI')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--no-replay', 'skip the replay check')
    .option(
      '--workflow-bundle <file>',
      'replay with this workflow bundle (default NKSR_WORKFLOW_BUNDLE, else the sources)',
    )
    .option('--all-events', 'also list activity schedulings, timers and update completions')
    .option('--json', 'machine-readable output (full inputs and results)')
    .action(async (target: string, opts: AuditCliOptions, cmd: Command) => {
      const auditOpts = { runId: opts.runId, replay: opts.replay, workflowBundlePath: opts.workflowBundle };
      const fromFile = target.endsWith('.json') || existsSync(target);
      if (fromFile && !existsSync(target)) throw new CliError(`${target}: no such file`, 2);
      let report: AuditReport;
      if (fromFile) {
        report = await auditHistoryFile(target, auditOpts);
      } else {
        report = await withClient(cmd, (client) => auditRemediation(client, target, auditOpts));
      }
      if (opts.json) printJson(report);
      else console.log(renderAudit(report, { allEvents: opts.allEvents }));
      if (report.replay && !report.replay.deterministic)
        throw new CliError(`${report.workflowId}: not deterministic against today's workflow code`, 3);
    });
}
