/**
 * Container images on nodes for closedNetworkImageRecovery (docs/procedures.md §3): list, restore from an
 * internal registry (pull, tag as the original, remove the internal tag, verify), the sandbox (pause)
 * image the node's runtime config names, and the image filesystem's disk use. docker on docker nodes;
 * on containerd nodes nerdctl in namespace k8s.io, the one kubelet (CRI) sees. Every value is
 * validated, then reaches the node as one quoted argv word.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { parse as parseToml } from 'smol-toml';
import { ErrorType } from '../../common/errors';
import { parseImageReference, validateRepositoryPrefix } from '../../common/image-ref';
import {
  findImage,
  type ImageEntry,
  type ImageFsUsage,
  type ImageNodeEntry,
  internalReference,
  isWantedImage,
  likelyCause,
  MAX_IMAGE_REASON,
  nodeEntry,
  type NodeRuntimeKind,
} from '../../common/procedures/closed-network-image-recovery';
import { invalidShellValue, validateImageReference } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { requireImagesAllowed } from '../policy';
import { type NodeCall, onNode } from './context';
import type { NodeRef } from './nodes';

export interface NodeImagesInput extends NodeRef {
  runtime: NodeRuntimeKind;
}

export interface RestoreNodeImageInput extends NodeImagesInput {
  /** The image kubelet wants, e.g. `k8s.gcr.io/pause:3.2`. */
  image: string;
  /** Internal registry/prefix; the image is pulled as `<registry>/<basename of image>`. */
  registry: string;
}

export interface RestoreNodeImageResult {
  image: string;
  /** `present`: already there, nothing run; `restored`: pulled, tagged, internal tag removed, verified. */
  outcome: 'present' | 'restored';
  pulledFrom: string;
  /** The reference found on the node when present. */
  found?: string;
}

function validateRuntime(runtime: unknown): NodeRuntimeKind {
  if (runtime !== 'docker' && runtime !== 'containerd') {
    throw ApplicationFailure.nonRetryable('runtime must be docker or containerd', ErrorType.InvalidInput);
  }
  return runtime;
}

function validateRegistry(registry: string): string {
  const problem = typeof registry === 'string' ? validateRepositoryPrefix(registry) : 'not a string';
  if (problem) throw invalidShellValue('registry', String(registry), problem);
  return registry;
}

/** The runtime's CLI: docker, or nerdctl in kubelet's containerd namespace. */
export function imageCli(runtime: NodeRuntimeKind): string[] {
  return runtime === 'docker' ? ['docker'] : ['nerdctl', '--namespace', 'k8s.io'];
}

async function listImages(call: NodeCall, runtime: NodeRuntimeKind): Promise<string[]> {
  const r = await call.run([...imageCli(runtime), 'images', '--format', '{{.Repository}}:{{.Tag}}'], {
    sudo: true,
    timeoutMs: 60_000,
  });
  if (r.exitCode !== 0) throw call.commandFailed(`${imageCli(runtime).join(' ')} images`, r);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.endsWith(':<none>') && !l.startsWith('<none>'));
}

/** Where a node's runtime names its sandbox image: containerd's CRI config, or kubelet's flags (docker). */
export const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
export const KUBELET_SYSCONFIG = '/etc/sysconfig/kubelet';

/** The sandbox image a node's runtime is configured with, and the file that says so. */
export interface SandboxImage {
  image?: string;
  source: string;
}

/** `sandbox_image` of containerd 1.x's CRI plugin, or containerd 2.x's pinned `sandbox` image. */
export function sandboxImageFromContainerdConfig(text: string): string | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch {
    // The file may hold registry credentials: nothing of it (smol-toml quotes the line) leaves here.
    throw ApplicationFailure.nonRetryable(`${CONTAINERD_CONFIG} is not valid TOML`, ErrorType.ConfigInvalid);
  }
  const plugins = (doc.plugins ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const v1 = plugins['io.containerd.grpc.v1.cri']?.sandbox_image;
  const pinned = plugins['io.containerd.cri.v1.images']?.pinned_images as Record<string, unknown> | undefined;
  const image = typeof v1 === 'string' ? v1 : pinned?.sandbox;
  return typeof image === 'string' ? image : undefined;
}

