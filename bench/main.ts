/**
 * `npm run bench -- <name> [options]`: benchmarks against the guide's own scripts on fresh
 * simulators. Not tests: they print figures.
 */
import { Command, InvalidArgumentError } from 'commander';
import { benchCalico, defaultCalicoBenchOptions } from './calico';
import { benchLogrotate, defaultLogrotateBenchOptions, type LogrotateBenchOptions } from './logrotate';

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

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

const lr = defaultLogrotateBenchOptions();
program
  .command('logrotate')
  .description("the guide's sync_logrotate.sh vs an xargs -P ssh baseline vs logrotateSync, on one simulator")
  .option('--nodes <n>', 'simulated SSH nodes', positiveInt, lr.nodes)
  .option(
    '--drifted-fraction <f>',
    'share of the nodes drifted before each run',
    fraction,
    lr.driftedFraction,
  )
  .option(
    '--delay-ms <ms>',
    'netem delay each way on the nodes’ addresses (tc on lo)',
    nonNegativeInt,
    lr.delayMs,
  )
  .option('--max-parallel <n>', 'logrotateSync maxParallel (default: the procedure’s)', positiveInt)
  .option('--xargs-parallel <n>', 'the baseline’s xargs -P', positiveInt, lr.xargsParallel)
  .option('--dir <dir>', 'simulator state dir', lr.dir)
  .option('--ip-prefix <prefix>', 'node loopback prefix', lr.ipPrefix)
  .action((opts: LogrotateBenchOptions) => benchLogrotate(opts));

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
