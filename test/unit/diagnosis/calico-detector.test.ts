import { calicoDetector } from '../../../src/activities/kube/diagnosis/calico';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { podNamed, recorded } from './recorded';

describe('calico detector (recorded simulator objects)', () => {
  test('the simulator as it starts: typha and kube-controllers in ImagePullBackOff, calico-node 0/1 → calicoImageRepair', () => {
    const r = runDetector(calicoDetector, recorded('fresh'));
    expect(r.status).toBe('checked');
    expect(r.findings).toHaveLength(1);
    const f = r.findings[0]!;
    expect(f.severity).toBe('critical');
    expect(f.fix).toEqual({ procedure: 'calicoImageRepair', input: {} });
    const pulls = f.evidence.filter((e) => e.reason === 'ImagePullBackOff' || e.reason === 'ErrImagePull');
    expect(pulls.map((e) => e.image).sort()).toEqual([
      'docker.io/nhn-broken/calico/kube-controllers:v3.24.1',
      'docker.io/nhn-broken/calico/typha:v3.24.1',
    ]);
    expect(pulls.every((e) => /not found/.test(e.message ?? ''))).toBe(true);
    const notReady = f.evidence.filter((e) => e.reason === 'NotReady');
    expect(notReady).toHaveLength(5);
    expect(notReady.every((e) => e.status === 'Running 0/1')).toBe(true);
    expect(f.nodes).toHaveLength(5);
  });

  test('typha and kube-controllers running: nothing found', () => {
    const s = recorded('fresh');
    s.pods = s.pods.filter(
      (p) => !['calico-typha', 'calico-kube-controllers'].includes(p.metadata?.labels?.['k8s-app'] ?? ''),
    );
    expect(runDetector(calicoDetector, s).findings).toEqual([]);
  });

  test('failing although already on docker.io/calico: reported without the repair (it would change nothing)', () => {
    const s = recorded('fresh');
    for (const name of ['calico-typha', 'calico-kube-controllers']) {
      const p = podNamed(s.pods, name);
      for (const c of p.spec!.containers) c.image = c.image!.replace('nhn-broken/', '');
    }
    const [f] = runDetector(calicoDetector, s).findings;
    expect(f!.fix).toBeUndefined();
    expect(f!.note).toMatch(/already the repair's target/);
  });

  test('pods unreadable: skipped with the reason, not healthy', () => {
    const s = recorded('fresh');
    delete (s as { pods?: unknown }).pods;
    s.unreadable.pods = 'KubeForbidden: pods is forbidden';
    const r = runDetector(calicoDetector, s);
    expect(r).toMatchObject({ status: 'skipped', findings: [] });
    expect(r.detail).toMatch(/pods: KubeForbidden/);
  });
});
