/**
 * A worker for tests that kill it at an exact point: src/worker/main.ts's worker plus a test hook
 * chosen by the environment (production workers never set hooks). With
 * NKSR_TEST_HANG_AFTER_WRITE=<Kind>/<name>, right after that object's write succeeded and before
 * the activity reports it, it prints `after-write <Kind>/<name>` and hangs, so the test can SIGKILL
 * it between a patch and its recorded completion.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadWorkerConfig } from '../../src/worker/config';
import { loadClusterRegistry } from '../../src/worker/registry';
import { createWorker, installRuntime } from '../../src/worker/worker';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  installRuntime({ metricsPort: 0, metricsHost: '127.0.0.1', logLevel: 'WARN' });
  const registry = loadClusterRegistry(config.clustersFile);
  const connection = await NativeConnection.connect(config.connectionOptions);
  const hangAfter = process.env.NKSR_TEST_HANG_AFTER_WRITE;
  const worker = await createWorker({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    registry,
    workflowBundlePath: config.workflowBundlePath,
    shutdownGraceTime: '1s',
    identity: `hooked-worker-${process.pid}`,
    testHooks: {
      async afterWrite(target) {
        const what = `${target.kind}/${target.name}`;
        if (what !== hangAfter) return;
        console.log(`after-write ${what}`);
        await new Promise<never>(() => undefined);
      },
    },
  });
  console.log(`hooked worker: clusters from ${registry.source}`);
  await worker.run();
}

main().catch((err: unknown) => {
  console.error(`hooked worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
