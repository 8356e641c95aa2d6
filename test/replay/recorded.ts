/**
 * Where recorded histories live: test/replay/histories/<name>.json, and in workflow-ids.json the
 * workflow ID each was recorded under (the replay runs it under that ID: child workflow IDs are made
 * from it).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, 'histories');
const IDS_FILE = join(__dirname, 'workflow-ids.json');

/** The recorded workflow IDs by history name. */
export function recordedWorkflowIds(): Record<string, string> {
  return existsSync(IDS_FILE) ? (JSON.parse(readFileSync(IDS_FILE, 'utf8')) as Record<string, string>) : {};
}

/** Writes a history and its workflow ID; returns the history's file. */
export function writeRecordedHistory(
  name: string,
  workflowId: string,
  history: temporal.api.history.v1.IHistory,
): string {
  const file = join(HISTORIES_DIR, `${name}.json`);
  writeFileSync(file, `${historyToJSON(history)}\n`);
  const ids = { ...recordedWorkflowIds(), [name]: workflowId };
  const sorted = Object.fromEntries(Object.entries(ids).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(IDS_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
  return file;
}
