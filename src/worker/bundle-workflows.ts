/**
 * Bundles the workflow code once (webpack), so a deployed worker starts without bundling:
 *   node dist/src/worker/bundle-workflows.js dist/workflow-bundle.js
 * then run the worker with NKSR_WORKFLOW_BUNDLE=dist/workflow-bundle.js.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './worker';

export async function bundleWorkflowsTo(outFile: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger('WARN'),
  });
  const target = resolve(outFile);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, code);
  return target;
}

if (require.main === module) {
  const out = process.argv[2] ?? 'dist/workflow-bundle.js';
  bundleWorkflowsTo(out).then(
    (file) => console.log(`workflow bundle written to ${file}`),
    (err: unknown) => {
      console.error(`bundling workflows failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
