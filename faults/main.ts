/**
 * `npm run faults -- [--runs N] [--seed S] [--procedure calico|kmem|logrotate|all] [--nodes K]
 * [--scenarios a,b]`: the fault suite (faults/suite.ts). Prints a progress line per run on stderr and
 * a table per procedure on stdout; exits 1 when any run differs from the uninterrupted one (outcome,
 * duplicate side effects, leftovers, end state) or its fault never struck while the run ran.
 */
import { Command, InvalidArgumentError } from 'commander';
import { testSimPlace } from '../sim/testing';
import {
  PROCEDURES,
  type ProcedureName,
  SCENARIOS,
  type Scenario,
  type SuiteReport,
  formatTable,
  runSuite,
} from './suite';
import { startRecording, writeRunRecord } from '../bench/results';

function intArg(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}

interface ProcedureRuns {
  name: ProcedureName;
  runs?: number;
}

function procedureList(v: string): ProcedureRuns[] {
  if (v.trim() === 'all') return PROCEDURES.map((name) => ({ name }));
  return v.split(',').map((item) => {
    const m = /^\s*([a-z]+)(?::(\d+))?\s*$/.exec(item);
    if (!m || !(PROCEDURES as readonly string[]).includes(m[1]!))
      throw new InvalidArgumentError(
        `unknown procedure ${item} (${PROCEDURES.join(', ')}, all; name:N for N runs)`,
      );
    return { name: m[1] as ProcedureName, ...(m[2] ? { runs: Number(m[2]) } : {}) };
  });
}

/** A procedure's runs as figures for its record: how many ran as expected, what was duplicated or left. */
function suiteFigures(r: SuiteReport) {
  return {
    procedure: r.procedure,
    nodes: r.nodes,
    seed: r.seed,
    runs: r.rows.length,
    asExpected: r.rows.filter((x) => x.ok).length,
    neverStruck: r.rows.filter((x) => !x.struck).length,
    duplicates: r.rows.reduce((n, x) => n + x.duplicates.length, 0),
    leftovers: r.rows.reduce((n, x) => n + x.leftovers.length, 0),
    different: r.rows.filter((x) => x.differences.length > 0).length,
    stoppedBy: r.stoppedBy ?? null,
    ok: r.ok,
  };
}

/** Every run of a procedure as a row of its record, the uninterrupted reference first. */
function suiteRows(r: SuiteReport) {
  return [r.baseline, ...r.rows].map((x) => ({
    run: x.index === 0 ? 'ref' : x.index,
    scenario: x.scenario,
    faultAt: x.point,
    outcome: x.outcome,
    expectedOutcome: x.expectedOutcome,
    seconds: Math.round(x.seconds * 10) / 10,
    sideEffects: Object.entries(x.counts)
      .map(([name, c]) => `${c} ${name}`)
      .join(', '),
    duplicates: x.duplicates.join(', '),
    leftovers: x.leftovers.join(', '),
    endState: x.index === 0 ? 'reference' : x.differences.length ? x.differences.join('; ') : 'same',
    struck: x.struck,
    ok: x.ok,
    notes: x.notes.join('; '),
  }));
}

const program = new Command('faults')
  .description(
    'run a procedure N times, each with one seeded random fault, and compare with an uninterrupted run',
  )
  .option('--runs <n>', 'faulted runs (after one uninterrupted reference run)', intArg('--runs'), 7)
  .option('--seed <s>', 'seed of the fault choices (default: from the clock, printed)', intArg('--seed'))
  .option(
    '--procedure <list>',
    `comma-separated procedures, each run in turn with a reference run of its own: ${PROCEDURES.join(', ')} or all; name:N gives that one N runs instead of --runs`,
    procedureList,
    [{ name: 'calico' }],
  )
  .option('--nodes <n>', 'simulated nodes', intArg('--nodes'), 3)
  .option(
    '--record',
    "write a record of each procedure's runs to bench/results (its table: faults/README.md)",
  )
  .option('--scenarios <list>', `comma-separated subset of: ${SCENARIOS.join(', ')}`, (v: string) => {
    const list = v.split(',').map((s) => s.trim());
    for (const s of list)
      if (!(SCENARIOS as readonly string[]).includes(s))
        throw new InvalidArgumentError(`unknown scenario ${s}`);
    return list as Scenario[];
  })
  .option(
    '--dir <dir>',
    "simulator state dir (env NKSR_SIM_DIR; default: the test run's `faults` place)",
    process.env.NKSR_SIM_DIR ?? testSimPlace('faults').dir,
  )
  .option(
    '--ip-prefix <p>',
    "simulator loopback prefix (env NKSR_SIM_IP_PREFIX; default: the test run's `faults` place)",
    process.env.NKSR_SIM_IP_PREFIX ?? testSimPlace('faults').ipPrefix,
  )
  .action(
    async (o: {
      runs: number;
      seed?: number;
      procedure: ProcedureRuns[];
      nodes: number;
      scenarios?: Scenario[];
      dir: string;
      ipPrefix: string;
      record?: boolean;
    }) => {
      const recording = startRecording();
      const seed = o.seed ?? Date.now() % 1_000_000;
      const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);
      if (o.nodes < 3)
        throw new InvalidArgumentError('--nodes must be at least 3 (kmem and logrotate use three)');
      const list = o.procedure.map((p) => `${p.name} ${p.runs ?? o.runs} runs`).join(', ');
      log(`seed ${seed}, ${list}, on ${o.nodes} nodes`);
      const reports = await runSuite({
        runs: o.runs,
        seed,
        procedures: o.procedure,
        nodes: o.nodes,
        dir: o.dir,
        ipPrefix: o.ipPrefix,
        scenarios: o.scenarios,
        log,
      });
      // Exit explicitly: a fault that never struck may still hold a timer or a watch open.
      const ok = reports.length > 0 && reports.every((r) => r.ok);
      if (o.record) {
        for (const r of reports) {
          const options = {
            runs: o.runs,
            seed,
            nodes: o.nodes,
            procedure: r.procedure,
            scenarios: o.scenarios?.join(',') ?? 'all',
          };
          log(
            `record: ${writeRunRecord('faults', recording, options, suiteFigures(r), { rows: suiteRows(r) })}`,
          );
        }
      }
      process.stdout.write(`${reports.map(formatTable).join('\n\n')}\n`, () => process.exit(ok ? 0 : 1));
    },
  );

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`faults: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
