import { dockerHubRateLimitDetector } from '../../../src/activities/kube/diagnosis/docker-hub';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { NODE, podNamed, recorded } from './recorded';

describe('Docker Hub rate-limit detector (recorded simulator objects)', () => {
  test('hub-demo pods failing with toomanyrequests → dockerHubPullSecret for that namespace', () => {
    const [f, ...rest] = runDetector(dockerHubRateLimitDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toEqual({ procedure: 'dockerHubPullSecret', input: { namespaces: ['hub-demo'] } });
    expect(f!.objects.every((o) => o.startsWith('pod hub-demo/'))).toBe(true);
    expect(f!.objects.some((o) => o.includes('quay-thing'))).toBe(false);
    expect(f!.evidence.every((e) => /toomanyrequests/.test(e.message ?? ''))).toBe(true);
    expect(f!.evidence.map((e) => e.image)).toContain('docker.io/library/redis:7-hub');
  });

  test('the same toomanyrequests from quay.io is not Docker Hub; calico on docker.io (not found) neither', () => {
    const s = recorded('faults');
    s.pods = s.pods.filter(
      (p) => p.metadata?.namespace !== 'hub-demo' || p.metadata?.name?.startsWith('quay-thing'),
    );
    expect(runDetector(dockerHubRateLimitDetector, s).findings).toEqual([]);
  });

  test('a Docker Hub pod failing for another reason (manifest unknown) is not a rate limit', () => {
    const s = recorded('faults');
    const shop = podNamed(s.pods, 'shop-');
    s.pods = [shop];
    const w = shop.status!.containerStatuses![0]!.state!.waiting!;
    w.message = 'failed to pull and unpack image "docker.io/library/nginx:1.25-hub": not found';
    expect(runDetector(dockerHubRateLimitDetector, s).findings).toEqual([]);
    expect(shop.spec?.nodeName).toMatch(new RegExp(`^${NODE(0).slice(0, -1)}`));
  });

  test('nothing failing on the fresh simulator', () => {
    expect(runDetector(dockerHubRateLimitDetector, recorded('fresh')).findings).toEqual([]);
  });
});
