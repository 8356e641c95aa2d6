/**
 * One JSON record per benchmark or fault-suite run, under bench/results/: the machine, the commit,
 * the date and every figure the run printed. The tables in bench/README.md and faults/README.md are
 * rendered from these records (bench/tables.ts), so no figure in them is typed by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../src/dev/temporal-binaries';

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

const Figure = z.union([z.number(), z.string(), z.boolean(), z.null()]);

export const RunRecordSchema = z
  .object({
    /** Which table the record belongs to: `calico`, `logrotate`, `faults`. */
    kind: z.string().regex(/^[a-z][a-z0-9-]*$/),
    /** ISO time the run ended. */
    date: z.string(),
    /** The commit the run was made on, and whether the tree had uncommitted changes. */
    commit: z.string(),
    dirty: z.boolean(),
    machine: z.object({
      cpus: z.number(),
      cpuModel: z.string(),
      memGiB: z.number(),
      os: z.string(),
      node: z.string(),
      /** 1-minute load average when the run started and when it ended. */
      loadAtStart: z.number(),
      loadAtEnd: z.number(),
    }),
    /** The command line options the run was given (nodes, delay, baseline, ...). */
    options: z.record(z.string(), Figure),
    /** Every figure of the run, by name. */
    figures: z.record(z.string(), Figure),
    /** Per-run rows, where the run is many (the fault suite's runs). */
    rows: z.array(z.record(z.string(), Figure)).optional(),
  })
  .strict();
export type RunRecord = z.infer<typeof RunRecordSchema>;
export type Figures = RunRecord['figures'];

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Call when the run starts: its load average goes into the record. */
export function startRecording(): { loadAtStart: number } {
  return { loadAtStart: loadavg()[0]! };
}

/** Writes the record of a finished run; returns its path. */
export function writeRunRecord(
  kind: string,
  started: { loadAtStart: number },
  options: Record<string, unknown>,
  figures: Figures,
  opts: { rows?: RunRecord['rows']; dir?: string } = {},
): string {
  const dir = opts.dir ?? RESULTS_DIR;
  const date = new Date().toISOString();
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const record: RunRecord = RunRecordSchema.parse({
    kind,
    date,
    commit,
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${release()}`,
      node: process.version,
      loadAtStart: round(started.loadAtStart),
      loadAtEnd: round(loadavg()[0]!),
    },
    options: Object.fromEntries(
      Object.entries(options).filter(([, v]) => Figure.safeParse(v).success) as [
        string,
        z.infer<typeof Figure>,
      ][],
    ),
    figures,
    ...(opts.rows ? { rows: opts.rows } : {}),
  });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${kind}-${date.replace(/[:.]/g, '-')}-${commit}.json`);
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

/** Every record of `dir`, oldest first; a file that is not a record is an error naming it. */
export function readRunRecords(dir = RESULTS_DIR): RunRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names
    .map((name) => {
      const parsed = RunRecordSchema.safeParse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
      if (!parsed.success) throw new Error(`${join(dir, name)} is not a run record: ${parsed.error.message}`);
      return parsed.data;
    })
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}

const round = (n: number) => Math.round(n * 100) / 100;
