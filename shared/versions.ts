/**
 * Worker Versioning operations on the shared deployment's worker deployment, as an operator: make a
 * build current (new runs start on it), read whether an old build has drained (no open run pinned
 * to it), and delete a retired build's version once its workers are gone.
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { sleep } from '../sim/process';

const Drainage = temporal.api.enums.v1.VersionDrainageStatus;

export interface VersionRef {
  namespace: string;
  deploymentName: string;
  buildId: string;
}

/** Retries while the version is not yet known to the server (its workers have not polled yet). */
export async function setCurrentBuild(
  connection: Connection,
  v: VersionRef,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: v.namespace,
        deploymentName: v.deploymentName,
        buildId: v.buildId,
        identity: 'nksr-shared',
      });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

export async function currentBuild(
  connection: Connection,
  namespace: string,
  deploymentName: string,
): Promise<string | undefined> {
  const res = await connection.workflowService.describeWorkerDeployment({ namespace, deploymentName });
  return res.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
}

export type DrainageStatus = 'draining' | 'drained' | 'unknown';

export async function drainageOf(connection: Connection, v: VersionRef): Promise<DrainageStatus> {
  const res = await connection.workflowService.describeWorkerDeploymentVersion({
    namespace: v.namespace,
    deploymentVersion: { deploymentName: v.deploymentName, buildId: v.buildId },
  });
  const status = res.workerDeploymentVersionInfo?.drainageInfo?.status;
  if (status === Drainage.VERSION_DRAINAGE_STATUS_DRAINED) return 'drained';
  if (status === Drainage.VERSION_DRAINAGE_STATUS_DRAINING) return 'draining';
  return 'unknown';
}

export async function waitForDrained(
  connection: Connection,
  v: VersionRef,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await drainageOf(connection, v);
    if (status === 'drained') return;
    if (Date.now() > deadline) {
      throw new Error(
        `build ${v.buildId} has not drained in ${timeoutMs / 1000}s (${status}): runs pinned to it are still open`,
      );
    }
    await sleep(2000);
  }
}

/** The server refuses while the version still has pollers; retried until they have gone (a minute or so). */
export async function deleteBuild(connection: Connection, v: VersionRef, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.deleteWorkerDeploymentVersion({
        namespace: v.namespace,
        deploymentVersion: { deploymentName: v.deploymentName, buildId: v.buildId },
        skipDrainage: false,
        identity: 'nksr-shared',
      });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(3000);
    }
  }
}
