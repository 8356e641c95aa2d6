/**
 * Records a workflow's history for the replay test:
 *   TEMPORAL_ADDRESS=... npx tsx test/replay/record-history.ts <workflowId> <name>
 * writes test/replay/histories/<name>.json and the workflow ID in test/replay/workflow-ids.json. Record after a change to workflow code is released, so
 * CI proves new code still replays old histories (or that the change is behind patched()).
 */
import { createNksClient } from '../../src/client/sdk';
import { writeRecordedHistory } from './recorded';

async function main(): Promise<void> {
  const [workflowId, name] = process.argv.slice(2);
  if (!workflowId || !name) throw new Error('usage: record-history.ts <workflowId> <name>');
  const client = await createNksClient();
  try {
    const history = await client.handle(workflowId).fetchHistory();
    const file = writeRecordedHistory(name, workflowId, history);
    console.log(`wrote ${file} (${history.events?.length ?? 0} events)`);
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
