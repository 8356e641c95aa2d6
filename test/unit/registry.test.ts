import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { generateApproverKey } from '../../src/client/approver-key';
import { requireProcedureEnabled } from '../../src/activities/policy';
import { loadClusterRegistry, parseRegistry, RegistryError } from '../../src/worker/registry';

const dir = mkdtempSync(join(tmpdir(), 'nksr-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

describe('approvers (signed approvals)', () => {
  const keyFile = join(dir, 'ops.key');
  const publicKey = generateApproverKey(keyFile);

  test('listed with their public keys; none by default', () => {
    expect(loadClusterRegistry(write('no-approvers.yaml', VALID)).approvers()).toEqual([]);
    const registry = loadClusterRegistry(
      write('approvers.yaml', `${VALID}approvers:\n  - name: ops-kim\n    publicKey: ${publicKey}\n`),
    );
    expect(registry.approvers()).toEqual([{ name: 'ops-kim', publicKey }]);
  });

  test('a private key, a malformed key or a name listed twice is refused with its path', () => {
    const pem = readFileSync(keyFile, 'utf8').replace(/\n/g, '\\n');
    const cases: [string, RegExp][] = [
      [
        `approvers:\n  - name: ops\n    publicKey: "${pem}"\n`,
        /approvers\.\[0\]\.publicKey: an Ed25519 public key/,
      ],
      [`approvers:\n  - name: ops\n    publicKey: abc\n`, /approvers\.\[0\]\.publicKey/],
      [
        `approvers:\n  - name: ops\n    publicKey: ${publicKey}\n  - name: ops\n    publicKey: ${publicKey}\n`,
        /approvers\.\[1\]\.name: ops is listed twice/,
      ],
      [`approvers:\n  - name: "ops kim"\n    publicKey: ${publicKey}\n`, /approvers\.\[0\]\.name/],
    ];
    for (const [yaml, message] of cases) {
      const err = errorOf(() => loadClusterRegistry(write('bad-approvers.yaml', `${VALID}${yaml}`)));
      expect(err.message).toMatch(message);
      // A private key in the file is never echoed back.
      expect(err.message).not.toContain('PRIVATE KEY');
    }
  });
});

describe('enabled procedures (procedures:)', () => {
  test('names by CLI name or workflow type, held as workflow types; absent means every procedure', () => {
    const clusters = parseRegistry(
      'clusters:\n  a:\n    kubeconfig: k\n    procedures: [calico-image-repair, logrotateSync]\n  b:\n    kubeconfig: k\n',
      '/etc/nksr/clusters.yaml',
    );
    expect(clusters.get('a')?.procedures).toEqual(['calicoImageRepair', 'logrotateSync']);
    expect(clusters.get('b')?.procedures).toBeUndefined();
  });

  test('a name that is no procedure is refused with its path and the known names', () => {
    const err = errorOf(() =>
      parseRegistry('clusters:\n  a:\n    kubeconfig: k\n    procedures: [calico-repair]\n', 'c.yaml'),
    );
    expect(err.message).toMatch(
      /c\.yaml: clusters\.a\.procedures\.0: no procedure "calico-repair" \(known: .*calico-image-repair/,
    );
  });

  test('a procedure the cluster does not enable is refused by the worker policy; preflight always runs', () => {
    const [entry] = [
      ...parseRegistry(
        'clusters:\n  a:\n    kubeconfig: k\n    procedures: [nfs-lock-services-restart]\n',
        'c.yaml',
      ).values(),
    ];
    expect(() => requireProcedureEnabled('a', entry!, 'nfsLockServicesRestart')).not.toThrow();
    expect(() => requireProcedureEnabled('a', entry!, 'clusterPreflight')).not.toThrow();
    let err: ApplicationFailure | undefined;
    try {
      requireProcedureEnabled('a', entry!, 'disableKmemAccounting');
    } catch (e) {
      err = e as ApplicationFailure;
    }
    expect(err?.type).toBe('PolicyRefused');
    expect(err?.nonRetryable).toBe(true);
    expect(err?.message).toBe(
      'cluster "a": disableKmemAccounting refused by the worker\'s policy; it is not among clusters.a.procedures (nfsLockServicesRestart); add it there (and bind its role: nksr rbac --cluster a) to allow it',
    );
    // A procedure's child workflow is gated as the procedure.
    expect(() => requireProcedureEnabled('a', entry!, 'disableKmemAccountingNodes')).toThrow(
      /disableKmemAccountingNodes refused by the worker's policy/,
    );
  });
});
