import { ghcrDetector } from '../../../src/activities/kube/diagnosis/ghcr';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { recorded } from './recorded';

describe('ghcr detector (recorded simulator objects)', () => {
  test('a Deployment on docker.pkg.github.com → ghcrMigration for its namespace', () => {
    const [f, ...rest] = runDetector(ghcrDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.objects).toEqual(['deployment diag-ghcr/web']);
    expect(f!.fix).toEqual({ procedure: 'ghcrMigration', input: { namespaces: ['diag-ghcr'] } });
    expect(f!.evidence[0]!.image).toBe('docker.pkg.github.com/acme/shop/web:1.2.3');
    // Its pods run (the image was cached): a warning, not an outage.
    expect(f!.severity).toBe('warning');
  });

  test('a bare pod on the old host is reported apart, with no procedure', () => {
    const s = recorded('faults');
    const web = s.pods.find((p) => p.metadata?.namespace === 'diag-ghcr')!;
    s.pods.push({
      ...web,
      metadata: { ...web.metadata, name: 'debug', uid: 'u-debug', ownerReferences: undefined },
    });
    const loose = runDetector(ghcrDetector, s).findings.find((f) => !f.fix)!;
    expect(loose.objects).toEqual(['pod diag-ghcr/debug']);
    expect(loose.note).toMatch(/recreate/);
  });

  test('nothing on the fresh simulator', () => {
    expect(runDetector(ghcrDetector, recorded('fresh')).findings).toEqual([]);
  });
});
