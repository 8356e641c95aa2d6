import { Command } from 'commander';
import { describeFailure, type FailureDescription, printJson, withClient } from './common';
import { formatProgress, formatResult } from './format';

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'state of a remediation: status, phase, item counts, failures and running items, result or failure',
    )
    .argument('<workflowId>')
    .option('--all', 'list every item (default: counts, then failures and running items, each bounded)')
    .option('--json', 'machine-readable output (every item)')
    .action(async (workflowId: string, opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const status = await client.getRemediation(workflowId);
        let outcome: { result?: unknown; failure?: FailureDescription } = {};
        if (status.status !== 'RUNNING') {
          try {
            outcome = { result: await client.handle(workflowId, status.runId).result() };
          } catch (err) {
            outcome = { failure: describeFailure(err) };
          }
        }
        if (opts.json) {
          printJson({ ...status, ...outcome });
          return;
        }
        console.log(
          [
            `${status.workflowId} (run ${status.runId})`,
            `  ${status.workflowType} on cluster ${status.cluster ?? '?'}${status.dryRun ? ' (dry run)' : ''}: ${status.status}, phase ${status.phase ?? '?'}`,
            `  started ${status.startTime}${status.closeTime ? `, closed ${status.closeTime}` : ''}; ${status.historyLength} history events; task queue ${status.taskQueue}`,
          ].join('\n'),
        );
        for (const a of status.pendingActivities) {
          console.log(
            `  activity ${a.activityType}: ${a.state}, attempt ${a.attempt}${a.lastFailure ? `; last failure: ${a.lastFailure}` : ''}`,
          );
        }
        if (status.progress) console.log(`\n${formatProgress(status.progress, { all: opts.all })}`);
        else if (status.status === 'RUNNING')
          console.log(`\n(progress unavailable: ${status.progressError ?? 'no worker answered'})`);
        if (outcome.failure?.report)
          console.log(`\nreport:\n${formatResult(status.workflowType, outcome.failure.report)}`);
        if (outcome.failure) {
          const f = outcome.failure;
          // Cancelled, timed out, terminated: said as such, not as a failure ("failed: Cancelled: ...").
          console.log(
            f.outcome === undefined || f.outcome === 'failed'
              ? `\nfailed: ${f.type ? `${f.type}: ` : ''}${f.message}`
              : `\n${f.message}`,
          );
        } else if (outcome.result !== undefined)
          console.log(`\nresult:\n${formatResult(status.workflowType, outcome.result)}`);
      });
    });
}
