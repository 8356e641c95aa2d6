import { formatResult } from '../../../src/client/cli/format';
import { DETECTOR_NAMES } from '../../../src/common/diagnosis/types';
import type { ClusterDiagnosisResult } from '../../../src/common/procedures/cluster-diagnosis';

const detectors = (skip: Partial<Record<string, string>> = {}, found: Partial<Record<string, number>> = {}) =>
  DETECTOR_NAMES.map((detector) => ({
    detector,
    status: skip[detector] ? ('skipped' as const) : ('checked' as const),
    detail: skip[detector] ?? `looked at ${detector}`,
    findings: found[detector] ?? 0,
  }));

describe('the human report of clusterDiagnosis', () => {
  test('healthy: the summary and every detector with what it checked', () => {
    const text = formatResult('clusterDiagnosis', {
      cluster: 'prod',
      outcome: 'healthy',
      summary: '10 detectors found nothing (...)',
      detectors: detectors(),
      findings: [],
      plan: [],
    } satisfies ClusterDiagnosisResult);
    expect(text.split('\n')[0]).toBe('healthy: 10 detectors found nothing (...)');
    for (const d of DETECTOR_NAMES)
      expect(text).toMatch(new RegExp(`^${d} +checked +0 +looked at ${d}$`, 'm'));
    expect(text).not.toMatch(/findings \(|next:/);
  });

  test('findings: severity, what, affected, the fix with its input, the evidence, and the commands to run', () => {
    const text = formatResult('clusterDiagnosis', {
      cluster: 'prod',
      outcome: 'findings',
      summary: '1 finding(s) (1 critical); 1 procedure(s) proposed: nfsLockServicesRestart',
      detectors: detectors({ logrotate: 'no ssh settings' }, { nfsLock: 1 }),
      findings: [
        {
          detector: 'nfsLock',
          severity: 'critical',
          title: 'NFS mounts fail on 1 node(s): rpc.statd is not running',
          nodes: ['w-3'],
          objects: ['pod shop/web-1'],
          evidence: [
            {
              object: 'pod shop/web-1',
              node: 'w-3',
              reason: 'FailedMount',
              status: 'Pending 0/1',
              message: 'rpc.statd is not running but is required for remote locking',
            },
          ],
          fix: { procedure: 'nfsLockServicesRestart', input: { nodes: ['w-3'] } },
        },
      ],
      plan: [{ procedure: 'nfsLockServicesRestart', input: { nodes: ['w-3'] } }],
    } satisfies ClusterDiagnosisResult);
    expect(text).toMatch(
      /^1 +critical +nfsLock +NFS mounts fail .* +nodes: w-3; pod shop\/web-1 +nfsLockServicesRestart \{"nodes":\["w-3"\]\}$/m,
    );
    expect(text).toMatch(
      /^1 +pod shop\/web-1 +w-3 +FailedMount +Pending 0\/1 +- +rpc\.statd is not running/m,
    );
    expect(text).toMatch(/^logrotate +skipped +0 +no ssh settings$/m);
    expect(text).toContain(`nksr run nfsLockServicesRestart --cluster prod --input-json '{"nodes":["w-3"]}'`);
    expect(text).toContain('nksr diagnose --cluster prod --fix');
    expect(text).toContain('skipped (not checked): logrotate');
  });
});
