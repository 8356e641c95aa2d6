/**
 * Certificates of the simulated control plane, made with the openssl CLI (node:crypto cannot issue
 * X.509 certificates): a CA, the API server's serving certificate, an admin client certificate
 * (group system:masters) and the service-account signing key. Everything stays in <dir>/pki with
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

export async function createPki(dir: string, serviceIp: string): Promise<Pki> {
  const pki = pkiPaths(dir);
  const pkiDir = path.dirname(pki.caCert);
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const days = '3650';
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      pki.caKey,
      '-out',
      pki.caCert,
      '-days',
      days,
      '-subj',
      '/CN=nksr-sim-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    'CA',
  );

  const issue = async (name: string, key: string, cert: string, subj: string, ext: string[]) => {
    const csr = path.join(pkiDir, `${name}.csr`);
    const extFile = path.join(pkiDir, `${name}.ext`);
    fs.writeFileSync(extFile, ext.join('\n') + '\n');
    await openssl(['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', subj], `${name} request`);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        pki.caCert,
        '-CAkey',
        pki.caKey,
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        days,
        '-extfile',
        extFile,
      ],
      `${name} certificate`,
    );
    fs.rmSync(csr);
    fs.rmSync(extFile);
  };

  await issue('apiserver', pki.serverKey, pki.serverCert, '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${serviceIp}`,
  ]);
  await issue('admin', pki.adminKey, pki.adminCert, '/O=system:masters/CN=nksr-sim-admin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);

  await openssl(
    ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.saKey],
    'service-account key',
  );
  await openssl(['pkey', '-in', pki.saKey, '-pubout', '-out', pki.saPub], 'service-account public key');

  for (const f of [pki.caKey, pki.serverKey, pki.adminKey, pki.saKey]) fs.chmodSync(f, 0o600);
  return pki;
}
