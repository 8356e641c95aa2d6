import { detectLogrotateDrift } from '../../../src/common/diagnosis/logrotate';
import { GUIDE_DOCKER_LOGROTATE_CONFIG } from '../../../src/common/procedures/logrotate-sync';

const base = {
  path: '/etc/logrotate.d/docker',
  content: GUIDE_DOCKER_LOGROTATE_CONFIG,
  wantedSha256: 'a'.repeat(64),
  wantedMd5: 'b'.repeat(32),
};
const same = (node: string) => ({ node, exists: true as const, sha256: 'a'.repeat(64), md5: 'b'.repeat(32) });

describe('logrotate detector (hashes over SSH)', () => {
  test('a missing and a different file → logrotateSync on exactly those nodes (default content and path left out)', () => {
    const r = detectLogrotateDrift({
      ...base,
      hashes: [
        same('n0'),
        { node: 'n1', exists: false },
        same('n2'),
        { node: 'n3', exists: true, sha256: 'c'.repeat(64), md5: 'd'.repeat(32) },
      ],
    });
    expect(r.status).toBe('checked');
    const [f] = r.findings;
    expect(f!.fix).toEqual({ procedure: 'logrotateSync', input: { nodes: ['n1', 'n3'] } });
    expect(f!.evidence.map((e) => e.reason)).toEqual(['Missing', 'Differs']);
  });

  test('containerd nodes are named not applicable, never drift; only containerd nodes: checked, healthy', () => {
    const mixed = detectLogrotateDrift({
      ...base,
      hashes: [{ node: 'n0', exists: false }],
      notApplicable: ['n1'],
    });
    expect(mixed.findings[0]!.nodes).toEqual(['n0']);
    expect(mixed.detail).toMatch(
      /1 containerd node\(s\) not applicable \(kubelet rotates container logs.*: n1$/,
    );
    const only = detectLogrotateDrift({ ...base, hashes: [], notApplicable: ['n1', 'n2'] });
    expect(only).toMatchObject({ status: 'checked', findings: [] });
    expect(only.detail).toMatch(/^2 containerd node\(s\) not applicable/);
  });

  test('a non-default config and path travel in the proposed input', () => {
    const [f] = detectLogrotateDrift({
      ...base,
      path: '/etc/logrotate.d/containers',
      content: 'x {\n}\n',
      hashes: [{ node: 'n0', exists: false }],
    }).findings;
    expect(f!.fix!.input).toEqual({
      nodes: ['n0'],
      path: '/etc/logrotate.d/containers',
      content: 'x {\n}\n',
    });
  });

  test('all in sync: checked, nothing found; unreadable nodes are named in what was checked', () => {
    const r = detectLogrotateDrift({ ...base, hashes: [same('n0'), { node: 'n1', error: 'NotReady' }] });
    expect(r).toMatchObject({ status: 'checked', findings: [] });
    expect(r.detail).toMatch(/not read: n1 \(NotReady\)/);
  });

  test('no node readable over SSH: skipped with the reason, never healthy', () => {
    const r = detectLogrotateDrift({ ...base, hashes: [{ node: 'n0', error: 'SshAuthFailed: denied' }] });
    expect(r).toMatchObject({ status: 'skipped', findings: [] });
    expect(r.detail).toMatch(/SshAuthFailed/);
  });
});
