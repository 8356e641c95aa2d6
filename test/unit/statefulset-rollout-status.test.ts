/** StatefulSet rollout status by kubectl's rules (kubectl/pkg/polymorphichelpers/rollout_status.go). */
import type { V1StatefulSet } from '@kubernetes/client-node';
import { statefulSetRolloutStatus } from '../../src/activities/kube/rollout-status';

function sts(over: {
  generation?: number;
  replicas?: number;
  strategy?: NonNullable<V1StatefulSet['spec']>['updateStrategy'];
  status?: NonNullable<V1StatefulSet['status']>;
}): V1StatefulSet {
  return {
    metadata: { name: 'cinder-csi-controllerplugin', generation: over.generation ?? 2 },
    spec: {
      replicas: over.replicas ?? 2,
      selector: {},
      serviceName: 'x',
      template: {},
      ...(over.strategy ? { updateStrategy: over.strategy } : {}),
    },
    status: over.status ?? { replicas: 0 },
  };
}

const waiting = (message: string) => ({ done: false, failed: false, message });

describe('statefulSetRolloutStatus (kubectl rules)', () => {
  it('refuses OnDelete', () => {
    expect(statefulSetRolloutStatus(sts({ strategy: { type: 'OnDelete' } }))).toEqual({
      done: false,
      failed: true,
      message: 'rollout status is only available for RollingUpdate strategy type',
    });
  });

  it('waits for the controller to observe the generation (0 counts as not observed)', () => {
    expect(statefulSetRolloutStatus(sts({ status: { replicas: 2, observedGeneration: 1 } }))).toEqual(
      waiting('Waiting for statefulset spec update to be observed...'),
    );
    expect(
      statefulSetRolloutStatus(sts({ generation: 0, status: { replicas: 2, observedGeneration: 0 } })),
    ).toEqual(waiting('Waiting for statefulset spec update to be observed...'));
  });

  it('waits for every replica to be ready', () => {
    expect(
      statefulSetRolloutStatus(sts({ status: { replicas: 2, observedGeneration: 2, readyReplicas: 1 } })),
    ).toEqual(waiting('Waiting for 1 pods to be ready...'));
  });

  it('partitioned: only the replicas at or above the partition must be updated', () => {
    const strategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
    const base = { replicas: 2, observedGeneration: 2, readyReplicas: 2 };
    expect(statefulSetRolloutStatus(sts({ strategy, status: { ...base, updatedReplicas: 0 } }))).toEqual(
      waiting('Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...'),
    );
    expect(statefulSetRolloutStatus(sts({ strategy, status: { ...base, updatedReplicas: 1 } }))).toEqual({
      done: true,
      failed: false,
      message: 'partitioned roll out complete: 1 new pods have been updated...',
    });
  });

  it('waits until the update revision is the current one, then is complete', () => {
    const base = {
      replicas: 2,
      observedGeneration: 2,
      readyReplicas: 2,
      updatedReplicas: 1,
      currentReplicas: 1,
    };
    expect(
      statefulSetRolloutStatus(sts({ status: { ...base, currentRevision: 'r-1', updateRevision: 'r-2' } })),
    ).toEqual(waiting('waiting for statefulset rolling update to complete 1 pods at revision r-2...'));
    expect(
      statefulSetRolloutStatus(
        sts({ status: { ...base, currentReplicas: 2, currentRevision: 'r-2', updateRevision: 'r-2' } }),
      ),
    ).toEqual({
      done: true,
      failed: false,
      message: 'statefulset rolling update complete 2 pods at revision r-2...',
    });
  });
});
