/**
 * Container images on nodes for closedNetworkImageRecovery (docs/procedures.md §3): list, restore from an
 * internal registry (pull, tag as the original, remove the internal tag, verify) and the image
 * filesystem's disk use. docker on docker nodes; on containerd nodes nerdctl in namespace k8s.io, the
 * one kubelet (CRI) sees. Every value is validated, then reaches the node as one quoted argv word.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { parseImageReference, validateRepositoryPrefix } from '../../common/image-ref';
import {
  findImage,
  type ImageFsUsage,
  internalReference,
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

async function step(call: NodeCall, runtime: NodeRuntimeKind, argv: string[], timeoutMs = 120_000) {
  const r = await call.run([...imageCli(runtime), ...argv], { sudo: true, timeoutMs });
  if (r.exitCode !== 0) throw call.commandFailed(`${imageCli(runtime)[0]} ${argv.join(' ')}`, r);
  return r;
}

export function createImageActivities(deps: ActivityDeps) {
  return {
    /** The images the node's kubelet-visible store holds (`repository:tag`). Read-only; safe to retry. */
    async listNodeImages(input: NodeImagesInput): Promise<string[]> {
      const runtime = validateRuntime(input?.runtime);
      return onNode(deps, input, (call) => listImages(call, runtime));
    },

    /**
     * Restores one image from the internal registry. Idempotent, check-then-act: a present image is
     * left alone (nothing but the listing runs); an internal reference already on the node (a retry
     * after the pull) is not pulled again; the tag and the removal of the internal tag are done only
     * when missing/present; the result is verified by listing again.
     */
    async restoreNodeImage(input: RestoreNodeImageInput): Promise<RestoreNodeImageResult> {
      const runtime = validateRuntime(input?.runtime);
      const image = validateImageReference(input.image);
      if (parseImageReference(image).digest)
        throw invalidShellValue('image reference', image, 'give the image by tag, not digest');
      const registry = validateRegistry(input.registry);
      const internal = validateImageReference(internalReference(registry, image));
      // The pulled image is tagged as the original, which privileged IfNotPresent pods then run.
      requireImagesAllowed(input.cluster, deps.registry.get(input.cluster), 'closedNetworkImageRecovery', [
        internal,
      ]);
      return onNode(deps, input, async (call) => {
        const before = await listImages(call, runtime);
        const found = findImage(image, before);
        if (found) {
          // A run interrupted between tag and rmi left the internal tag: remove it (the guide's last step).
          const leftover = parseImageReference(image).tag ? findImage(internal, before) : undefined;
          if (leftover) await step(call, runtime, ['rmi', leftover]);
          return { image, outcome: 'present', pulledFrom: internal, found };
        }
        const target = parseImageReference(image).tag ? image : `${image}:latest`;
        // A retry after the pull finds the internal reference already there and does not pull again.
        const source = findImage(internal, before) ?? internal;
        if (source === internal && !findImage(internal, before))
          await step(call, runtime, ['pull', internal], 600_000);
        await step(call, runtime, ['tag', source, target]);
        await step(call, runtime, ['rmi', source]);
        const after = await listImages(call, runtime);
        if (!findImage(target, after)) {
          throw ApplicationFailure.create({
            type: ErrorType.RemoteCommandFailed,
            nonRetryable: true,
            message: `cluster "${input.cluster}", node ${input.node}: ${target} not listed after pull/tag`,
          });
        }
        return { image, outcome: 'restored', pulledFrom: internal };
      });
    },

    /**
     * Disk use of the filesystem holding the runtime's images (/var/lib/docker or /var/lib/containerd,
     * else /var/lib, else /), as `df -P` says. Read-only; safe to retry.
     */
    async imageFsUsage(input: NodeImagesInput): Promise<ImageFsUsage> {
      const runtime = validateRuntime(input?.runtime);
      const dir = runtime === 'docker' ? '/var/lib/docker' : '/var/lib/containerd';
      return onNode(deps, input, async (call) => {
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
      });
    },
  };
}
