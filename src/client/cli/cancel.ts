import { Command } from 'commander';
import { withClient } from './common';

export function cancelCommand(): Command {
  return new Command('cancel')
    .description('request cancellation of a running remediation (it cleans up, then ends as Cancelled)')
    .argument('<workflowId>')
    .action(async (workflowId: string, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client) => {
        await client.cancel(workflowId);
        console.log(`cancellation requested for ${workflowId}`);
      });
    });
}
