/**
 * Worker configuration, all from the environment so the same build runs on a laptop, in
 * docker-compose and in a cluster. The Temporal connection follows Temporal's own environment
 * configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE
 * and the TOML config file), read by @temporalio/envconfig.
 */
import { resolve } from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { TASK_QUEUE } from '../common/procedures';

export interface WorkerConfig {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
  taskQueue: string;
  clustersFile: string;
  /** 0 turns the Prometheus endpoint off. */
  metricsPort: number;
  metricsHost: string;
  /** A prebuilt workflow bundle (see bundle-workflows.ts); bundled at start when unset. */
  workflowBundlePath?: string;
  shutdownGraceTime: string;
  /** Worker Versioning: set together (NKSR_DEPLOYMENT_NAME, NKSR_BUILD_ID) or not at all. */
  deployment?: WorkerDeployment;
}

export interface WorkerDeployment {
  deploymentName: string;
  buildId: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`${name}=${raw}: expected a port number (0 turns it off)`);
  }
  return value;
}

/** Temporal connection settings from envconfig; shared by the worker and the client. */
export function temporalConnectConfig(env: NodeJS.ProcessEnv = process.env): {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
} {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: env as Record<string, string>,
  });
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address ?? 'localhost:7233' },
    namespace: namespace ?? 'default',
  };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const { connectionOptions, namespace } = temporalConnectConfig(env);
  return {
    connectionOptions,
    namespace,
    taskQueue: env.NKSR_TASK_QUEUE || TASK_QUEUE,
    clustersFile: resolve(env.NKSR_CLUSTERS_FILE || 'clusters.yaml'),
    metricsPort: port(env, 'NKSR_METRICS_PORT', 9464),
    metricsHost: env.NKSR_METRICS_HOST || '0.0.0.0',
    workflowBundlePath: env.NKSR_WORKFLOW_BUNDLE || undefined,
    shutdownGraceTime: env.NKSR_SHUTDOWN_GRACE_TIME || '30s',
    deployment: workerDeployment(env),
  };
}

const DEPLOYMENT_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function workerDeployment(env: NodeJS.ProcessEnv): WorkerDeployment | undefined {
  const deploymentName = env.NKSR_DEPLOYMENT_NAME || '';
  const buildId = env.NKSR_BUILD_ID || '';
  if (!deploymentName && !buildId) return undefined;
  if (!deploymentName || !buildId) {
    throw new ConfigError(
      'NKSR_DEPLOYMENT_NAME and NKSR_BUILD_ID are set together (Worker Versioning) or not at all',
    );
  }
  for (const [name, value] of [
    ['NKSR_DEPLOYMENT_NAME', deploymentName],
    ['NKSR_BUILD_ID', buildId],
  ] as const) {
    if (!DEPLOYMENT_PART.test(value)) {
      throw new ConfigError(`${name}=${value}: expected letters, digits, '.', '_' or '-' (at most 100)`);
    }
  }
  return { deploymentName, buildId };
}
