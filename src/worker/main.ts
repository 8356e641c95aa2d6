/**
 * Worker entry point: `npm run worker` (tsx) or `node dist/src/worker/main.js`.
 * Configuration: see config.ts (TEMPORAL_* via envconfig, NKSR_TASK_QUEUE, NKSR_CLUSTERS_FILE,
 * NKSR_METRICS_PORT, NKSR_WORKFLOW_BUNDLE). SIGINT/SIGTERM stop polling, let running activities
 * finish within the grace time, then exit.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { ConfigError, loadWorkerConfig, type WorkerConfig } from './config';
import { loadClusterRegistry, RegistryError } from './registry';
import { createWorker } from './worker';

/** Runtime.install may run once per process, before any connection is made. */
export function installRuntime(config: Pick<WorkerConfig, 'metricsPort' | 'metricsHost'>): void {
  Runtime.install({
    logger: new DefaultLogger((process.env.NKSR_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO'),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions:
      config.metricsPort > 0
        ? { metrics: { prometheus: { bindAddress: `${config.metricsHost}:${config.metricsPort}` } } }
        : undefined,
  });
}

export async function runWorker(config: WorkerConfig): Promise<void> {
  const registry = loadClusterRegistry(config.clustersFile);
  const connection = await NativeConnection.connect(config.connectionOptions);
  try {
    const worker = await createWorker({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      registry,
      workflowBundlePath: config.workflowBundlePath,
      shutdownGraceTime: config.shutdownGraceTime,
    });
    const metrics =
      config.metricsPort > 0 ? `, metrics on http://${config.metricsHost}:${config.metricsPort}/metrics` : '';
    console.log(
      `nksr worker: task queue ${config.taskQueue} at ${config.connectionOptions.address} (namespace ${config.namespace}); ` +
        `clusters from ${registry.source}: ${registry.names().join(', ') || 'none'}${metrics}`,
    );
    // Resolves once a shutdown signal has drained the worker.
    await worker.run();
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  installRuntime(config);
  await runWorker(config);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      // Configuration and connection problems are the operator's to fix: one clear message; the
      // stack only on request (NKSR_DEBUG=1) or for what is neither.
      const known = err instanceof RegistryError || err instanceof ConfigError || !process.env.NKSR_DEBUG;
      console.error(
        `nksr worker: ${err instanceof Error ? (known ? err.message : (err.stack ?? err.message)) : String(err)}`,
      );
      process.exit(1);
    },
  );
}
