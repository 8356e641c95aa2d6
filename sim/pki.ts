/**
 * Certificates of the simulated control plane, made with the openssl CLI (node:crypto cannot issue
 * X.509 certificates): a CA, the API server's serving certificate, an admin client certificate
 * (group system:masters) and the service-account signing key; createCa and issueCertificate also make
 * the shared deployment's mTLS certificates. Everything stays in <dir>/pki with
 * mode 0600 keys; only paths leave this module.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from './process';

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

export function pkiPaths(dir: string): Pki {
  const p = (f: string) => path.join(dir, 'pki', f);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

async function openssl(args: string[], what: string): Promise<void> {
  await run('openssl', args, { what: `openssl (${what})` });
}

const DAYS = '3650';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed P-256 CA; the key is written 0600. */
export async function createCa(cert: string, key: string, commonName: string): Promise<void> {
  fs.mkdirSync(path.dirname(cert), { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      DAYS,
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    `${commonName} CA`,
  );
  fs.chmodSync(key, 0o600);
}

export interface CertificateRequest {
  ca: { cert: string; key: string };
  cert: string;
  key: string;
  /** e.g. /O=system:masters/CN=nksr-sim-admin */
  subject: string;
  usage: 'server' | 'client' | 'server-and-client';
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1'] */
  altNames?: string[];
}

/** A P-256 leaf certificate signed by `ca`; the key is written 0600, the request files removed. */
export async function issueCertificate(req: CertificateRequest): Promise<void> {
  const base = req.cert.replace(/\.crt$/, '');
  const csr = `${base}.csr`;
  const extFile = `${base}.ext`;
  const extendedKeyUsage = {
    server: 'serverAuth',
    client: 'clientAuth',
    'server-and-client': 'serverAuth,clientAuth',
  }[req.usage];
  const ext = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${extendedKeyUsage}`,
    ...(req.altNames?.length ? [`subjectAltName=${req.altNames.join(',')}`] : []),
  ];
  fs.writeFileSync(extFile, ext.join('\n') + '\n');
  const what = path.basename(base);
  try {
    await openssl(
      ['req', '-new', ...EC_KEY, '-keyout', req.key, '-out', csr, '-subj', req.subject],
      `${what} request`,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        req.ca.cert,
        '-CAkey',
        req.ca.key,
        '-CAcreateserial',
        '-out',
        req.cert,
        '-days',
        DAYS,
        '-extfile',
        extFile,
      ],
      `${what} certificate`,
    );
  } finally {
    fs.rmSync(csr, { force: true });
    fs.rmSync(extFile, { force: true });
  }
  fs.chmodSync(req.key, 0o600);
}

export async function createPki(dir: string, serviceIp: string): Promise<Pki> {
  const pki = pkiPaths(dir);
  const ca = { cert: pki.caCert, key: pki.caKey };
  await createCa(pki.caCert, pki.caKey, 'nksr-sim-ca');
  await issueCertificate({
    ca,
    cert: pki.serverCert,
    key: pki.serverKey,
    subject: '/CN=kube-apiserver',
    usage: 'server',
    altNames: [
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      'IP:127.0.0.1',
      `IP:${serviceIp}`,
    ],
  });
  await issueCertificate({
    ca,
    cert: pki.adminCert,
    key: pki.adminKey,
    subject: '/O=system:masters/CN=nksr-sim-admin',
    usage: 'client',
  });

  await openssl(
    ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.saKey],
    'service-account key',
  );
  await openssl(['pkey', '-in', pki.saKey, '-pubout', '-out', pki.saPub], 'service-account public key');
  fs.chmodSync(pki.saKey, 0o600);
  return pki;
}
