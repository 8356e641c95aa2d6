/**
 * "Is this rollout complete?" by kubectl's own rules (kubectl/pkg/polymorphichelpers/rollout_status.go),
 * as pure functions over the objects the API returns, so they are unit-tested on fixtures and the
 * wait activity only fetches and asks.
 */
import type { V1DaemonSet, V1Deployment, V1Pod, V1PodSpec, V1StatefulSet } from '@kubernetes/client-node';

export interface RolloutStatus {
  /** The rollout finished successfully. */
  done: boolean;
  /** The rollout can no longer finish by waiting (kubectl exits non-zero on these). */
  failed: boolean;
  /** kubectl's wording, so operators recognise it. */
  message: string;
}

const waiting = (message: string): RolloutStatus => ({ done: false, failed: false, message });

/**
 * Deployment: the controller must have observed the latest generation; a Progressing condition with
 * reason ProgressDeadlineExceeded is a failure; then all replicas updated, no old replica left, all
 * updated replicas available.
 */
export function deploymentRolloutStatus(deployment: V1Deployment): RolloutStatus {
  const name = deployment.metadata?.name ?? '';
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  if (generation > (status.observedGeneration ?? 0)) {
    return waiting('Waiting for deployment spec update to be observed...');
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
  }
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const desired = deployment.spec?.replicas;
  if (desired !== undefined && updated < desired) {
    return waiting(
      `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${desired} new replicas have been updated...`,
    );
  }
  if (replicas > updated) {
    return waiting(
      `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...`,
    );
  }
  if (available < updated) {
    return waiting(
      `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...`,
    );
  }
  return { done: true, failed: false, message: `deployment "${name}" successfully rolled out` };
}

/**
 * DaemonSet: only RollingUpdate has a rollout status (kubectl refuses OnDelete); the controller must
 * have observed the latest generation; then every desired pod updated and available.
 */
export function daemonSetRolloutStatus(daemonSet: V1DaemonSet): RolloutStatus {
  const name = daemonSet.metadata?.name ?? '';
  const strategy = daemonSet.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (strategy !== 'RollingUpdate') {
    return {
      done: false,
      failed: true,
      message: `rollout status is only available for RollingUpdate strategy type`,
    };
  }
  const generation = daemonSet.metadata?.generation ?? 0;
  const status = daemonSet.status;
  if (!status || generation > (status.observedGeneration ?? 0)) {
    return waiting('Waiting for daemon set spec update to be observed...');
  }
  const desired = status.desiredNumberScheduled ?? 0;
  const updated = status.updatedNumberScheduled ?? 0;
  const available = status.numberAvailable ?? 0;
  if (updated < desired) {
    return waiting(
      `Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`,
    );
  }
  if (available < desired) {
    return waiting(
      `Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...`,
    );
  }
  return { done: true, failed: false, message: `daemon set "${name}" successfully rolled out` };
}

const imagesOf = (spec: V1PodSpec | undefined): string =>
  JSON.stringify([
    ...(spec?.initContainers ?? []).map((c) => [c.name, c.image]),
    ...(spec?.containers ?? []).map((c) => [c.name, c.image]),
  ]);

/**
 * DaemonSet, judged on the given nodes only (calicoImageRepair with skipNotReadyNodes): the
 * DaemonSet still targets a NotReady node, whose pod cannot become available, so kubectl's counts
 * would never complete. Complete when the controller observed the latest generation and each given
 * node runs one pod of this DaemonSet (by owner UID) on the template's images that is Ready.
 */
export function daemonSetRolloutStatusOnNodes(
  daemonSet: V1DaemonSet,
  pods: V1Pod[],
  nodes: string[],
): RolloutStatus {
  const whole = daemonSetRolloutStatus(daemonSet);
  if (whole.failed || whole.message.startsWith('Waiting for daemon set spec update')) return whole;
  const name = daemonSet.metadata?.name ?? '';
  const uid = daemonSet.metadata?.uid;
  const want = imagesOf(daemonSet.spec?.template?.spec);
  const ours = pods.filter(
    (p) => !p.metadata?.deletionTimestamp && p.metadata?.ownerReferences?.some((o) => o.uid === uid),
  );
  let updated = 0;
  let available = 0;
  for (const node of nodes) {
    const onNode = ours.filter((p) => p.spec?.nodeName === node && imagesOf(p.spec) === want);
    if (onNode.length === 0) continue;
    updated++;
    if (onNode.some((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')))
      available++;
  }
  const scope = `on the ${nodes.length} nodes it waits for`;
  if (updated < nodes.length) {
    return waiting(
      `Waiting for daemon set "${name}" rollout to finish ${scope}: ${updated} out of ${nodes.length} new pods have been updated...`,
    );
  }
  if (available < nodes.length) {
    return waiting(
      `Waiting for daemon set "${name}" rollout to finish ${scope}: ${available} of ${nodes.length} updated pods are available...`,
    );
  }
  return { done: true, failed: false, message: `daemon set "${name}" successfully rolled out ${scope}` };
}

/**
 * StatefulSet: only RollingUpdate has a rollout status; the controller must have observed the latest
 * generation; every desired replica Ready; with a partition, only the replicas at or above it must be
 * updated; otherwise the update revision must have become the current one.
 */
export function statefulSetRolloutStatus(sts: V1StatefulSet): RolloutStatus {
  const strategy = sts.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (strategy !== 'RollingUpdate') {
    return {
      done: false,
      failed: true,
      message: 'rollout status is only available for RollingUpdate strategy type',
    };
  }
  const generation = sts.metadata?.generation ?? 0;
  const status = sts.status;
  if (!status || !status.observedGeneration || generation > status.observedGeneration) {
    return waiting('Waiting for statefulset spec update to be observed...');
  }
  const replicas = sts.spec?.replicas;
  const ready = status.readyReplicas ?? 0;
  if (replicas !== undefined && ready < replicas) {
    return waiting(`Waiting for ${replicas - ready} pods to be ready...`);
  }
  const partition = sts.spec?.updateStrategy?.rollingUpdate?.partition;
  const updated = status.updatedReplicas ?? 0;
  if (replicas !== undefined && partition !== undefined && partition > 0) {
    if (updated < replicas - partition) {
      return waiting(
        `Waiting for partitioned roll out to finish: ${updated} out of ${replicas - partition} new pods have been updated...`,
      );
    }
    return {
      done: true,
      failed: false,
      message: `partitioned roll out complete: ${updated} new pods have been updated...`,
    };
  }
  if (status.updateRevision !== status.currentRevision) {
    return waiting(
      `waiting for statefulset rolling update to complete ${updated} pods at revision ${status.updateRevision ?? ''}...`,
    );
  }
  return {
    done: true,
    failed: false,
    message: `statefulset rolling update complete ${status.currentReplicas ?? 0} pods at revision ${status.currentRevision ?? ''}...`,
  };
}
