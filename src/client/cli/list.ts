import { Command } from 'commander';
import { printJson, table, withClient } from './common';

export function listCommand(): Command {
  return new Command('list')
    .description('recent remediations (newest first)')
    .option('--cluster <name>', 'only this cluster')
    .option('--procedure <name>', 'only this procedure')
    .option('--running', 'only running ones')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .option('--json', 'machine-readable output')
    .action(
      async (
        opts: { cluster?: string; procedure?: string; running?: boolean; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        await withClient(cmd, async (client) => {
          const rows = await client.listRemediations({
            cluster: opts.cluster,
            procedure: opts.procedure as never,
            running: opts.running,
            limit: opts.limit,
          });
          if (opts.json) return printJson(rows);
          if (rows.length === 0) return console.log('no remediations found');
          console.log(
            table([
              ['WORKFLOW ID', 'STATUS', 'PHASE', 'STARTED', 'RUN ID'],
              ...rows.map((r) => [
                r.workflowId + (r.dryRun ? ' (dry run)' : ''),
                r.status,
                r.phase ?? '-',
                r.startTime,
                r.runId,
              ]),
            ]),
          );
        });
      },
    );
}
