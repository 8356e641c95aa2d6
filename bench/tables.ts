/**
 * `npm run bench:tables` renders the figure tables of bench/README.md and faults/README.md from the
 * run records in bench/results/ (bench/results.ts), between `<!-- results:<kind> -->` and
 * `<!-- /results:<kind> -->`; `-- --check` changes nothing and exits 1 when a table differs from its
 * records (CI runs the same check as a unit test).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { readRunRecords, type RunRecord } from './results';

type Column = [header: string, cell: (r: RunRecord) => string, align?: 'right'];

const f = (r: RunRecord, name: string): RunRecord['figures'][string] | undefined => r.figures[name];
const o = (r: RunRecord, name: string): RunRecord['options'][string] | undefined => r.options[name];
const seconds = (ms: unknown) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : '–');
const times = (x: unknown, digits = 1) => (typeof x === 'number' ? `${x.toFixed(digits)}×` : '–');
const text = (x: unknown) => (x === undefined || x === null ? '–' : String(x));
const day = (r: RunRecord) => r.date.slice(0, 10);
const commit = (r: RunRecord) => `${r.commit}${r.dirty ? '+' : ''}`;
const load = (r: RunRecord) => `${r.machine.loadAtStart} → ${r.machine.loadAtEnd}`;
const machine = (r: RunRecord) => `${r.machine.cpus} cores, ${r.machine.memGiB} GiB`;
const kib = (bytes: unknown) => (typeof bytes === 'number' ? `${(bytes / 1024).toFixed(1)} KB` : '–');
/** 10,240 events per history and 64 KB per payload, at 5,000 nodes. */
const withinLimits = (r: RunRecord) => {
  const events = f(r, 'underEventLimit');
  const payload = f(r, 'underPayloadLimit');
  if (typeof events !== 'boolean' || typeof payload !== 'boolean') return '–';
  if (events && payload) return 'yes';
  return `no (${[events ? '' : 'events', payload ? '' : 'payload'].filter(Boolean).join(', ')})`;
};

/** The columns of each kind's table; a kind not listed here has no table. */
export const TABLES: Record<string, Column[]> = {
  calico: [
    ['date', day],
    ['commit', commit],
    ['nodes', (r) => text(o(r, 'nodes')), 'right'],
    ['baseline', (r) => text(o(r, 'baseline'))],
    ['baseline time', (r) => seconds(f(r, 'baselineMs')), 'right'],
    ['ours', (r) => seconds(f(r, 'oursMs')), 'right'],
    ['baseline/ours', (r) => times(f(r, 'speedup'), 2), 'right'],
    ['maxParallel', (r) => text(f(r, 'maxParallel')), 'right'],
    ['outcome', (r) => text(f(r, 'outcome'))],
    ['history events', (r) => text(f(r, 'historyEvents')), 'right'],
    [
      'worker peak RSS',
      (r) => (typeof f(r, 'peakRssMb') === 'number' ? `${f(r, 'peakRssMb')} MB` : '–'),
      'right',
    ],
    ['machine', machine],
    ['load', load],
  ],
  logrotate: [
    ['date', day],
    ['commit', commit],
    ['nodes', (r) => text(o(r, 'nodes')), 'right'],
    ['SSH delay', (r) => `${text(o(r, 'delayMs'))} ms`, 'right'],
    ['guide', (r) => seconds(f(r, 'guideMs')), 'right'],
    ['xargs', (r) => seconds(f(r, 'xargsMs')), 'right'],
    ['ours', (r) => seconds(f(r, 'oursMs')), 'right'],
    ['guide/ours', (r) => times(f(r, 'guideOverOurs')), 'right'],
    ['ours/xargs', (r) => times(f(r, 'oursOverXargs'), 2), 'right'],
    ['maxParallel', (r) => text(f(r, 'maxParallel')), 'right'],
    ['outcome', (r) => text(f(r, 'outcome'))],
    ['machine', machine],
    ['load', load],
  ],
  histories: [
    ['date', day],
    ['commit', commit],
    ['procedure', (r) => text(f(r, 'procedure'))],
    ['nodes', (r) => `${text(f(r, 'smallNodes'))} → ${text(f(r, 'largeNodes'))}`, 'right'],
    ['time', (r) => seconds(f(r, 'largeMs')), 'right'],
    ['outcome', (r) => text(f(r, 'outcome'))],
    ['executions', (r) => text(f(r, 'executions')), 'right'],
    ['most events', (r) => text(f(r, 'historyEvents')), 'right'],
    ['largest payload', (r) => kib(f(r, 'payloadBytes')), 'right'],
    ['events at 5,000', (r) => text(f(r, 'projectedEvents')), 'right'],
    ['payload at 5,000', (r) => kib(f(r, 'projectedPayloadBytes')), 'right'],
    ['within limits', (r) => withinLimits(r)],
    ['machine', machine],
    ['load', load],
  ],
  faults: [
    ['date', day],
    ['commit', commit],
    ['procedure', (r) => text(f(r, 'procedure'))],
    ['nodes', (r) => text(f(r, 'nodes')), 'right'],
    ['seed', (r) => text(f(r, 'seed')), 'right'],
    ['as expected', (r) => `${text(f(r, 'asExpected'))}/${text(f(r, 'runs'))}`, 'right'],
    ['never struck', (r) => text(f(r, 'neverStruck')), 'right'],
    ['duplicates', (r) => text(f(r, 'duplicates')), 'right'],
    ['leftovers', (r) => text(f(r, 'leftovers')), 'right'],
    ['machine', machine],
  ],
};

