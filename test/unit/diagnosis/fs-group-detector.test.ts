import { fsGroupDetector, selects } from '../../../src/activities/kube/diagnosis/fs-group';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { recorded } from './recorded';

describe('fsGroup detector (recorded simulator objects)', () => {
  test('photo-store (fsGroup 2000) with mount timeouts → fsGroupChangePolicy on exactly that workload', () => {
    const [f, ...rest] = runDetector(fsGroupDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toEqual({
      procedure: 'fsGroupChangePolicy',
      input: { workloads: [{ kind: 'Deployment', namespace: 'media', name: 'photo-store' }] },
    });
    expect(f!.evidence).toHaveLength(2);
    expect(f!.evidence[0]!.message).toMatch(/timed out waiting for the condition .*fsGroup 2000/);
  });

  test('already OnRootMismatch: the timeout is not this cause', () => {
    const s = recorded('faults');
    const d = s.deployments.find((x) => x.metadata?.name === 'photo-store')!;
    d.spec!.template.spec!.securityContext!.fsGroupChangePolicy = 'OnRootMismatch';
    expect(runDetector(fsGroupDetector, s).findings).toEqual([]);
  });

  test('no mount timeout on the fresh simulator (photo-db sets fsGroup but shows nothing)', () => {
    expect(runDetector(fsGroupDetector, recorded('fresh')).findings).toEqual([]);
  });

  test('label selectors as kubectl reads them', () => {
    expect(selects({ matchLabels: { app: 'a' } }, { app: 'a', x: 'y' })).toBe(true);
    expect(selects({ matchLabels: { app: 'a' } }, { app: 'b' })).toBe(false);
    expect(
      selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, { tier: 'db' }),
    ).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, { tier: 'db' })).toBe(
      false,
    );
    expect(selects({}, { app: 'a' })).toBe(false);
  });
});
