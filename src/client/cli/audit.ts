import { Command } from 'commander';
import { auditRemediation } from '../audit';
import { printJson, withClient } from './common';

function offset(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`.padStart(10);
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('timeline of a remediation from its history: inputs, activities, results, approvals')
    .argument('<workflowId>')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--json', 'machine-readable output (full inputs and results)')
    .action(async (workflowId: string, opts: { runId?: string; json?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const report = await auditRemediation(client, workflowId, opts.runId);
        if (opts.json) return printJson(report);
        console.log(`${report.workflowId} (run ${report.runId}) ${report.workflowType}: ${report.status}`);
        for (const e of report.entries) {
          console.log(`${offset(e.offsetMs)}  #${String(e.eventId).padEnd(4)} ${e.text}`);
        }
      });
    });
}
