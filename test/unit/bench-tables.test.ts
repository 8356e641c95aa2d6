/**
 * The figure tables of bench/README.md and faults/README.md are what bench/results/ holds: rendered
 * by bench/tables.ts from the run records bench/results.ts writes. Records here are written to a
 * temporary directory, never to bench/results/.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunRecords, startRecording, writeRunRecord } from '../../bench/results';
import { renderInto, renderTable, TABLE_FILES, updateTables } from '../../bench/tables';

test('every table in the READMEs matches the records in bench/results', async () => {
  expect(await updateTables({ check: true })).toEqual([]);
  for (const [kind, file] of Object.entries(TABLE_FILES)) {
    expect(readFileSync(join(__dirname, '..', '..', file), 'utf8')).toContain(`<!-- results:${kind} -->`);
  }
});

test('a written record reads back with its machine, commit and figures, and renders as a row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nksr-results-'));
  const path = writeRunRecord(
    'calico',
    startRecording(),
    { nodes: 100, baseline: 'raw', skipGuide: true, dir: '/tmp/x', ignored: { nested: 1 } },
    { baselineMs: 30_100, oursMs: 22_000, speedup: 1.37, maxParallel: 100, outcome: 'repaired' },
    { dir },
  );
  expect(path.startsWith(dir)).toBe(true);
  const [record] = readRunRecords(dir);
  expect(record).toMatchObject({
    kind: 'calico',
    options: { nodes: 100, baseline: 'raw' },
    figures: { oursMs: 22_000, outcome: 'repaired' },
  });
  expect(record!.options).not.toHaveProperty('ignored');
  expect(record!.commit).toMatch(/^[0-9a-f]{7,}$|^unknown$/);
  expect(record!.machine.cpus).toBeGreaterThan(0);
  const table = renderTable('calico', [record!]);
  const row = table.split('\n')[2]!;
  expect(row).toContain('30.1 s');
  expect(row).toContain('22.0 s');
  expect(row).toContain('1.37×');
  expect(row).toContain('repaired');
});

test('a history-size record renders the two sizes, the projections and whether they are within limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nksr-results-'));
  const figures = {
    procedure: 'logrotateSync',
    smallNodes: 40,
    largeNodes: 200,
    largeMs: 61_200,
    outcome: 'complete',
    executions: 6,
    historyEvents: 512,
    payloadBytes: 20_480,
    projectedEvents: 12_800,
    projectedPayloadBytes: 30_720,
    underEventLimit: false,
    underPayloadLimit: true,
  };
  writeRunRecord('histories', startRecording(), { nodes: 1000, sshNodes: 200 }, figures, { dir });
  writeRunRecord(
    'histories',
    startRecording(),
    { nodes: 1000, sshNodes: 200 },
    { ...figures, procedure: 'nfsLockServicesRestart', projectedEvents: 900, underEventLimit: true },
    { dir },
  );
  const rows = renderTable('histories', readRunRecords(dir)).split('\n').slice(2);
  expect(rows).toHaveLength(2);
  for (const cell of [
    'logrotateSync',
    '40 → 200',
    '61.2 s',
    'complete',
    '512',
    '20.0 KB',
    '12800',
    '30.0 KB',
  ])
    expect(rows[0]).toContain(cell);
  expect(rows[0]).toContain('no (events)');
  expect(rows[1]).toContain('nfsLockServicesRestart');
  expect(rows[1]).toMatch(/\| yes +\|/);
});

test('a README whose table is not its records is reported stale, and rewriting it makes it match', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nksr-tables-'));
  for (const file of new Set(Object.values(TABLE_FILES))) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(
      join(root, file),
      readFileSync(join(__dirname, '..', '..', file), 'utf8').replace(
        /<!-- results:faults -->[\s\S]*?<!-- \/results:faults -->/,
        '<!-- results:faults -->\n\n| typed | by hand |\n| --- | --- |\n| 1 | 2 |\n\n<!-- /results:faults -->',
      ),
    );
  }
  const records = readRunRecords(join(__dirname, '..', '..', 'bench', 'results'));
  expect(await updateTables({ check: true, records, root })).toEqual(['faults/README.md']);
  expect(await updateTables({ check: false, records, root })).toEqual(['faults/README.md']);
  expect(await updateTables({ check: true, records, root })).toEqual([]);
  expect(readFileSync(join(root, 'faults/README.md'), 'utf8')).not.toContain('typed | by hand');
});

test('a file in the results directory that is not a record is refused, naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nksr-results-'));
  writeFileSync(join(dir, 'calico-bad.json'), JSON.stringify({ kind: 'calico', figures: {} }));
  expect(() => readRunRecords(dir)).toThrow(/calico-bad\.json is not a run record/);
  expect(() => renderInto('<!-- results:nosuch -->\n\n<!-- /results:nosuch -->', [])).toThrow(
    'no table for records of kind "nosuch"',
  );
});