/** Files holding tables, by kind. */
export const TABLE_FILES: Record<string, string> = {
  calico: 'bench/README.md',
  logrotate: 'bench/README.md',
  histories: 'bench/README.md',
  faults: 'faults/README.md',
};

export function renderTable(kind: string, records: RunRecord[]): string {
  const columns = TABLES[kind];
  if (!columns) throw new Error(`no table for records of kind ${JSON.stringify(kind)}`);
  const mine = records.filter((r) => r.kind === kind);
  if (mine.length === 0) return `No recorded run yet (bench/results/ has no \`${kind}\` record).`;
  const rows = mine.map((r) => columns.map(([, cell]) => cell(r).replace(/\|/g, '\\|')));
  const head = columns.map(([h]) => h);
  const widths = head.map((h, i) => Math.max(h.length, 3, ...rows.map((row) => row[i]!.length)));
  const pad = (cells: string[]) =>
    `| ${cells.map((c, i) => (columns[i]![2] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (columns[i]![2] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [pad(head), rule, ...rows.map(pad)].join('\n');
}

/** `text` with every `<!-- results:kind -->` block replaced by the kind's table. */
export function renderInto(text: string, records: RunRecord[]): string {
  return text.replace(
    /(<!-- results:([a-z][a-z0-9-]*) -->)\n[\s\S]*?(<!-- \/results:\2 -->)/g,
    (_m, open: string, kind: string, close: string) => `${open}\n\n${renderTable(kind, records)}\n\n${close}`,
  );
}

/**
 * As the repository's Prettier formats the file (its CLI, so the same config and version as
 * `npm run format:check`, and usable where ES-module imports are not, as under jest).
 */
function formatMarkdown(path: string, text: string): string {
  const cli = require.resolve('prettier/bin/prettier.cjs');
  return execFileSync(process.execPath, [cli, '--stdin-filepath', path], { input: text, encoding: 'utf8' });
}

/** Files whose tables differ from the records (or, without `check`, rewrites them), as Prettier formats them. */
export async function updateTables(opts: {
  check: boolean;
  records?: RunRecord[];
  root?: string;
}): Promise<string[]> {
  const records = opts.records ?? readRunRecords();
  const root = opts.root ?? REPO_ROOT;
  const stale: string[] = [];
  for (const file of new Set(Object.values(TABLE_FILES))) {
    const path = join(root, file);
    const before = readFileSync(path, 'utf8');
    const after = formatMarkdown(path, renderInto(before, records));
    if (after === before) continue;
    stale.push(file);
    if (!opts.check) writeFileSync(path, after);
  }
  return stale;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const stale = await updateTables({ check });
  if (check && stale.length) {
    console.error(`tables differ from bench/results: ${stale.join(', ')} (run \`npm run bench:tables\`)`);
    process.exit(1);
  }
  console.log(
    stale.length ? `${check ? 'stale' : 'rewrote'}: ${stale.join(', ')}` : 'tables match bench/results',
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
