import { nfsLockDetector } from '../../../src/activities/kube/diagnosis/nfs-lock';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { NODE, podNamed, recorded } from './recorded';

describe('NFS lock detector (recorded simulator objects)', () => {
  test('Pending pods with FailedMount "rpc.statd is not running" → nfsLockServicesRestart on their node', () => {
    const [f, ...rest] = runDetector(nfsLockDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toEqual({ procedure: 'nfsLockServicesRestart', input: { nodes: [NODE(2)] } });
    expect(f!.objects).toHaveLength(2);
    expect(
      f!.evidence.every((e) => e.reason === 'FailedMount' && /rpc\.statd is not running/.test(e.message!)),
    ).toBe(true);
    // The bare one is named: the fix recreates only controlled pods.
    expect(f!.note).toMatch(/nfs-bare-/);
  });

  test('pods that run by now (or were replaced) do not count', () => {
    const s = recorded('faults');
    podNamed(s.pods, 'nfs-bare-').status!.phase = 'Running';
    const client = podNamed(s.pods, 'nfs-client-');
    client.metadata!.uid = 'a-replacement';
    expect(runDetector(nfsLockDetector, s).findings).toEqual([]);
  });
});
