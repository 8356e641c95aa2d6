/**
 * The shared deployment's pure parts: tokens the server's claim mapper can verify, the server and UI
 * configs it reads, the envconfig profiles clients connect with (read back by @temporalio/envconfig
 * itself), and the worker's Worker Versioning settings.
 */
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import YAML from 'yaml';
import {
  envconfigToml,
  serverConfigYaml,
  type ServerPorts,
  uiConfigYaml,
} from '../../shared/temporal-config';
import { permissionsOf, ROLES, signToken } from '../../shared/tokens';
import { chartRbacTemplate } from '../../src/client/rbac-manifests';
import { ConfigError, loadWorkerConfig } from '../../src/worker/config';

const ports: ServerPorts = {
  frontendGrpc: 21001,
  frontendHttp: 21002,
  frontendMembership: 21003,
  internalFrontendGrpc: 21004,
  internalFrontendMembership: 21005,
  historyGrpc: 21006,
  historyMembership: 21007,
  matchingGrpc: 21008,
  matchingMembership: 21009,
  workerGrpc: 21010,
  workerMembership: 21011,
  metrics: 21012,
};
interface ServerConfig {
  persistence: { datastores: Record<'default' | 'visibility', { sql: Record<string, unknown> }> };
  global: {
    tls: { frontend: { server: Record<string, unknown> } };
    authorization: { permissionsClaimName: string };
  };
  services: Record<string, { rpc: { bindOnIP: string } }>;
}

const decode = (part: string) =>
  JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('tokens', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  test('an ES256 JWT with a key id, the permissions claim and an expiry, verifiable with the public key', () => {
    const token = signToken({
      privateKeyPem: pem,
      subject: 'nksr-operator',
      permissions: ['default:write'],
      ttlSeconds: 60,
    });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    expect(decode(header)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'nksr-shared' });
    const claims = decode(payload);
    expect(claims).toMatchObject({ sub: 'nksr-operator', permissions: ['default:write'] });
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
    const ok = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      { key: createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })), dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature, 'base64url'),
    );
    expect(ok).toBe(true);
  });

  test('each role maps to one permission the authorizer knows', () => {
    expect(Object.fromEntries(ROLES.map((r) => [r, permissionsOf(r, 'ops')]))).toEqual({
      worker: ['ops:worker'],
      operator: ['ops:write'],
      auditor: ['ops:read'],
      admin: ['temporal-system:admin'],
    });
  });
});

describe('server, UI and client configuration', () => {
  test('the server stores in PostgreSQL, requires client certificates on the frontend and reads the permissions claim', () => {
    const cfg = YAML.parse(
      serverConfigYaml({
        ports,
        postgres: { port: 25432, user: 'temporal', password: 'pw' },
        tls: { ca: '/pki/ca.crt', cert: '/pki/frontend.crt', key: '/pki/frontend.key' },
        dynamicConfigFile: '/d.yaml',
      }),
    ) as ServerConfig;
    expect(cfg.persistence.datastores.default.sql).toMatchObject({
      pluginName: 'postgres12',
      databaseName: 'temporal',
      connectAddr: '127.0.0.1:25432',
    });
    expect(cfg.persistence.datastores.visibility.sql.databaseName).toBe('temporal_visibility');
    expect(cfg.global.tls.frontend.server).toEqual({
      certFile: '/pki/frontend.crt',
      keyFile: '/pki/frontend.key',
      requireClientAuth: true,
      clientCaFiles: ['/pki/ca.crt'],
    });
    expect(cfg.global.authorization.permissionsClaimName).toBe('permissions');
    expect(Object.keys(cfg.services).sort()).toEqual([
      'frontend',
      'history',
      'internal-frontend',
      'matching',
      'worker',
    ]);
    for (const svc of Object.values(cfg.services) as { rpc: { bindOnIP: string } }[])
      expect(svc.rpc.bindOnIP).toBe('127.0.0.1');
  });

  test('the UI has every write action off', () => {
    const ui = YAML.parse(
      uiConfigYaml({
        frontendAddress: '127.0.0.1:1',
        port: 2,
        namespace: 'default',
        tls: { ca: 'a', cert: 'b', key: 'c' },
      }),
    ) as Record<string, unknown>;
    const writes = Object.entries(ui).filter(([k]) => /Disabled$|^disableWriteActions$/.test(k));
    expect(writes.length).toBeGreaterThanOrEqual(10);
    expect(writes.every(([, v]) => v === true)).toBe(true);
  });

  test('the envconfig profiles give each role its certificate and token', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nksr-profiles-'));
    const file = path.join(dir, 'temporal.toml');
    // envconfig reads the files it names: stand-ins with known contents.
    const pki = (name: string) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, `contents of ${name}`);
      return f;
    };
    fs.writeFileSync(
      file,
      envconfigToml({
        address: '127.0.0.1:21001',
        namespace: 'default',
        ca: pki('ca.crt'),
        roles: {
          operator: { cert: pki('operator.crt'), key: pki('operator.key'), token: 'op-token' },
          auditor: { cert: pki('auditor.crt'), key: pki('auditor.key'), token: 'aud-token' },
        },
      }),
    );
    const read = (profile: string) =>
      loadClientConnectConfig({ overrideEnvVars: { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: profile } });
    const op = read('operator');
    expect(op.connectionOptions.address).toBe('127.0.0.1:21001');
    expect(op.connectionOptions.apiKey).toBe('op-token');
    const tls = op.connectionOptions.tls as {
      serverNameOverride?: string;
      clientCertPair?: { crt: Uint8Array; key: Uint8Array };
      serverRootCACertificate?: Uint8Array;
    };
    expect(tls.serverNameOverride).toBe('localhost');
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe('contents of operator.crt');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe('contents of ca.crt');
    expect(read('auditor').connectionOptions.apiKey).toBe('aud-token');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('worker versioning settings', () => {
  test('a deployment name and a build ID together turn it on', () => {
    expect(
      loadWorkerConfig({ NKSR_DEPLOYMENT_NAME: 'nks-remediation', NKSR_BUILD_ID: 'abc123' }).deployment,
    ).toEqual({
      deploymentName: 'nks-remediation',
      buildId: 'abc123',
    });
    expect(loadWorkerConfig({}).deployment).toBeUndefined();
  });

  test('one without the other, or characters outside the allowed set, is a clear error', () => {
    expect(() => loadWorkerConfig({ NKSR_BUILD_ID: 'abc' })).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ NKSR_BUILD_ID: 'abc' })).toThrow(/set together/);
    expect(() => loadWorkerConfig({ NKSR_DEPLOYMENT_NAME: 'd', NKSR_BUILD_ID: 'a b;rm' })).toThrow(
      /NKSR_BUILD_ID=a b;rm/,
    );
  });
});

test("the chart's RBAC template is the registry's RBAC behind its values switch", () => {
  const template = chartRbacTemplate();
  expect(template.split('\n')[1]).toBe('{{- if .Values.targetClusterRbac.enabled }}');
  expect(template.trimEnd().endsWith('{{- end }}')).toBe(true);
  expect(template).toContain('name: nksr-disable-kmem-accounting');
  expect(template).not.toContain('# GENERATED by `npm run generate` (scripts/generate.ts');
});
