/**
 * Every recorded history under test/replay/histories/ must replay against today's workflow code: a
 * change that would break running or recorded workflows fails here (it needs patched()). Record new
 * ones with test/replay/record-history.ts. No server needed, so this runs with the unit tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { PROCEDURE_LIST } from '../../src/common/procedures';
import { recordedWorkflowIds } from '../replay/recorded';

jest.setTimeout(120_000);

const dir = join(__dirname, '..', 'replay', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
// The workflow ID each was recorded under (child workflow IDs are made from it); else its file name.
const recordedIds = recordedWorkflowIds();

test('recorded histories exist, at least one per registered procedure', () => {
  const types = new Set(files.map((f) => f.split('-')[0]));
  expect(PROCEDURE_LIST.map((p) => p.workflowType).filter((t) => !types.has(t))).toEqual([]);
});

test(`replays ${files.length} recorded histories without non-determinism`, async () => {
  const histories = files.map((f) => ({
    workflowId: recordedIds[f.replace(/\.json$/, '')] ?? f.replace(/\.json$/, ''),
    history: JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown,
  }));
  const results = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: require.resolve('../../src/workflows') },
    histories,
  )) {
    results.push(result);
  }
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error?.message }))).toEqual(
    histories.map((h) => ({ workflowId: h.workflowId, error: undefined })),
  );
});
