/**
 * `nksr`: start and watch remediations. Every failure ends as one line on stderr and a non-zero
 * exit code (2: the command line was wrong); NKSR_DEBUG=1 adds the stack trace.
 */
import { Command, CommanderError } from 'commander';
import { approveCommand, keygenCommand } from './approve';
import { auditCommand } from './audit';
import { cancelCommand } from './cancel';
import { CliError, EXIT_CODES_HELP, formatError } from './common';
import { diagnoseCommand } from './diagnose';
import { listCommand } from './list';
import { rbacCommand } from './rbac';
import { runCommand } from './run';
import { scheduleCommand } from './schedule';
import { statusCommand } from './status';
import { watchCommand } from './watch';

export function buildProgram(): Command {
  const program = new Command('nksr')
    .description('Durable remediations for NHN Kubernetes Service clusters, on Temporal')
    .option('--address <host:port>', 'Temporal frontend (default TEMPORAL_ADDRESS or localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default TEMPORAL_NAMESPACE or default)')
    .option('--profile <name>', 'profile of the Temporal client config file')
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .exitOverride();
  for (const cmd of [
    runCommand(),
    statusCommand(),
    watchCommand(),
    listCommand(),
    cancelCommand(),
    approveCommand(),
    keygenCommand(),
    auditCommand(),
    scheduleCommand(),
    diagnoseCommand(),
    rbacCommand(),
  ]) {
    program.addCommand(cmd.exitOverride());
  }
  return program;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (or the help / version).
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`nksr: ${formatError(err)}\n`);
    if (process.env.NKSR_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`nksr: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
