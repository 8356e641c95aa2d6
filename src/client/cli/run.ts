import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { findProcedure, PROCEDURES, resolveProcedure } from '../../common/procedures';
import { defaultApproverKeyPath, readApproverKey } from '../approver-key';
import type { RemediationInput } from '../sdk';
import { CliError, EXIT_CODES, OUTCOME_WORDS, describeFailure, printJson, withClient } from './common';
import { formatProcedureHelp, formatProcedureList } from './procedure-help';
import { procedureInput } from './procedure-options';
import { waitThroughOutages } from './wait';
import { printOutcome, watchRemediation } from './watch';

interface RunOptions {
  cluster?: string;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
  taskQueue?: string;
  inputJson?: string;
  help?: boolean;
  reconnectTimeout: number;
  /** false with --no-wait-lock. */
  waitLock?: boolean;
  signKey?: string;
  /** false with --no-sign. */
  sign?: boolean;
}

const known = () => Object.keys(PROCEDURES).join(', ');

/** The key that signs the request: --sign-key, else the default approver key if there is one. */
function requestSigningKey(opts: RunOptions): string | undefined {
  if (opts.sign === false) return undefined;
  const file = opts.signKey ?? defaultApproverKeyPath();
  if (!opts.signKey && !existsSync(file)) return undefined;
  try {
    return readApproverKey(file);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

/**
 * `-h/--help` is our own option, not commander's: with a procedure it prints that procedure's
 * description and input fields (procedure-help.ts); without one, this command's help and the list.
 */
export function runCommand(): Command {
  return new Command('run')
    .description(
      `start a remediation; procedures: ${known()}. ` +
        'Other --options become input fields (--max-parallel 4 → maxParallel: 4).',
    )
    .usage('<procedure> --cluster <name> [options]')
    .argument('[procedure]', 'procedure (kebab-case) or workflow type')
    .option('--cluster <name>', 'cluster name in the worker’s registry')
    .option('--dry-run', 'compute and return the plan, change nothing')
    .option(
      '--wait',
      'watch it live (as nksr watch) until it ends, then print its report; the exit code says how it ended (nksr --help)',
    )
    .option(
      '--reconnect-timeout <seconds>',
      'with --wait: how long to keep reconnecting to a Temporal server that went away',
      (v: string) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError('must be a whole number of seconds');
        return Number(v);
      },
      300,
    )
    .option(
      '--no-wait-lock',
      'fail at once when another run holds the cluster lock instead of waiting for it (failIfLocked)',
    )
    .option(
      '--sign-key <file>',
      'sign the request with this approver key, so the worker knows who asked (default NKSR_APPROVER_KEY or ~/.config/nksr/approver.key, when it exists)',
    )
    .option('--no-sign', 'start the run unsigned even if an approver key exists')
    .option('--json', 'machine-readable output')
    .option('--task-queue <queue>', 'task queue (default NKSR_TASK_QUEUE or nks-remediation)')
    .option('--input-json <json>', 'input as JSON; flags override its fields')
    .helpOption(false)
    .option('-h, --help', 'this help; with a procedure, its description and input fields')
    .addHelpText('after', () => `\n${formatProcedureList()}`)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (procedure: string | undefined, opts: RunOptions, cmd: Command) => {
      const rest = procedure === undefined ? cmd.args : cmd.args.slice(1);
      if (opts.help) {
        // An unknown option before the procedure's name leaves the name among the unknown arguments.
        const named = procedure ?? rest.find((a) => findProcedure(a) !== undefined);
        if (named === undefined) {
          cmd.outputHelp();
          return;
        }
        const entry = findProcedure(named);
        if (!entry) throw new CliError(`unknown procedure "${named}"; known: ${known()}`, 2);
        process.stdout.write(formatProcedureHelp(entry));
        return;
      }
      if (procedure === undefined) {
        throw new CliError(`which procedure? known: ${known()} (nksr run --help lists them)`, 2);
      }
      const workflowType = resolveProcedure(procedure);
      if (!workflowType) throw new CliError(`unknown procedure "${procedure}"; known: ${known()}`, 2);
      const input = procedureInput(opts, rest);
      const signWith = requestSigningKey(opts);

      await withClient(cmd, async (client) => {
        const started = await client.startRemediation(
          workflowType,
          input as unknown as RemediationInput<typeof workflowType>,
          { taskQueue: opts.taskQueue, ...(signWith ? { signWith } : {}) },
        );
        const ids = {
          workflowId: started.workflowId,
          runId: started.runId,
          workflowType,
          taskQueue: started.taskQueue,
        };
        if (!opts.wait) {
          if (opts.json) printJson(ids);
          else
            console.log(
              `started ${workflowType} ${started.workflowId} (run ${started.runId}) on task queue ${started.taskQueue}\n  watch: nksr watch ${started.workflowId}`,
            );
          return;
        }
        if (opts.json) {
          // Machine-readable: no live view, only the result (or the failure) when the run ends.
          try {
            printJson(
              await waitThroughOutages(() => started.handle.result(), {
                reconnectTimeoutMs: opts.reconnectTimeout * 1000,
                say: (line) => console.error(line),
                workflowId: started.workflowId,
                probe: () => started.handle.describe(),
              }),
            );
          } catch (err) {
            if (err instanceof CliError) throw err;
            const failure = describeFailure(err);
            const outcome = failure.outcome ?? 'failed';
            printJson({ ...ids, status: outcome, failure });
            const why =
              outcome === 'failed' ? `: ${failure.type ? `${failure.type}: ` : ''}${failure.message}` : '';
            throw new CliError(
              `${workflowType} ${OUTCOME_WORDS[outcome]} (${started.workflowId}, run ${started.runId})${why}`,
              EXIT_CODES[outcome],
            );
          }
          return;
        }
        console.error(
          `started ${workflowType} ${started.workflowId} (run ${started.runId}); waiting for the result (Ctrl-C stops watching, not the workflow)`,
        );
        printOutcome(
          await watchRemediation(client, started.workflowId, {
            reconnectTimeoutMs: opts.reconnectTimeout * 1000,
            // Off a terminal the progress goes to stderr: stdout stays the report alone, for scripts.
            ...(process.stdout.isTTY ? {} : { out: process.stderr, tty: false }),
          }),
          false,
        );
      });
    });
}
