import { unexplainedPullFailuresDetector } from '../../../src/activities/kube/diagnosis/unexplained-pull-failures';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { recorded } from './recorded';

describe('unexplained pull failures (recorded simulator objects)', () => {
  test('a non-existent tag on quay.io, and quay.io answering toomanyrequests: unknown cause, no procedure', () => {
    const r = runDetector(unexplainedPullFailuresDetector, recorded('faults'));
    expect(r.findings).toHaveLength(1);
    const f = r.findings[0]!;
    expect(f.fix).toBeUndefined();
    expect(f.title).toMatch(/unknown cause/);
    expect(f.objects.map((o) => o.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''))).toEqual([
      'pod diag-unknown/ghost',
      'pod hub-demo/quay-thing',
    ]);
    expect(f.evidence.find((e) => e.image === 'quay.io/acme/app:no-such-tag')!.message).toMatch(/not found/);
    // Calico, Docker Hub rate limit and pause are explained by their own detectors.
    expect(r.detail).toMatch(/9 containers failing to pull, 7 explained/);
  });

  test('fresh simulator: both calico pull failures are explained', () => {
    expect(runDetector(unexplainedPullFailuresDetector, recorded('fresh')).findings).toEqual([]);
  });
});
