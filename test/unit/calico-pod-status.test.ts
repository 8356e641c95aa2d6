import type { V1Pod } from '@kubernetes/client-node';
import { prePullVerdict } from '../../src/activities/kube/pod-status';
import { selectorString } from '../../src/activities/kube/workloads';

const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, status });

describe('prePullVerdict (the guide loop, as a rule)', () => {
  it('running or terminated: the image is on the node', () => {
    expect(
      prePullVerdict(
        pod({
          containerStatuses: [
            { name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
          ],
        }),
      ).state,
    ).toBe('pulled');
    expect(
      prePullVerdict(
        pod({
          containerStatuses: [
            {
              name: 'c',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 0, reason: 'Completed' } },
            },
          ],
        }),
      ).state,
    ).toBe('pulled');
  });
  it.each(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName'])(
    '%s: failed with that reason',
    (reason) => {
      expect(
        prePullVerdict(
          pod({
            containerStatuses: [
              {
                name: 'c',
                image: 'i',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: { waiting: { reason } },
              },
            ],
          }),
        ),
      ).toMatchObject({ state: 'failed', reason });
    },
  );
  it.each(['CreateContainerError', 'RunContainerError'])(
    '%s (image has no sleep): pulled all the same',
    (reason) => {
      expect(
        prePullVerdict(
          pod({
            containerStatuses: [
              {
                name: 'c',
                image: 'i',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: { waiting: { reason } },
              },
            ],
          }),
        ).state,
      ).toBe('pulled');
    },
  );
  it('ContainerCreating or no status yet: keep waiting', () => {
    expect(
      prePullVerdict(
        pod({
          containerStatuses: [
            {
              name: 'c',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: 'ContainerCreating' } },
            },
          ],
        }),
      ).state,
    ).toBe('waiting');
    expect(prePullVerdict(pod({ phase: 'Pending' })).state).toBe('waiting');
    expect(prePullVerdict(pod(undefined)).state).toBe('waiting');
  });
});

describe('selectorString', () => {
  it('renders matchLabels and matchExpressions', () => {
    expect(
      selectorString({
        matchLabels: { 'k8s-app': 'calico-typha' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'x', operator: 'Exists' },
          { key: 'y', operator: 'DoesNotExist' },
          { key: 'z', operator: 'NotIn', values: ['c'] },
        ],
      }),
    ).toBe('k8s-app=calico-typha,tier in (a,b),x,!y,z notin (c)');
    expect(selectorString(undefined)).toBe('');
  });
});
