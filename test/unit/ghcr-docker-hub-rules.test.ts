/**
 * Pure rules of ghcrMigration and dockerHubPullSecret: reference mapping (tags and digests kept),
 * Docker Hub detection, the credential file's formats (errors never quote it), StatefulSet rollout
 * status by kubectl's rules.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerConfigFromFile } from '../../src/activities/kube/docker-hub';
import {
  dockerHubPullSecretProcedure,
  isDockerHubImage,
} from '../../src/common/procedures/docker-hub-pull-secret';
import {
  ghcrMigrationProcedure,
  ghcrReference,
  planContainers,
} from '../../src/common/procedures/ghcr-migration';

const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('ghcrReference', () => {
  test.each([
    ['docker.pkg.github.com/acme/shop/web:1.2.3', 'same-path', 'ghcr.io/acme/shop/web:1.2.3'],
    ['docker.pkg.github.com/acme/shop/web:1.2.3', 'drop-repository', 'ghcr.io/acme/web:1.2.3'],
    [`docker.pkg.github.com/acme/shop/api:v2@${DIGEST}`, 'same-path', `ghcr.io/acme/shop/api:v2@${DIGEST}`],
    [`docker.pkg.github.com/acme/shop/api@${DIGEST}`, 'drop-repository', `ghcr.io/acme/api@${DIGEST}`],
    ['docker.pkg.github.com/acme/shop/web', 'same-path', 'ghcr.io/acme/shop/web'],
  ] as const)('%s (%s) → %s', (from, mapping, to) => {
    expect(ghcrReference(from, mapping)).toBe(to);
  });

  test.each([
    ['docker.pkg.github.com/acme/web:1', 'same-path', /OWNER\/REPOSITORY\/IMAGE/],
    ['docker.pkg.github.com/acme/shop/sub/web:1', 'drop-repository', /exactly OWNER\/REPOSITORY\/IMAGE/],
    ['docker.pkg.github.com/Acme/shop/web:1', 'same-path', /path component/],
    ['docker.pkg.github.com/acme/shop/web:bad tag', 'same-path', /tag/],
    ['docker.pkg.github.com/acme/shop/web@sha256:short', 'same-path', /invalid digest/],
    ['ghcr.io/acme/shop/web:1', 'same-path', /is not on docker.pkg.github.com/],
  ] as const)('%s (%s) is refused', (from, mapping, message) => {
    expect(() => ghcrReference(from, mapping)).toThrow(message);
  });

  test('planContainers: only old-host containers, init included, unmappable ones apart', () => {
    const plan = planContainers(
      [
        { name: 'a', init: false, image: 'docker.pkg.github.com/o/r/a:1' },
        { name: 'b', init: false, image: 'nginx:1.25' },
        { name: 'c', init: true, image: 'docker.pkg.github.com/o/r/c:2' },
        { name: 'd', init: false, image: 'docker.pkg.github.com/o/d:2' },
      ],
      'same-path',
    );
    expect(plan.changes.map((c) => [c.container, c.init, c.to])).toEqual([
      ['a', false, 'ghcr.io/o/r/a:1'],
      ['c', true, 'ghcr.io/o/r/c:2'],
    ]);
    expect(plan.unmappable.map((u) => u.container)).toEqual(['d']);
  });
});

describe('isDockerHubImage', () => {
  test.each([
    ['nginx:1.25', true],
    ['library/nginx', true],
    ['docker.io/library/redis:7', true],
    ['index.docker.io/library/busybox:1.36', true],
    ['registry-1.docker.io/acme/app:1', true],
    ['quay.io/acme/thing:1', false],
    ['ghcr.io/acme/x:1', false],
    ['localhost:5000/x:1', false],
    ['NOT A REF', false],
  ])('%s → %s', (image, hub) => expect(isDockerHubImage(image)).toBe(hub));
});

describe('dockerConfigFromFile (fake credential files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nksr-hub-'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('username/token becomes the Docker Hub auth entry, deterministically', () => {
    const p = file('ut.json', JSON.stringify({ username: 'u', token: 'fake-token-1' }));
    const config = JSON.parse(dockerConfigFromFile('c', p)) as {
      auths: Record<string, Record<string, string>>;
    };
    expect(config.auths['https://index.docker.io/v1/']).toEqual({
      username: 'u',
      password: 'fake-token-1',
      auth: Buffer.from('u:fake-token-1').toString('base64'),
    });
    expect(dockerConfigFromFile('c', p)).toBe(dockerConfigFromFile('c', p));
  });

  test('a docker config JSON is kept (keys sorted)', () => {
    const p = file('dc.json', JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: 'eDp5' } } }));
    expect(JSON.parse(dockerConfigFromFile('c', p))).toEqual({
      auths: { 'https://index.docker.io/v1/': { auth: 'eDp5' } },
    });
  });

  test.each([
    ['not json', 'SECRET-not-json-token', /is not JSON/],
    [
      'no token',
      JSON.stringify({ username: 'SECRET-user-only' }),
      /needs "auths", or "username" and "token"/,
    ],
    ['empty auths', JSON.stringify({ auths: {} }), /"auths" is empty/],
  ])('%s: RegistryInvalid naming the file, never its content', (_what, text, message) => {
    const p = file(`bad-${Math.random()}.json`, text);
    let err: Error | undefined;
    try {
      dockerConfigFromFile('c', p);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(message);
    expect(err?.message).toContain(p);
    expect(err?.message).not.toMatch(/SECRET/);
    expect((err as { type?: string }).type).toBe('RegistryInvalid');
  });

  test('a missing file', () => {
    expect(() => dockerConfigFromFile('c', join(dir, 'absent.json'))).toThrow(/cannot be read \(ENOENT\)/);
  });
});

describe('human reports', () => {
  test('ghcrMigration: failures first, Jobs and old-host secrets in next steps', () => {
    const report = ghcrMigrationProcedure.report({
      cluster: 'c',
      outcome: 'failed',
      dryRun: false,
      mapping: 'same-path',
      namespaces: 'all',
      workloads: [
        {
          kind: 'Deployment',
          namespace: 'a',
          name: 'ok',
          outcome: 'migrated',
          changes: [],
          detail: 'rolled out',
        },
        { kind: 'Deployment', namespace: 'a', name: 'bad', outcome: 'unmappable', changes: [], detail: 'no' },
      ],
      untouched: [{ kind: 'Job', namespace: 'a', name: 'j', state: 'finished', images: ['x'], note: 'n' }],
      oldHostOnlyPullSecrets: [{ namespace: 'a', name: 's', hosts: ['docker.pkg.github.com'] }],
      secretReport: 'reported',
      summary: '1 migrated, 1 failed',
    });
    expect(report.summary).toBe('failed: 1 migrated, 1 failed');
    expect(report.tables[0]!.rows.map((r) => r[0])).toEqual(['Deployment a/bad', 'Deployment a/ok']);
    expect(report.next.join('\n')).toMatch(/secret a\/s only has credentials for docker.pkg.github.com/);
    expect(report.next.join('\n')).toMatch(/Job a\/j \(finished\)/);
  });

  test('dockerHubPullSecret: pods that did not come back first; bare pods and nodes in next steps', () => {
    const report = dockerHubPullSecretProcedure.report({
      cluster: 'c',
      outcome: 'failed',
      dryRun: false,
      credential: 'configured',
      namespaces: ['a'],
      nodes: ['n1'],
      nodeCount: 1,
      secrets: [{ namespace: 'a', secret: 's', action: 'created' }],
      serviceAccounts: [{ namespace: 'a', serviceAccount: 'default', action: 'added', previous: [] }],
      pods: [
        { namespace: 'a', name: 'p1', outcome: 'recreated', detail: 'ok', controller: 'ReplicaSet r' },
        { namespace: 'a', name: 'p2', outcome: 'not-running', detail: 'timeout', controller: 'ReplicaSet r' },
        { namespace: 'a', name: 'bare', outcome: 'bare-not-touched', detail: 'bare' },
      ],
      omitted: 0,
      podOutcomes: { recreated: 1, 'not-running': 1, 'bare-not-touched': 1 },
      summary: 's',
    });
    expect(report.tables[0]!.rows.map((r) => r[0])).toEqual(['a/p2', 'a/bare', 'a/p1']);
    expect(report.tables[0]!.title).toBe('stuck pods (1 recreated, 1 not-running, 1 bare-not-touched)');
    expect(report.next.join('\n')).toMatch(/bare pod a\/bare/);
    expect(report.next.join('\n')).toMatch(/floating IPs for n1/);
  });
});
