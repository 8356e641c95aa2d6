import { Command } from 'commander';
import { printRows, withClient } from './common';

interface ListCliOptions {
  cluster?: string;
  procedure?: string;
  phase?: string;
  status?: string;
  running?: boolean;
  limit: number;
  json?: boolean;
}

export function listCommand(): Command {
  return new Command('list')
    .description(
      'recent remediations (newest first), filtered through the search attributes NksCluster, NksProcedure, NksPhase and the run status',
    )
    .option('--cluster <name>', 'only this cluster (NksCluster)')
    .option('--procedure <name>', 'only this procedure, CLI name or workflow type (NksProcedure)')
    .option('--phase <phase>', 'only runs in this phase (NksPhase), e.g. awaiting-approval, failed')
    .option(
      '--status <status>',
      'only runs in this status: running, completed, failed, canceled, terminated, timed-out',
    )
    .option('--running', 'only running ones (--status running)')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .option('--json', 'machine-readable output')
    .action(async (opts: ListCliOptions, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const rows = await client.listRemediations({
          cluster: opts.cluster,
          procedure: opts.procedure as never,
          phase: opts.phase,
          status: opts.status,
          running: opts.running,
          limit: opts.limit,
        });
        printRows(rows, {
          json: opts.json,
          empty: 'no remediations found',
          header: ['WORKFLOW ID', 'STATUS', 'PHASE', 'STARTED', 'RUN ID'],
          row: (r) => [
            r.workflowId + (r.dryRun ? ' (dry run)' : ''),
            r.status,
            r.phase ?? '-',
            r.startTime,
            r.runId,
          ],
        });
      });
    });
}
