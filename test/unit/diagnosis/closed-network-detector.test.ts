import { closedNetworkDetector } from '../../../src/activities/kube/diagnosis/closed-network';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { NODE, podNamed, recorded } from './recorded';

describe('closed-network detector (recorded simulator objects)', () => {
  test('a pod that cannot pull k8s.gcr.io/pause on node 1 → closedNetworkImageRecovery for that node and image', () => {
    const [f, ...rest] = runDetector(closedNetworkDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toEqual({
      procedure: 'closedNetworkImageRecovery',
      input: { nodes: [NODE(1)], images: ['k8s.gcr.io/pause:3.2'] },
    });
    expect(f!.evidence[0]).toMatchObject({ node: NODE(1), image: 'k8s.gcr.io/pause:3.2' });
    expect(f!.evidence[0]!.message).toMatch(/no such host/);
  });

  test('calico images (also in the default list by name) belong to the calico detector', () => {
    expect(runDetector(closedNetworkDetector, recorded('fresh')).findings).toEqual([]);
  });

  test('a default image by digest: the procedure finds it from the events instead', () => {
    const s = recorded('faults');
    const p = podNamed(s.pods, 'pause-user');
    p.spec!.containers[0]!.image = `k8s.gcr.io/pause@sha256:${'a'.repeat(64)}`;
    const [f] = runDetector(closedNetworkDetector, s).findings;
    expect(f!.fix).toEqual({ procedure: 'closedNetworkImageRecovery', input: { fromEvents: true } });
  });

  test('a quay.io tag that does not exist is not a default image', () => {
    const s = recorded('faults');
    s.pods = [podNamed(s.pods, 'ghost-')];
    expect(runDetector(closedNetworkDetector, s).findings).toEqual([]);
  });
});
