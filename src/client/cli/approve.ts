import { Command } from 'commander';
import { defaultApproverKeyPath, generateApproverKey, readApproverKey } from '../approver-key';
import { CliError, printJson, withClient } from './common';

export function approveCommand(): Command {
  return new Command('approve')
    .description(
      'approve (or --reject) a remediation waiting at its approval gate: signs the plan it waits with; ' +
        'the worker checks the signature against its approvers and records who approved',
    )
    .argument('<workflowId>')
    .option(
      '--key <file>',
      'your approver key (nksr keygen; default NKSR_APPROVER_KEY or ~/.config/nksr/approver.key)',
    )
    .option('--reject', 'reject instead: the workflow stops before changing anything')
    .option('--comment <text>', 'recorded with the decision')
    .option('--plan-digest <sha256>', 'sign only if the run still waits with this plan')
    .option('--json', 'machine-readable output')
    .action(
      async (
        workflowId: string,
        opts: { key?: string; reject?: boolean; comment?: string; planDigest?: string; json?: boolean },
        cmd: Command,
      ) => {
        const keyFile = opts.key ?? defaultApproverKeyPath();
        let privateKey: string;
        try {
          privateKey = readApproverKey(keyFile);
        } catch (err) {
          throw new CliError((err as Error).message, 2);
        }
        await withClient(cmd, async (client) => {
          const result = await client.approve(workflowId, {
            privateKey,
            reject: opts.reject,
            comment: opts.comment,
            expectPlanDigest: opts.planDigest,
          });
          if (opts.json) printJson(result);
          else if (!result.accepted)
            throw new CliError(
              `refused: ${result.reason ?? 'not taken'}; ${workflowId} still waits (phase ${result.phase})`,
              1,
            );
          else console.log(`${result.decision} ${workflowId} as ${result.approver} (phase ${result.phase})`);
        });
      },
    );
}

export function keygenCommand(): Command {
  return new Command('keygen')
    .description(
      'make an approver key: the private key stays in the file; add the printed public key to the worker',
    )
    .option('--out <file>', 'where (default NKSR_APPROVER_KEY or ~/.config/nksr/approver.key)')
    .option('--name <name>', 'your approver name, for the printed clusters.yaml lines', 'YOUR-NAME')
    .option('--force', 'replace an existing key file')
    .action((opts: { out?: string; name: string; force?: boolean }) => {
      const file = opts.out ?? defaultApproverKeyPath();
      let publicKey: string;
      try {
        publicKey = generateApproverKey(file, { overwrite: opts.force });
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      console.log(`wrote ${file} (keep it private); add to the worker's clusters.yaml:`);
      console.log(`approvers:\n  - name: ${opts.name}\n    publicKey: ${publicKey}`);
    });
}
