/**
 * Names and rules of calicoImageRepair's pre-pull pods and images, shared by the workflow (which must
 * know the pod names it may leave behind, to report them) and the activities. Pure: no Node built-ins.
 */
import { CALICO_DEFAULTS } from './calico';
import { joinImageReference, normalizeImageReference } from './image-ref';

/** FNV-1a over UTF-16 code units, 32 bit, from the given offset basis. */
function fnv1a32(text: string, basis: number): number {
  let hash = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** A short, stable label value for a run (FNV-1a, 32 bit): names the run's pre-pull pods. */
export function runLabelOf(runKey: string): string {
  return `wf-${hex8(fnv1a32(runKey, 0x811c9dc5))}`;
}

/** Every pre-pull pod name starts with this; activities refuse to touch a pod named otherwise. */
export const PREPULL_POD_PREFIX = 'nksr-prepull-';

/**
 * The pre-pull pod of one node×image in one run: the run's label, then 64 bits of two FNV-1a hashes
 * of node and image. A retry of the same pair finds its pod; a pod of another run never has its name.
 */
export function prePullPodNameFor(runLabel: string, node: string, image: string): string {
  const key = `${node}\0${image}`;
  return `${PREPULL_POD_PREFIX}${runLabel}-${hex8(fnv1a32(key, 0x811c9dc5))}${hex8(fnv1a32(key, 0x050c5d1f))}`;
}

/**
 * The pull secret a run makes of the worker's Docker Hub credential for its docker.io pre-pulls: one
 * per run, named by the run's label, so a resumed run finds its own and a later run knows another's.
 */
export function prePullSecretNameFor(runLabel: string): string {
  return `${PREPULL_POD_PREFIX}${runLabel}-dockerhub`;
}

/** Without `policy.calicoImageRepair.registries` in clusters.yaml a cluster allows only the guide's registry. */
export const DEFAULT_ALLOWED_REGISTRIES: readonly string[] = [CALICO_DEFAULTS.registry];

/** `docker.io/calico` for `calico`, `docker.io/calico`, `index.docker.io/calico`. */
function canonicalPrefix(prefix: string): string {
  const probe = normalizeImageReference(joinImageReference(prefix.replace(/\/+$/, ''), 'x', 't'));
  return probe.slice(0, -'/x:t'.length);
}

/** True when `image` lives under one of the repository prefixes (compared in canonical form). */
export function imageAllowed(image: string, allowed: readonly string[]): boolean {
  let canonical: string;
  try {
    canonical = normalizeImageReference(image);
  } catch {
    return false;
  }
  return allowed.some((prefix) => {
    try {
      const p = canonicalPrefix(prefix);
      return canonical.startsWith(`${p}/`) && !canonical.slice(p.length + 1).includes('/');
    } catch {
      return false;
    }
  });
}

/** The images of a run that are outside the allowed prefixes (empty: all allowed). */
export function imagesNotAllowed(images: readonly string[], allowed: readonly string[]): string[] {
  return images.filter((i) => !imageAllowed(i, allowed));
}

/** The registry a run targets is not the guide's: such a run waits for an approval. */
export function isDefaultRegistry(registry: string): boolean {
  try {
    return canonicalPrefix(registry) === canonicalPrefix(CALICO_DEFAULTS.registry);
  } catch {
    return false;
  }
}
