import { Command } from 'commander';
import { countItems, formatResult } from './format';
import { CliError, describeFailure, type FailureDescription, printJson, table, withClient } from './common';

export function cancelCommand(): Command {
  return new Command('cancel')
    .description(
      'cancel a running remediation, wait until it has cleaned up and ended, then show what it left unfinished',
    )
    .argument('<workflowId>')
    .option('--no-wait', 'only request the cancellation')
    .option(
      '--timeout <seconds>',
      'stop waiting after this long (the run goes on cancelling)',
      (v) => Number(v),
      600,
    )
    .option('--json', 'machine-readable output')
    .action(
      async (workflowId: string, opts: { wait: boolean; timeout: number; json?: boolean }, cmd: Command) => {
        await withClient(cmd, async (client) => {
          const before = await client.handle(workflowId).describe();
          if (before.status.name !== 'RUNNING')
            throw new CliError(`${workflowId} is not running (${before.status.name}); nothing to cancel`);
          const handle = client.getHandle(workflowId, before.runId);
          await handle.cancel();
          if (!opts.wait) {
            if (opts.json) printJson({ workflowId, runId: before.runId, cancelRequested: true });
            else console.log(`cancellation requested for ${workflowId} (run ${before.runId})`);
            return;
          }
          if (!opts.json) console.error(`cancellation requested for ${workflowId}; waiting for it to end`);
          let outcome: { result?: unknown; failure?: FailureDescription } | undefined;
          const ended = handle.result().then(
            (result) => (outcome = { result }),
            (err: unknown) => (outcome = { failure: describeFailure(err) }),
          );
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([ended, new Promise<void>((r) => (timer = setTimeout(r, opts.timeout * 1000)))]);
          // A pending timer would keep the process alive for the whole --timeout after the output.
          clearTimeout(timer);
          if (!outcome)
            throw new CliError(
              `${workflowId} has not ended after ${opts.timeout} s; it is still cancelling (nksr watch ${workflowId})`,
            );
          const status = (await client.handle(workflowId, before.runId).describe()).status.name;
          // Where the run ended, as the workflow itself reports it (its progress query answers after close).
          const progress = await handle.progress({ timeoutMs: 10_000 }).catch(() => undefined);
          const left = (progress?.items ?? []).filter(
            (i) => i.outcome === 'running' || i.outcome === 'pending',
          );
          const failed = (progress?.items ?? []).filter((i) => i.outcome === 'failed');
          if (opts.json) {
            printJson({
              workflowId,
              runId: before.runId,
              status,
              ...outcome,
              phase: progress?.phase,
              left,
              failed,
              events: progress?.events,
            });
            return;
          }
          const lines = [
            `${workflowId} (run ${before.runId}) ${before.type}: ${status}${progress ? `, phase ${progress.phase}` : ''}`,
          ];
          if (progress) {
            const c = countItems(progress.items);
            lines.push(
              `items: ${c.total} (${c.done} done, ${c.failed} failed, ${c.running} interrupted, ${c.pending} not started)`,
            );
            if (left.length)
              lines.push(
                '',
                'left unfinished:',
                table([
                  ['ITEM', 'KIND', 'STATE', 'DETAIL'],
                  ...left.map((i) => [
                    i.key,
                    i.kind,
                    i.outcome === 'running' ? 'interrupted' : 'not started',
                    i.detail ?? '',
                  ]),
                ]),
              );
            else lines.push('nothing was left unfinished');
            if (failed.length)
              lines.push(
                '',
                'failed:',
                table([['ITEM', 'KIND', 'DETAIL'], ...failed.map((i) => [i.key, i.kind, i.detail ?? ''])]),
              );
            lines.push('', 'last events:', ...progress.events.slice(-10).map((e) => `  ${e}`));
          } else {
            lines.push('(no worker answered the progress query: `nksr audit` shows the history)');
          }
          if (outcome.failure?.report)
            lines.push('', 'report:', formatResult(before.type, outcome.failure.report));
          else if (outcome.result !== undefined)
            lines.push(
              '',
              'it finished before the cancellation took effect:',
              formatResult(before.type, outcome.result),
            );
          else if (outcome.failure && outcome.failure.type !== 'Cancelled')
            lines.push(
              '',
              `ended with: ${outcome.failure.type ? `${outcome.failure.type}: ` : ''}${outcome.failure.message}`,
            );
          console.log(lines.join('\n'));
        });
      },
    );
}
