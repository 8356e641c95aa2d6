/**
 * Test-only workflow code for test/unit/audit-replay.test.ts: nodeInventory as a careless change
 * would leave it, waiting one minute before its first step without a patched() guard. Every history
 * recorded by the real nodeInventory starts with other commands, so replaying one against this code
 * must fail with a non-determinism error. Not part of the worker's workflows.
 */
import { sleep } from '@temporalio/workflow';
import type { NodeInventoryInput } from '../../../src/workflows/definitions';
import { nodeInventory as current } from '../../../src/workflows/node-inventory';

export async function nodeInventory(raw: NodeInventoryInput): ReturnType<typeof current> {
  await sleep('1 minute');
  return current(raw);
}
