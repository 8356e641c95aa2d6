/**
 * Builds the nks-remediation Worker. Shared by the worker entry point (main.ts), `npm start` and the
 * integration tests, so all three register the same workflows and activities.
 */
import { resolve } from 'node:path';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { ClusterRegistry } from '../activities/deps';

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
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundlePath
      ? { workflowBundle: { codePath: resolve(opts.workflowBundlePath) } }
      : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ registry: opts.registry }),
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}
