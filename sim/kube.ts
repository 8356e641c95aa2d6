/**
 * Talking to the simulated API server from the simulator itself: the admin kubeconfig, an in-process
 * client (@kubernetes/client-node) for reads/waits/small writes, and kubectl for applying manifests.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import YAML from 'yaml';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CONTEXT_NAME } from './config';
import type { Pki } from './pki';
import { run } from './process';

export function writeKubeconfig(file: string, server: string, pki: Pki): void {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT_NAME, cluster: { server, 'certificate-authority-data': b64(pki.caCert) } }],
    users: [
      {
        name: `${CONTEXT_NAME}-admin`,
        user: { 'client-certificate-data': b64(pki.adminCert), 'client-key-data': b64(pki.adminKey) },
      },
    ],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: `${CONTEXT_NAME}-admin` } }],
    'current-context': CONTEXT_NAME,
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, YAML.stringify(doc), { mode: 0o600 });
}

export function coreApi(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  kc.setCurrentContext(CONTEXT_NAME);
  return kc.makeApiClient(CoreV1Api);
}

/** GET <path> on the API server with the admin certificate; resolves to the HTTP status (0: no answer). */
export function apiserverGet(url: string, pki: Pki, urlPath: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      new URL(urlPath, url),
      {
        ca: fs.readFileSync(pki.caCert),
        cert: fs.readFileSync(pki.adminCert),
        key: fs.readFileSync(pki.adminKey),
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export interface Kubectl {
  (args: string[], opts?: { input?: string; what?: string; timeoutMs?: number }): Promise<string>;
}

export function kubectlFor(binDir: string, kubeconfigPath: string): Kubectl {
  return (args, opts = {}) =>
    run(path.join(binDir, 'kubectl'), ['--kubeconfig', kubeconfigPath, '--context', CONTEXT_NAME, ...args], {
      input: opts.input,
      timeoutMs: opts.timeoutMs,
      what: opts.what ?? `kubectl ${args[0] ?? ''}`,
    });
}

/** Server-side apply owned by the simulator; `--force-conflicts` so a re-apply restores our values. */
export function applyManifest(
  kubectl: Kubectl,
  manifest: { file?: string; input?: string },
  what: string,
): Promise<string> {
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=nksr-sim'];
  return manifest.file !== undefined
    ? kubectl([...args, '-f', manifest.file], { what })
    : kubectl([...args, '-f', '-'], { input: manifest.input, what });
}
