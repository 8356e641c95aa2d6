/**
 * Which SSH nodes lack their pause (sandbox) image, read from each node's disk: the image its runtime
 * config names (containerd's `sandbox_image` in /etc/containerd/config.toml; on docker nodes
 * kubelet's `--pod-infra-container-image` in /etc/sysconfig/kubelet) against the store kubelet sees.
 * On such a node no pod sandbox can be created, so no new pod starts (sim/stages.ts plays that).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { runtimeKind } from '../config';
import { nodePaths, normalizeImageRef } from './layout';

/** A node whose kubelet cannot create pod sandboxes: its sandbox image is not in its store. */
export interface SandboxFailure {
  node: string;
  runtime: 'containerd' | 'docker';
  /** The sandbox image as the node's config names it. */
  image: string;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The sandbox image the node's runtime config names, or undefined when it names none. */
export function configuredSandboxImage(dir: string, node: string, runtime: string): string | undefined {
  const p = nodePaths(dir, node);
  if (runtime === 'docker') {
    const args = readText(path.join(p.etcSysconfig, 'kubelet')) ?? '';
    return /--pod-infra-container-image[= ]"?([^\s"]+)/.exec(args)?.[1];
  }
  const text = readText(path.join(p.etcContainerd, 'config.toml'));
  if (text === undefined) return undefined;
  const cri = (parseToml(text).plugins as Record<string, Record<string, unknown>> | undefined)?.[
    'io.containerd.grpc.v1.cri'
  ];
  return typeof cri?.sandbox_image === 'string' ? cri.sandbox_image : undefined;
}

/** The store kubelet sees on the node: docker's, or containerd's namespace k8s.io. */
function storeRefs(dir: string, node: string, runtime: string): Set<string> {
  const p = nodePaths(dir, node);
  const text = readText(runtime === 'docker' ? p.dockerImages : p.containerdImages('k8s.io')) ?? '';
  return new Set(
    text
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter(Boolean),
  );
}

/** The SSH nodes (of `nodes`) whose configured sandbox image is missing from their store. */
export function sandboxFailures(
  dir: string,
  nodes: readonly { name: string; runtime: string }[],
  sshNodes: readonly string[],
): SandboxFailure[] {
  const ssh = new Set(sshNodes);
  const out: SandboxFailure[] = [];
  for (const n of nodes) {
    if (!ssh.has(n.name)) continue;
    const runtime = runtimeKind(n.runtime);
    const image = configuredSandboxImage(dir, n.name, runtime);
    if (!image) continue;
    if (!storeRefs(dir, n.name, runtime).has(normalizeImageRef(image)))
      out.push({ node: n.name, runtime, image });
  }
  return out;
}

/** kubelet's FailedCreatePodSandBox message when the sandbox image cannot be pulled on a closed network. */
export function sandboxFailureMessage(f: SandboxFailure): string {
  const host = f.image.split('/')[0] ?? f.image;
  const cause = `dial tcp: lookup ${host}: no such host`;
  return f.runtime === 'docker'
    ? `Failed to create pod sandbox: rpc error: code = Unknown desc = failed pulling image "${f.image}": Error response from daemon: Get "https://${host}/v2/": ${cause}`
    : `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image "${f.image}": failed to pull image "${f.image}": failed to pull and unpack image "${f.image}": failed to resolve reference "${f.image}": failed to do request: Head "https://${host}/v2/": ${cause}`;
}
