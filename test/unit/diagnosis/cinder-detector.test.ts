import { cinderRescanDetector } from '../../../src/activities/kube/diagnosis/cinder';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { recorded } from './recorded';

describe('cinder rescan-on-resize detector (recorded nodes, kubelet 1.34)', () => {
  const withConfig = (rescanOnResize: 'absent' | 'true' | 'false' | 'not-a-boolean' | 'unparsable') => {
    const s = recorded('fresh');
    s.cinderConfig = { found: true, rescanOnResize };
    return runDetector(cinderRescanDetector, s);
  };

  test('absent (as the simulator starts) → a latent risk, cinderRescanOnResize', () => {
    const [f] = withConfig('absent').findings;
    expect(f).toMatchObject({ severity: 'latent', fix: { procedure: 'cinderRescanOnResize', input: {} } });
    expect(f!.evidence).toEqual([
      { object: 'secret kube-system/cinder-csi-cloud-config', reason: 'rescan-on-resize=absent' },
    ]);
  });

  test('false too; true is fine', () => {
    expect(withConfig('false').findings[0]!.fix?.procedure).toBe('cinderRescanOnResize');
    expect(withConfig('true').findings).toEqual([]);
  });

  test('an unparsable INI is reported without a fix (the procedure refuses it)', () => {
    const [f] = withConfig('unparsable').findings;
    expect(f!.fix).toBeUndefined();
  });

  test('no secret: no cinder driver, nothing to check; kubelet < 1.20: not affected', () => {
    const s = recorded('fresh');
    s.cinderConfig = { found: false };
    expect(runDetector(cinderRescanDetector, s)).toMatchObject({ status: 'checked', findings: [] });
    const old = recorded('fresh');
    old.cinderConfig = { found: true, rescanOnResize: 'absent' };
    for (const n of old.nodes) n.status!.nodeInfo!.kubeletVersion = 'v1.19.16';
    expect(runDetector(cinderRescanDetector, old).findings).toEqual([]);
  });

  test('the secret forbidden: skipped with the reason', () => {
    const s = recorded('fresh');
    delete (s as { cinderConfig?: unknown }).cinderConfig;
    s.unreadable.cinderConfig = 'KubeForbidden: secrets "cinder-csi-cloud-config" is forbidden';
    expect(runDetector(cinderRescanDetector, s)).toMatchObject({ status: 'skipped' });
  });
});
