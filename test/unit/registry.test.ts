import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { loadClusterRegistry, parseRegistry, RegistryError } from '../../src/worker/registry';

const dir = mkdtempSync(join(tmpdir(), 'nksr-registry-'));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('expected a RegistryError');
}

const VALID = `
clusters:
  sim:
    kubeconfig: kubeconfig
    context: sim
    ssh:
      privateKeyPath: ssh/id_ed25519
      knownHostsPath: /etc/ssh/known_hosts
  prod-1:
    kubeconfig: /abs/prod.kubeconfig
`;

describe('cluster registry (clusters.yaml)', () => {
  test('loads a valid file, applies defaults and resolves relative paths against the file', () => {
    const registry = loadClusterRegistry(write('valid.yaml', VALID));
    expect(registry.names()).toEqual(['prod-1', 'sim']);
    const sim = registry.get('sim');
    expect(sim.kubeconfig).toBe(join(dir, 'kubeconfig'));
    expect(sim.context).toBe('sim');
    expect(sim.nodeAddressType).toBe('InternalIP');
    expect(sim.ssh).toEqual({
      user: 'centos',
      port: 22,
      connectTimeoutMs: 10_000,
      privateKeyPath: join(dir, 'ssh/id_ed25519'),
      knownHostsPath: '/etc/ssh/known_hosts',
    });
    expect(registry.get('prod-1').kubeconfig).toBe('/abs/prod.kubeconfig');
  });

  test('a wrong type names the file and the field path', () => {
    const file = write(
      'clusters.yaml',
      VALID.replace('knownHostsPath: /etc/ssh/known_hosts', 'knownHostsPath: x\n      port: "22"'),
    );
    const err = errorOf(() => loadClusterRegistry(file));
    expect(err.message).toMatch(/clusters\.yaml: clusters\.sim\.ssh\.port: expected number/);
    expect(err.message).not.toMatch(/\n\s+at /); // no stack frames in the message
  });

  test('a missing required field and an unknown field are both reported, each with its path', () => {
    const err = errorOf(() =>
      parseRegistry('clusters:\n  a:\n    context: x\n    kubeconfg: typo\n', '/etc/nksr/clusters.yaml'),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^clusters\.a\.kubeconfig: required/),
        expect.stringMatching(/^clusters\.a: unknown field kubeconfg/),
      ]),
    );
    expect(err.message).toContain('/etc/nksr/clusters.yaml: clusters.a.kubeconfig');
  });

  test('an invalid cluster name is refused', () => {
    const err = errorOf(() => parseRegistry('clusters:\n  Bad_Name:\n    kubeconfig: k\n', 'c.yaml'));
    expect(err.message).toMatch(/^c\.yaml: clusters\.Bad_Name/);
  });

  test('YAML syntax errors name the file, line and column', () => {
    const err = errorOf(() => parseRegistry('clusters:\n  sim:\n    kubeconfig: [unclosed\n', 'c.yaml'));
    expect(err.message).toMatch(/^c\.yaml: line \d+, column \d+: /);
  });

  test('an empty file and a missing file say what is wrong', () => {
    expect(errorOf(() => parseRegistry('', 'empty.yaml')).message).toMatch(
      /^empty\.yaml: clusters: required/,
    );
    const missing = errorOf(() => loadClusterRegistry(join(dir, 'nope.yaml')));
    expect(missing.message).toMatch(/nope\.yaml: file not found/);
  });

  test('an unknown cluster is a non-retryable UnknownCluster naming the known clusters', () => {
    const registry = loadClusterRegistry(write('two.yaml', VALID));
    let failure: unknown;
    try {
      registry.get('staging');
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const af = failure as ApplicationFailure;
    expect(af.type).toBe('UnknownCluster');
    expect(af.nonRetryable).toBe(true);
    expect(af.message).toContain('unknown cluster "staging"');
    expect(af.message).toContain('"prod-1", "sim"');
  });
});

describe('dockerHub settings (dockerHubPullSecret)', () => {
  test('optional; a relative credentialsFile resolves next to clusters.yaml', () => {
    const registry = loadClusterRegistry(
      write('hub.yaml', `${VALID}    dockerHub:\n      credentialsFile: secrets/dockerhub.json\n`),
    );
    expect(registry.get('prod-1').dockerHub).toEqual({
      credentialsFile: join(dir, 'secrets/dockerhub.json'),
    });
    expect(registry.get('sim').dockerHub).toBeUndefined();
  });

  test('the credential itself is refused in clusters.yaml (only a path is held there)', () => {
    const file = write('hub-bad.yaml', `${VALID}    dockerHub:\n      token: dckr_pat_x\n`);
    const err = errorOf(() => loadClusterRegistry(file));
    expect(err.message).toMatch(/clusters\.prod-1\.dockerHub: unknown field token/);
    expect(err.message).toMatch(/clusters\.prod-1\.dockerHub\.credentialsFile: required/);
  });
});