/** kubelet's `--pod-infra-container-image` in a sysconfig file's flags. */
export function sandboxImageFromKubeletFlags(text: string): string | undefined {
  return /--pod-infra-container-image(?:=|\s+)["']?([^\s"']+)/.exec(text)?.[1];
}

/**
 * Reads the node's sandbox image from its config, as root (the file may not be world-readable), at
 * most 1 MB. Read-only. Only the image reference leaves the node's text: containerd's config can hold
 * registry passwords.
 */
async function readSandboxImage(call: NodeCall, runtime: NodeRuntimeKind): Promise<SandboxImage> {
  const source = runtime === 'docker' ? KUBELET_SYSCONFIG : CONTAINERD_CONFIG;
  // Constant script, the path as $1: nothing when the file is absent.
  const r = await call.scriptOk('[ -f "$1" ] || exit 0; head -c 1048576 -- "$1"', [source], {
    sudo: true,
    operation: `read ${source}`,
    timeoutMs: 30_000,
  });
  const found =
    runtime === 'docker'
      ? sandboxImageFromKubeletFlags(r.stdout)
      : sandboxImageFromContainerdConfig(r.stdout);
  if (found === undefined) return { source };
  try {
    validateImageReference(found);
    if (!parseImageReference(found).tag) return { source };
  } catch {
    return { source };
  }
  return { image: found, source };
}

/**
 * The reference to restore for `image`: itself when tagged; an untagged image the node's sandbox
 * image is (k8s.gcr.io and registry.k8s.io alike) gets the configured reference; else undefined,
 * never `:latest`, which is not what kubelet asks for.
 */
export function restoreTarget(image: string, sandbox: string | undefined): string | undefined {
  if (parseImageReference(image).tag) return image;
  return sandbox && isWantedImage(image, sandbox) ? sandbox : undefined;
}

async function step(call: NodeCall, runtime: NodeRuntimeKind, argv: string[], timeoutMs = 120_000) {
  const r = await call.run([...imageCli(runtime), ...argv], { sudo: true, timeoutMs });
  if (r.exitCode !== 0) throw call.commandFailed(`${imageCli(runtime)[0]} ${argv.join(' ')}`, r);
  return r;
}

/** Validates a restore's values and checks the internal reference against the cluster's policy. */
function checkRestore(deps: ActivityDeps, cluster: string, rawImage: string, rawRegistry: string) {
  const image = validateImageReference(rawImage);
  const parsed = parseImageReference(image);
  if (parsed.digest) throw invalidShellValue('image reference', image, 'give the image by tag, not digest');
  if (!parsed.tag) throw invalidShellValue('image reference', image, 'give the image with its tag');
  const registry = validateRegistry(rawRegistry);
  const internal = validateImageReference(internalReference(registry, image));
  // The pulled image is tagged as the original, which privileged IfNotPresent pods then run.
  requireImagesAllowed(cluster, deps.registry.get(cluster), 'closedNetworkImageRecovery', [internal]);
  return { image, internal };
}

/**
 * Restores one tagged image. Idempotent, check-then-act: a present image is left alone (nothing but
 * the listing runs); an internal reference already on the node (a retry after the pull) is not
 * pulled again; the tag and the removal of the internal tag are done only when missing/present; the
 * result is verified by listing again. `before`: the listing, when the caller has it.
 */
async function restoreOnNode(
  call: NodeCall,
  runtime: NodeRuntimeKind,
  image: string,
  internal: string,
  before?: string[],
): Promise<RestoreNodeImageResult> {
  const listed = before ?? (await listImages(call, runtime));
  const found = findImage(image, listed);
  if (found) {
    // A run interrupted between tag and rmi left the internal tag: remove it (the guide's last step).
    const leftover = findImage(internal, listed);
    if (leftover) await step(call, runtime, ['rmi', leftover]);
    return { image, outcome: 'present', pulledFrom: internal, found };
  }
  // A retry after the pull finds the internal reference already there and does not pull again.
  const source = findImage(internal, listed);
  if (!source) await step(call, runtime, ['pull', internal], 600_000);
  await step(call, runtime, ['tag', source ?? internal, image]);
  await step(call, runtime, ['rmi', source ?? internal]);
  const after = await listImages(call, runtime);
  if (!findImage(image, after)) {
    throw ApplicationFailure.create({
      type: ErrorType.RemoteCommandFailed,
      nonRetryable: true,
      message: `cluster "${call.ref.cluster}", node ${call.ref.node}: ${image} not listed after pull/tag`,
    });
  }
  return { image, outcome: 'restored', pulledFrom: internal };
}

async function readImageFsUsage(call: NodeCall, runtime: NodeRuntimeKind): Promise<ImageFsUsage> {
  const dir = runtime === 'docker' ? '/var/lib/docker' : '/var/lib/containerd';
  // Constant script, the directory as $1.
  const r = await call.scriptOk(
    `for d in "$1" /var/lib /; do if [ -d "$d" ]; then df -P "$d" | awk -v d="$d" 'NR==2 { sub("%", "", $5); print d " " $5 }'; exit 0; fi; done; exit 1`,
    [dir],
    { operation: 'df of the image filesystem', timeoutMs: 30_000 },
  );
  const [path = '', use = ''] = r.stdout.trim().split(' ');
  const usePercent = Number(use);
  if (!path || use === '' || !Number.isFinite(usePercent))
    throw call.commandFailed('df of the image filesystem (unexpected output)', r);
  return { path, usePercent };
}

const clipReason = (s: string) => (s.length > MAX_IMAGE_REASON ? `${s.slice(0, MAX_IMAGE_REASON)}…` : s);

function asFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  return ApplicationFailure.retryable(err instanceof Error ? err.message : String(err), 'Error');
}

