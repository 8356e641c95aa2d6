/**
 * Worker entry point: `npm run worker` (tsx) or `node dist/src/worker/main.js`.
 * Configuration: see config.ts (TEMPORAL_* via envconfig, NKSR_TASK_QUEUE, NKSR_CLUSTERS_FILE,
 * NKSR_METRICS_PORT, NKSR_WORKFLOW_BUNDLE). SIGINT/SIGTERM stop polling, let running activities
 * finish within the grace time, then exit.
 */
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadWorkerConfig, type WorkerConfig } from './config';
import { loadClusterRegistry, RegistryError } from './registry';
import { describeServedProcedures } from './served-procedures';
import { createWorker, installRuntime, type LogLevel } from './worker';

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
      deployment: config.deployment,
    });
    const metrics =
      config.metricsPort > 0 ? `, metrics on http://${config.metricsHost}:${config.metricsPort}/metrics` : '';
    const build = config.deployment
      ? `; build ${config.deployment.buildId} of deployment ${config.deployment.deploymentName}`
      : '';
    console.log(
      `nksr worker: task queue ${config.taskQueue} at ${config.connectionOptions.address} (namespace ${config.namespace}); ` +
        `clusters from ${registry.source}: ${registry.names().join(', ') || 'none'}${build}${metrics}`,
    );
    for (const line of describeServedProcedures(registry)) console.log(`nksr worker: ${line}`);
    // Resolves once a shutdown signal has drained the worker.
    await worker.run();
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  installRuntime({
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    logLevel: (process.env.NKSR_LOG_LEVEL as LogLevel | undefined) ?? 'INFO',
  });
  await runWorker(config);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      // Configuration and connection problems are the operator's to fix: one clear message. A stack
      // only on request (NKSR_DEBUG=1), and never for a registry or configuration error.
      const known = err instanceof RegistryError || err instanceof ConfigError || !process.env.NKSR_DEBUG;
      console.error(
        `nksr worker: ${err instanceof Error ? (known ? err.message : (err.stack ?? err.message)) : String(err)}`,
      );
      process.exit(1);
    },
  );
}
