/**
 * `npm run bench -- <name> [options]`: benchmarks against the guide's own scripts on fresh
 * simulators. Not tests: they print figures.
 */
import { Command, InvalidArgumentError } from 'commander';
import { type CalicoBenchOptions, benchCalico, defaultCalicoBenchOptions } from './calico';
import { benchHistories, defaultHistoriesBenchOptions, type HistoriesBenchOptions } from './histories';
import { benchLogrotate, defaultLogrotateBenchOptions, type LogrotateBenchOptions } from './logrotate';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

function baselineArg(value: string): 'guide' | 'raw' {
  if (value !== 'guide' && value !== 'raw') throw new InvalidArgumentError('expected guide or raw');
  return value;
}

const program = new Command('bench').description('benchmarks against the guide’s own scripts');
const defaults = defaultCalicoBenchOptions();
program
  .command('calico')
  .description(
    'calicoImageRepair against a baseline (the guide\u2019s script or plain kubectl), each on a fresh simulator',
  )
  .option('--nodes <n>', 'simulated nodes', positiveInt, defaults.nodes)
  .option(
    '--max-parallel <n>',
    'pre-pull parallelism of the workflow (default: the workflow\u2019s, from the node count)',
    positiveInt,
  )
  .option(
    '--baseline <which>',
    'guide (the guide\u2019s script, sequential) or raw (plain kubectl, all at once)',
    baselineArg,
    'guide',
  )
  .option(
    '--skip-guide',
    "the guide's script is not run: its time is extrapolated from its per-pair rate at 20 nodes (with --baseline raw, raw still runs)",
  )
  .option('--two-workers', 'two worker processes on the task queue')
  .option('--kill-one', 'with --two-workers: SIGKILL one once a third of the pre-pulls are done')
  .option('--dir <dir>', 'simulator state dir', defaults.dir)
  .option(
    '--ip-prefix <prefix>',
    'node loopback prefix (first of as many /24s as the nodes need)',
    defaults.ipPrefix,
  )
  .action((opts: CalicoBenchOptions) => {
    if (opts.killOne && !opts.twoWorkers) throw new InvalidArgumentError('--kill-one needs --two-workers');
    return benchCalico(opts);
  });

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
    'latency each way on every SSH connection to a node (the simulator’s delay proxy)',
    nonNegativeInt,
    lr.delayMs,
  )
  .option('--max-parallel <n>', 'logrotateSync maxParallel (default: the procedure’s)', positiveInt)
  .option('--xargs-parallel <n>', 'the baseline’s xargs -P', positiveInt, lr.xargsParallel)
  .option('--dir <dir>', 'simulator state dir', lr.dir)
  .option('--ip-prefix <prefix>', 'node loopback prefix', lr.ipPrefix)
  .action((opts: LogrotateBenchOptions) => benchLogrotate(opts));

const hs = defaultHistoriesBenchOptions();
program
  .command('histories')
  .description(
    'every procedure at two sizes: executions, largest history and payload, projected to 5,000 nodes',
  )
  .option(
    '--nodes <n>',
    'kwok nodes of the larger API-only run (the smaller: a fifth)',
    positiveInt,
    hs.nodes,
  )
  .option(
    '--ssh-nodes <n>',
    'SSH nodes of the larger SSH run (at most 254; the smaller: a fifth)',
    positiveInt,
    hs.sshNodes,
  )
  .option(
    '--procedures <list>',
    'comma-separated workflow types or CLI names (default: all ten)',
    (v: string) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  )
  .option('--delay-ms <ms>', 'latency each way on every SSH connection to a node', nonNegativeInt, hs.delayMs)
  .option(
    '--run-timeout-minutes <m>',
    'a run still going after this long is terminated (and reported)',
    positiveInt,
    hs.runTimeoutMinutes,
  )
  .option('--dir <dir>', 'simulator state dir', hs.dir)
  .option(
    '--ip-prefix <prefix>',
    'node loopback prefix (first of as many /24s as the nodes need)',
    hs.ipPrefix,
  )
  .action((opts: HistoriesBenchOptions) => benchHistories(opts));

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
