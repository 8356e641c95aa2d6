/**
 * Builds the nks-remediation Worker. Shared by the worker entry point (main.ts), `npm start` and the
 * integration tests, so all three register the same workflows and activities.
 */
import { resolve } from 'node:path';
import {
  DefaultLogger,
  type NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import type { ActivityTestHooks, ClusterRegistry } from '../activities/deps';
import type { WorkerDeployment } from './config';
import { procedureGate } from './procedure-gate';

/** Under tsx this resolves to src/workflows/index.ts, in a build to dist/src/workflows/index.js. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  registry: ClusterRegistry;
  /** A prebuilt bundle (bundle-workflows.ts) skips webpack at start-up. */
  workflowBundlePath?: string;
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  identity?: string;
  /**
   * Worker Versioning: every workflow is pinned to the build that started it, so a new build can
   * change workflow code without breaking runs in flight (a rolling reboot waiting for approval
   * finishes on its own build, which drains and is retired after).
   */
  deployment?: WorkerDeployment;
  /** Extra workflow interceptor modules (tests build a second, incompatible build with one). */
  workflowInterceptorModules?: string[];
  /** Integration tests only (see ActivityTestHooks); the worker's entry point never sets it. */
  testHooks?: ActivityTestHooks;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundlePath
      ? { workflowBundle: { codePath: resolve(opts.workflowBundlePath) } }
      : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ registry: opts.registry, testHooks: opts.testHooks }),
    interceptors: {
      activity: [procedureGate(opts.registry)],
      ...(opts.workflowInterceptorModules ? { workflowModules: opts.workflowInterceptorModules } : {}),
    },
    ...(opts.deployment
      ? {
          workerDeploymentOptions: {
            useWorkerVersioning: true,
            version: opts.deployment,
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }
      : {}),
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface RuntimeOptions {
  /** SDK metrics on a Prometheus endpoint at metricsHost:metricsPort; 0 turns it off. */
  metricsPort: number;
  metricsHost: string;
  logLevel: LogLevel;
  /** Signals on which the SDK drains workers itself; [] when the caller handles them (npm start). */
  shutdownSignals?: NodeJS.Signals[];
}

/** Runtime.install may run once per process, before any connection is made. */
export function installRuntime(opts: RuntimeOptions): void {
  Runtime.install({
    logger: new DefaultLogger(opts.logLevel),
    shutdownSignals: opts.shutdownSignals ?? ['SIGINT', 'SIGTERM'],
    telemetryOptions:
      opts.metricsPort > 0
        ? { metrics: { prometheus: { bindAddress: `${opts.metricsHost}:${opts.metricsPort}` } } }
        : undefined,
  });
}
