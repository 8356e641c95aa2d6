/**
 * `npm run bench -- <name> [options]`: benchmarks against the guide's own scripts on fresh
 * simulators. Not tests: they print figures.
 */
import { Command, InvalidArgumentError } from 'commander';
import { benchCalico, defaultCalicoBenchOptions } from './calico';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

const program = new Command('bench').description('benchmarks against the guide’s own scripts');
const defaults = defaultCalicoBenchOptions();
program
  .command('calico')
  .description("the guide's calico repair script vs calicoImageRepair, each on a fresh simulator")
  .option('--nodes <n>', 'simulated nodes', positiveInt, defaults.nodes)
  .option('--max-parallel <n>', 'pre-pull parallelism of the workflow', positiveInt, defaults.maxParallel)
  .option('--dir <dir>', 'simulator state dir', defaults.dir)
  .option('--ip-prefix <prefix>', 'node loopback prefix', defaults.ipPrefix)
  .option('--skip-guide', "our workflow only (the guide's script is sequential: hours at 1,000 nodes)")
  .action(
    (opts: { nodes: number; maxParallel: number; dir: string; ipPrefix: string; skipGuide?: boolean }) =>
      benchCalico(opts),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