/** One node of a batch: see recoverNodeImages. Image-level permanent failures are the image's entry. */
async function recoverOnNode(
  deps: ActivityDeps,
  t: NodeImagesInput & { images: string[] },
  registry: string,
  dryRun: boolean,
): Promise<ImageNodeEntry> {
  return onNode(deps, t, async (call) => {
    const { runtime } = t;
    const untagged = t.images.some((i) => !parseImageReference(i).tag);
    const sandbox = untagged ? (await readSandboxImage(call, runtime)).image : undefined;
    let listed = await listImages(call, runtime);
    const entries: ImageEntry[] = [];
    for (const asked of t.images) {
      const image = restoreTarget(asked, sandbox);
      if (!image) {
        // Any tag of it counts as present; a missing one has no tag to restore.
        entries.push(
          findImage(asked, listed)
            ? { image: asked, outcome: 'present' }
            : { image: asked, outcome: 'tag-unknown' },
        );
        continue;
      }
      try {
        const { internal } = checkRestore(deps, t.cluster, image, registry);
        if (dryRun) {
          entries.push(
            findImage(image, listed)
              ? { image, outcome: 'present' }
              : { image, outcome: 'would-restore', pulledFrom: internal },
          );
          continue;
        }
        const r = await restoreOnNode(call, runtime, image, internal, listed);
        if (r.outcome === 'restored') listed = await listImages(call, runtime);
        entries.push(
          r.outcome === 'restored'
            ? { image, outcome: 'restored', pulledFrom: r.pulledFrom }
            : { image, outcome: 'present' },
        );
      } catch (err) {
        const f = asFailure(err);
        if (!f.nonRetryable) throw f;
        entries.push({
          image,
          outcome: 'failed',
          reason: clipReason(`${f.type ? `${f.type}: ` : ''}${f.message}`),
        });
      }
    }
    const disk = await readImageFsUsage(call, runtime);
    return nodeEntry({ node: t.node, runtime, disk, cause: likelyCause(disk.usePercent) }, entries);
  });
}

export interface RecoverNodeImagesInput {
  cluster: string;
  registry: string;
  dryRun: boolean;
  /** The batch's images, once; each node names its own by index. */
  images: string[];
  nodes: { node: string; runtime: NodeRuntimeKind; images: number[] }[];
  /** Nodes worked on at once. */
  inFlight: number;
  /** Once this many nodes of the batch failed, no more start (what is left of the run's budget). */
  failureBudget: number;
}

export interface RecoverNodeImagesResult {
  /** Every node of the batch, in its order. */
  nodes: ImageNodeEntry[];
}

