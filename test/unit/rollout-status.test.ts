import type { V1DaemonSet, V1Deployment } from '@kubernetes/client-node';
import { daemonSetRolloutStatus, deploymentRolloutStatus } from '../../src/activities/kube/rollout-status';

function deployment(over: {
  generation?: number;
  replicas?: number;
  status?: NonNullable<V1Deployment['status']>;
}): V1Deployment {
  return {
    metadata: { name: 'calico-typha', generation: over.generation ?? 2 },
    spec: { replicas: over.replicas ?? 2, selector: {}, template: {} },
    status: over.status ?? {},
  };
}

describe('deploymentRolloutStatus (kubectl rules)', () => {
  it('waits until the controller observed the new generation', () => {
    const s = deploymentRolloutStatus(
      deployment({
        generation: 3,
        status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
      }),
    );
    expect(s).toEqual({
      done: false,
      failed: false,
      message: 'Waiting for deployment spec update to be observed...',
    });
  });

  it('fails on ProgressDeadlineExceeded', () => {
    const s = deploymentRolloutStatus(
      deployment({
        status: {
          observedGeneration: 2,
          replicas: 3,
          updatedReplicas: 1,
          conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
        },
      }),
    );
    expect(s.failed).toBe(true);
    expect(s.message).toContain('exceeded its progress deadline');
  });

  it('ignores a Progressing condition with another reason', () => {
    const s = deploymentRolloutStatus(
      deployment({
        status: {
          observedGeneration: 2,
          replicas: 2,
          updatedReplicas: 2,
          availableReplicas: 2,
          conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
        },
      }),
    );
    expect(s).toMatchObject({ done: true, failed: false });
  });

  it('waits for updated replicas, then old ones to terminate, then availability', () => {
    expect(
      deploymentRolloutStatus(
        deployment({ status: { observedGeneration: 2, replicas: 3, updatedReplicas: 1 } }),
      ).message,
    ).toContain('1 out of 2 new replicas have been updated');
    expect(
      deploymentRolloutStatus(
        deployment({
          status: { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 },
        }),
      ).message,
    ).toContain('1 old replicas are pending termination');
    expect(
      deploymentRolloutStatus(
        deployment({
          status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 },
        }),
      ).message,
    ).toContain('1 of 2 updated replicas are available');
  });

  it('is done when all replicas are updated and available', () => {
    expect(
      deploymentRolloutStatus(
        deployment({
          status: { observedGeneration: 5, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
        }),
      ),
    ).toEqual({ done: true, failed: false, message: 'deployment "calico-typha" successfully rolled out' });
  });

  it('treats a missing status as not observed yet', () => {
    expect(deploymentRolloutStatus({ metadata: { name: 'x', generation: 1 } }).done).toBe(false);
  });
});

function daemonSet(over: {
  strategy?: string;
  generation?: number;
  status?: V1DaemonSet['status'];
}): V1DaemonSet {
  return {
    metadata: { name: 'calico-node', generation: over.generation ?? 4 },
    spec: { selector: {}, template: {}, updateStrategy: { type: over.strategy ?? 'RollingUpdate' } },
    status: over.status,
  };
}
const dsStatus = (s: Partial<NonNullable<V1DaemonSet['status']>>): NonNullable<V1DaemonSet['status']> => ({
  currentNumberScheduled: 5,
  desiredNumberScheduled: 5,
  numberMisscheduled: 0,
  numberReady: 5,
  observedGeneration: 4,
  ...s,
});

describe('daemonSetRolloutStatus (kubectl rules)', () => {
  it('refuses OnDelete like kubectl', () => {
    const s = daemonSetRolloutStatus(daemonSet({ strategy: 'OnDelete', status: dsStatus({}) }));
    expect(s.failed).toBe(true);
  });
  it('waits for the generation to be observed', () => {
    expect(
      daemonSetRolloutStatus(
        daemonSet({ generation: 5, status: dsStatus({ updatedNumberScheduled: 5, numberAvailable: 5 }) }),
      ).done,
    ).toBe(false);
  });
  it('waits for updated pods, then available pods', () => {
    expect(
      daemonSetRolloutStatus(
        daemonSet({ status: dsStatus({ updatedNumberScheduled: 3, numberAvailable: 5 }) }),
      ).message,
    ).toContain('3 out of 5 new pods have been updated');
    expect(
      daemonSetRolloutStatus(
        daemonSet({ status: dsStatus({ updatedNumberScheduled: 5, numberAvailable: 4 }) }),
      ).message,
    ).toContain('4 of 5 updated pods are available');
  });
  it('is done when every desired pod is updated and available', () => {
    expect(
      daemonSetRolloutStatus(
        daemonSet({ status: dsStatus({ updatedNumberScheduled: 5, numberAvailable: 5 }) }),
      ),
    ).toEqual({
      done: true,
      failed: false,
      message: 'daemon set "calico-node" successfully rolled out',
    });
  });
  it('an empty status is not done', () => {
    expect(daemonSetRolloutStatus(daemonSet({})).done).toBe(false);
  });
});
