import { Command } from 'commander';
import { localUser } from '../sdk';
import { printJson, withClient } from './common';

export function approveCommand(): Command {
  return new Command('approve')
    .description(
      'approve (or --reject) a remediation waiting at its approval gate; recorded with the approver',
    )
    .argument('<workflowId>')
    .option('--approver <name>', 'who approves (default: your user name)')
    .option('--reject', 'reject instead: the workflow stops before changing anything')
    .option('--comment <text>', 'recorded with the decision')
    .option('--json', 'machine-readable output')
    .action(
      async (
        workflowId: string,
        opts: { approver?: string; reject?: boolean; comment?: string; json?: boolean },
        cmd: Command,
      ) => {
        await withClient(cmd, async (client) => {
          const result = await client.approve(workflowId, {
            approver: opts.approver ?? localUser(),
            approve: !opts.reject,
            comment: opts.comment,
          });
          if (opts.json) printJson(result);
          else
            console.log(
              `${result.accepted ? 'approved' : 'rejected'} ${workflowId} as ${result.approver} (phase ${result.phase})`,
            );
        });
      },
    );
}