export function createImageActivities(deps: ActivityDeps) {
  return {
    /** The images the node's kubelet-visible store holds (`repository:tag`). Read-only; safe to retry. */
    async listNodeImages(input: NodeImagesInput): Promise<string[]> {
      const runtime = validateRuntime(input?.runtime);
      return onNode(deps, input, (call) => listImages(call, runtime));
    },

    /**
     * Restores one image (given with its tag) from the internal registry. Idempotent, check-then-act:
     * see restoreOnNode.
     */
    async restoreNodeImage(input: RestoreNodeImageInput): Promise<RestoreNodeImageResult> {
      const runtime = validateRuntime(input?.runtime);
      const { image, internal } = checkRestore(deps, input.cluster, input.image, input.registry);
      return onNode(deps, input, (call) => restoreOnNode(call, runtime, image, internal));
    },

    /**
     * Disk use of the filesystem holding the runtime's images (/var/lib/docker or /var/lib/containerd,
     * else /var/lib, else /), as `df -P` says. Read-only; safe to retry.
     */
    async imageFsUsage(input: NodeImagesInput): Promise<ImageFsUsage> {
      const runtime = validateRuntime(input?.runtime);
      return onNode(deps, input, (call) => readImageFsUsage(call, runtime));
    },

    /**
     * closedNetworkImageRecovery's work on a batch of nodes, `inFlight` at a time, so that a large
     * run's history grows by batch, not by node. Per node, over one connection: the sandbox image
     * its runtime config names (when an image is asked for without a tag), the image listing, then
     * per image: present → left alone; dryRun → planned; else restored (restoreOnNode:
     * check-then-act, idempotent); last the image filesystem's use. A node's permanent failure (or
     * an image's) is its entry. A node left unreachable after the others (a retryable failure) fails
     * the attempt, naming the nodes done in the failure's details; Temporal's retry does the batch
     * again, which finds what was restored present and changes nothing there. No new node starts
     * once `failureBudget` nodes failed (those left are not-started).
     */
    async recoverNodeImages(input: RecoverNodeImagesInput): Promise<RecoverNodeImagesResult> {
      const registry = validateRegistry(input.registry);
      const nodes = input.nodes.map((n) => ({
        ...n,
        runtime: validateRuntime(n.runtime),
        images: n.images.map((i) => {
          const image = input.images[i];
          if (image === undefined)
            throw ApplicationFailure.nonRetryable(`node ${n.node}: no image ${i}`, ErrorType.InvalidInput);
          return validateImageReference(image);
        }),
      }));
      const ctx = Context.current();
      const entries = new Map<string, ImageNodeEntry>();
      const retryLater: { node: string; err: ApplicationFailure }[] = [];
      let failed = 0;
      let next = 0;
      const lane = async () => {
        while (next < nodes.length && failed < input.failureBudget && !ctx.cancellationSignal.aborted) {
          const n = nodes[next++]!;
          try {
            const entry = await recoverOnNode(deps, { cluster: input.cluster, ...n }, registry, input.dryRun);
            if (entry.outcome === 'failed') failed++;
            entries.set(n.node, entry);
          } catch (err) {
            if (ctx.cancellationSignal.aborted) throw err;
            const f = asFailure(err);
            if (!f.nonRetryable) {
              retryLater.push({ node: n.node, err: f });
              continue;
            }
            failed++;
            entries.set(n.node, {
              node: n.node,
              outcome: 'failed',
              runtime: n.runtime,
              images: [],
              imageCounts: {},
              reason: clipReason(`${f.type ? `${f.type}: ` : ''}${f.message}`),
            });
          }
          ctx.heartbeat({ done: entries.size, of: nodes.length });
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(input.inFlight, nodes.length)) }, lane));
      if (retryLater.length) {
        const first = retryLater[0]!.err;
        throw ApplicationFailure.create({
          type: first.type ?? ErrorType.RemoteCommandFailed,
          nonRetryable: false,
          message: `${retryLater.length} of ${nodes.length} nodes not done (${retryLater.map((r) => r.node).join(', ')}): ${first.message}`,
          details: [{ done: [...entries.values()] }],
        });
      }
      return {
        nodes: nodes.map(
          (n): ImageNodeEntry =>
            entries.get(n.node) ?? {
              node: n.node,
              outcome: 'not-started',
              runtime: n.runtime,
              images: [],
              imageCounts: {},
              reason: 'failure budget spent',
            },
        ),
      };
    },
  };
}
